import math

import numpy as np
import pytest
import torch

from e2edrive.core.constants import LightState, Semantic, TurnCommand
from e2edrive.sim.map import (
    IntersectionSpec,
    PuddleSpec,
    RoadSpec,
    build_roadmap,
    drivable_frenet,
    frenet_to_world,
    light_state,
    random_curvature,
    world_to_frenet,
)
from e2edrive.sim.map.nav import nav_goal
from e2edrive.sim.map.raster import build_ground_raster
from e2edrive.sim.map.roadmap import reference_line
from e2edrive.sim.map.spec import MIN_RADIUS, N_REF, REF_DS


def straight_spec(**kw):
    return RoadSpec(kappa=np.zeros(N_REF), **kw)


def test_constant_curvature_is_a_circle():
    R = 50.0
    line = reference_line(np.full(N_REF, 1 / R))
    for i in (40, 100, 150):  # arc lengths 20, 50, 75 m
        L = i * REF_DS
        assert line[i, 0] == pytest.approx(R * math.sin(L / R), abs=1e-6)
        assert line[i, 1] == pytest.approx(R * (1 - math.cos(L / R)), abs=1e-6)
        assert line[i, 2] == pytest.approx(L / R, abs=1e-9)


def test_frenet_round_trip_on_a_curve():
    rng = np.random.default_rng(0)
    rm = build_roadmap([RoadSpec(kappa=random_curvature(rng, 1.0), lanes_fwd=2, lanes_back=2)])
    s = torch.tensor([[20.0, 77.3, 150.2, 240.9]])
    d = torch.tensor([[-1.75, 3.0, -5.2, 0.4]])
    xy, _ = frenet_to_world(rm, s, d)
    s2, d2, _ = world_to_frenet(rm, xy, s + torch.tensor([[3.0, -4.0, 2.0, -1.0]]))
    assert torch.allclose(s2, s, atol=0.02) and torch.allclose(d2, d, atol=0.02)


def test_random_curvature_respects_radius_and_straight_ranges():
    for seed in range(20):
        k = random_curvature(np.random.default_rng(seed), 1.0, straight=[(100.0, 160.0)])
        assert np.abs(k).max() <= 1 / MIN_RADIUS + 1e-12
        grid = np.arange(N_REF) * REF_DS
        assert np.all(k[(grid >= 100) & (grid <= 160)] == 0)
    with pytest.raises(ValueError, match="minimum radius"):
        RoadSpec(kappa=np.full(N_REF, 1 / 30.0))


def test_drivable_area_and_intersection_band():
    rm = build_roadmap([straight_spec(lanes_fwd=2, lanes_back=1, intersections=[IntersectionSpec(s=100.0)])])
    s = torch.tensor([[50.0, 50.0, 50.0, 50.0, 100.0, 100.0, 110.0]])
    d = torch.tensor([[-6.9, -7.1, 3.4, 3.6, 30.0, -30.0, 30.0]])
    got = drivable_frenet(rm, s, d)[0].tolist()
    assert got == [True, False, True, False, True, True, False]


def test_light_cycle_hand_computed():
    it = IntersectionSpec(s=100.0, green=10.0, yellow=3.0, red=8.0, phase=0.0)
    rm = build_roadmap([straight_spec(intersections=[it])] * 5)
    t = torch.tensor([0.0, 9.9, 11.0, 14.0, 21.5])  # cycle 21 s
    route, cross = light_state(rm, t)
    assert route[:, 0].tolist() == [
        LightState.GREEN,
        LightState.GREEN,
        LightState.YELLOW,
        LightState.RED,
        LightState.GREEN,
    ]
    # the crossing road: red during the route's green/yellow, green 1 s into the route's red
    assert cross[:, 0].tolist()[:4] == [LightState.RED, LightState.RED, LightState.RED, LightState.GREEN]


def test_ground_raster_materials():
    spec = straight_spec(
        lanes_fwd=2,
        lanes_back=1,
        intersections=[IntersectionSpec(s=150.0)],
        puddles=[PuddleSpec(60.0, -1.75, 3.0, 1.2)],
    )
    rm = build_roadmap([spec])
    g = build_ground_raster(rm)
    s = torch.tensor([[40.0, 40.0, 40.0, 40.0, 60.0, 150.0 - 3.5 - 5.2, 40.0]])
    d = torch.tensor([[-1.75, 0.1, -7.0 - 1.0, 40.0, -1.75, -2.0, -7.0 + 0.2]])
    xy, _ = frenet_to_world(rm, s, d)
    mat = g.lookup(xy)[0].tolist()
    assert mat == [
        Semantic.ROAD,
        Semantic.CENTER_LINE,
        Semantic.KERB,
        Semantic.GRASS,
        Semantic.PUDDLE,
        Semantic.STOP_LINE,
        Semantic.LANE_MARKING,
    ]


