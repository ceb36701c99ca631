import math

import numpy as np
import pytest
import torch

from e2edrive.core.constants import LightState, Semantic
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