def test_nav_goal_on_a_straight_lane():
    rm = build_roadmap([straight_spec()])
    ego_s = torch.tensor([30.0])
    xy, yaw = frenet_to_world(rm, ego_s, torch.tensor([-1.75]))
    pose = torch.cat([xy, yaw[:, None]], -1)
    nav = nav_goal(rm, pose, ego_s, torch.tensor([-1.75]))
    expect = torch.stack([torch.arange(1, 11) * 5.0, torch.zeros(10)], -1)
    assert torch.allclose(nav.route_points[0], expect, atol=1e-4)
    assert nav.dist_to_turn.item() == 200.0


# ---- junctions where the route turns --------------------------------------------------------


def turn_spec(turn, radius, s=120.0, **kw):
    from e2edrive.sim.map import IntersectionSpec

    return straight_spec(intersections=[IntersectionSpec(s=s, turn=turn, turn_radius=radius, **kw)])


def test_right_turn_lane_centreline_is_the_hand_computed_arc():
    # approach along +x, junction centre (120, 0), reference radius 10 m: the arc starts at
    # s = 110, turning about O = (110, -10); the ego lane (d = -1.75) runs on the 8.25 m circle
    rm = build_roadmap([turn_spec(TurnCommand.RIGHT, 10.0)])
    assert rm.inter_center[0, 0].tolist() == pytest.approx([120.0, 0.0, 0.0], abs=1e-4)
    phi = torch.tensor([0.0, 0.3, math.pi / 4, 1.2])
    xy, yaw = frenet_to_world(rm, (110.0 + 10.0 * phi)[None], torch.full((1, 4), -1.75))
    expect = torch.stack([110.0 + 8.25 * torch.sin(phi), -10.0 + 8.25 * torch.cos(phi)], -1)
    assert torch.allclose(xy[0], expect, atol=5e-3)
    assert torch.allclose(yaw[0], -phi, atol=1e-3)
    # past the arc the lane runs down the crossing road's right-hand lane, x = 120 - 1.75, heading -y
    s_exit = 110.0 + math.pi / 2 * 10.0
    xy, yaw = frenet_to_world(rm, torch.tensor([[s_exit + 15.0]]), torch.tensor([[-1.75]]))
    assert xy[0, 0].tolist() == pytest.approx([118.25, -25.0], abs=5e-3)
    assert yaw.item() == pytest.approx(-math.pi / 2, abs=1e-4)


def test_left_turn_lane_centreline_is_the_hand_computed_arc():
    # reference radius 14 m from s = 106 about O = (106, 14); the ego lane is outside: 15.75 m
    rm = build_roadmap([turn_spec(TurnCommand.LEFT, 14.0)])
    phi = torch.tensor([0.2, 0.8, 1.5])
    xy, _ = frenet_to_world(rm, (106.0 + 14.0 * phi)[None], torch.full((1, 3), -1.75))
    expect = torch.stack([106.0 + 15.75 * torch.sin(phi), 14.0 - 15.75 * torch.cos(phi)], -1)
    assert torch.allclose(xy[0], expect, atol=5e-3)
    s_exit = 106.0 + math.pi / 2 * 14.0
    xy, _ = frenet_to_world(rm, torch.tensor([[s_exit + 10.0]]), torch.tensor([[-1.75]]))
    assert xy[0, 0].tolist() == pytest.approx([121.75, 24.0], abs=5e-3)


def test_nav_goal_follows_the_turn():
    rm = build_roadmap([turn_spec(TurnCommand.RIGHT, 10.0)])
    ego_s = torch.tensor([100.0])
    pose = torch.tensor([[100.0, -1.75, 0.0]])
    nav = nav_goal(rm, pose, ego_s, torch.tensor([-1.75]))
    assert nav.turn_command.item() == TurnCommand.RIGHT
    assert nav.dist_to_turn.item() == pytest.approx(10.0)  # to the arc's start at s = 110
    s = 100.0 + 5.0 * torch.arange(1, 11)
    phi = ((s - 110.0) / 10.0).clamp(0, math.pi / 2)
    on_arc = torch.stack([110.0 + 8.25 * torch.sin(phi), -10.0 + 8.25 * torch.cos(phi)], -1)
    past = s - (110.0 + math.pi / 2 * 10.0)
    on_exit = torch.stack([torch.full_like(s, 118.25), -10.0 - past], -1)
    world = torch.where(
        (past > 0)[:, None],
        on_exit,
        torch.where((s < 110)[:, None], torch.stack([s, torch.full_like(s, -1.75)], -1), on_arc),
    )
    expect = world - torch.tensor([100.0, -1.75])
    assert torch.allclose(nav.route_points[0], expect, atol=2e-2)
    # the command holds through the arc, then the route is straight again
    nav = nav_goal(rm, pose, torch.tensor([118.0]), torch.tensor([-1.75]))
    assert nav.turn_command.item() == TurnCommand.RIGHT and nav.dist_to_turn.item() == 0.0
    nav = nav_goal(rm, pose, torch.tensor([130.0]), torch.tensor([-1.75]))
    assert nav.turn_command.item() == TurnCommand.STRAIGHT and nav.dist_to_turn.item() == 200.0


def test_turning_junction_drivable_area_and_raster():
    from e2edrive.sim.map import drivable_world

    rm = build_roadmap([turn_spec(TurnCommand.RIGHT, 10.0)])
    diag = math.sqrt(0.5)
    pts = torch.tensor(
        [
            [120.0, 0.0],  # junction centre
            [150.0, 1.5],  # the arm straight ahead
            [119.0, 40.0],  # the crossing road's far (left) arm
            [118.0, -30.0],  # the exit: the route after the turn
            [110.0 + 5.0 * diag, -10.0 + 5.0 * diag],  # inside corner kerb (5 m from the turn centre)
            [110.0 + 7.0 * diag, -10.0 + 7.0 * diag],  # inside corner road (the fillet, 7 m)
            # the corner between the two arms off the route is rounded (kerb radius 7 m about
            # (130.5, 10.5)): kerb 5.66 m from that centre, road 8.49 m from it
            [126.5, 6.5],
            [124.5, -4.5],  # corner kerb left of the exit
            [124.5, 4.5],
        ]
    )[None]
    s_guess = torch.tensor([[120.0, 120.0, 120.0, 145.0, 115.0, 115.0, 120.0, 125.0, 120.0]])
    got = drivable_world(rm, pts, s_guess)[0].tolist()
    assert got == [True, True, True, True, False, True, False, False, True]
    mat = build_ground_raster(rm).lookup(pts)[0].tolist()
    assert mat[4] == Semantic.KERB and mat[6] == Semantic.KERB and mat[7] == Semantic.KERB
    assert all(m in (Semantic.ROAD, Semantic.CENTER_LINE) for m in (mat[0], mat[5], mat[8]))


def test_t_junction_has_no_missing_arm():
    from e2edrive.sim.map import drivable_world

    # straight through a T whose left arm is missing: the right arm exists, the left is grass
    rm = build_roadmap([turn_spec(TurnCommand.STRAIGHT, 0.0, missing_arm=TurnCommand.LEFT)])
    pts = torch.tensor([[[119.0, -30.0], [119.0, 30.0], [150.0, -1.75]]])
    got = drivable_world(rm, pts, torch.full((1, 3), 120.0)).tolist()[0]
    assert got == [True, False, True]


def test_undrivable_turns_are_refused():
    with pytest.raises(ValueError, match="tighter than the car can drive"):
        turn_spec(TurnCommand.RIGHT, 5.5)  # its lane on a 3.75 m circle, the car needs 4.2 m
    with pytest.raises(ValueError, match="as many lanes"):
        turn_spec(TurnCommand.LEFT, 14.0, cross_lanes=2)
    with pytest.raises(ValueError, match="missing arm"):
        turn_spec(TurnCommand.LEFT, 14.0, missing_arm=TurnCommand.LEFT)


def test_junction_lights_stand_at_each_arm_and_a_t_has_three():
    from e2edrive.sim.map.nav import light_poses

    # right turn, reference radius 10 m, junction centre (120, 0): the route's approach light
    # stands where the turn starts (10 m + 1 m out along the approach), on its right kerb
    # (half width 3.5 + 0.6 m shoulder), facing back down the approach; a T lacking the arm ahead
    rm = build_roadmap([turn_spec(TurnCommand.RIGHT, 10.0, missing_arm=TurnCommand.STRAIGHT)])
    pos, yaw, approach, valid = light_poses(rm)
    assert pos[0, 0, :2].tolist() == pytest.approx([109.0, -4.1], abs=1e-3)
    assert yaw[0, 0].item() == pytest.approx(math.pi, abs=1e-4)
    # the arm to the left (+y): its light 3.5 + 1 m up it, on its incoming lane's kerb (x < 120)
    assert pos[0, 2, :2].tolist() == pytest.approx([120.0 - 4.1, 4.5], abs=1e-3)
    assert valid[0].tolist() == [True, False, True, True]
    assert approach.tolist() == [0, 1, 2, 3]
