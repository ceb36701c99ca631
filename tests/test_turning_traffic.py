"""Cross traffic that turns (sim/actors/paths.py, turning.py, scenarios/junctions.py), on worked
examples. A car comes along the line y = -1.75 heading +x (its lane, half a lane right of a road
along the x axis) towards a junction centred at (50, 0): its line's origin is 50 m before it.

Right turn, lane radius 8.75 m (the rounded corner's kerb, 7 m, plus half a lane): the arc is
tangent to its lane and to the exit lane x = 48.25 heading -y, so it starts at x = 50 - 1.75 -
8.75 = 39.5 about the centre (39.5, -10.5) and ends at (48.25, -10.5); at its midpoint the car
is at (39.5 + 8.75 cos 45, -10.5 + 8.75 sin 45) = (45.687, -4.313) heading -45 degrees.

Left turn, lane radius 12 m: from its lane into the exit lane x = 51.75 heading +y; it starts
at x = 50 + 1.75 - 12 = 39.75 about the centre (39.75, 10.25). Its box (4.6 x 1.85 m) waits
where its front-left corner comes within 0.3 m of the oncoming lane (y = 0): 12 (1 - cos th) +
2.3 sin th + 0.925 cos th = 1.45 at th = 0.1645, 1.974 m into the arc.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from e2edrive.core.constants import LightState, ObjectClass, TurnCommand
from e2edrive.sim.actors import (
    ActorSpec,
    Behavior,
    EgoFrenet,
    SpinState,
    actor_world_poses,
    pack_actors,
    step_actors,
)
from e2edrive.sim.actors.paths import path_frame, path_pose
from e2edrive.sim.actors.turning import COMMITTED, left_turn_yield
from e2edrive.sim.collision import box_corners, obb_overlap
from e2edrive.sim.map import RoadSpec, build_roadmap
from e2edrive.sim.map.spec import N_REF
from e2edrive.sim.scenarios.junctions import CROSS_LEFT_RADIUS, CROSS_RIGHT_RADIUS, turn_path

CAR = (4.6, 1.85, 1.5)
LEFT, RIGHT = int(TurnCommand.LEFT), int(TurnCommand.RIGHT)


def car(s: float, speed: float, line=(0.0, -1.75, 0.0), turn: int | None = None) -> ActorSpec:
    spec = ActorSpec(
        ObjectClass.VEHICLE, Behavior.VEHICLE, s=s, d=0.0, size=CAR, speed=speed, v_desired=speed, line=line
    )
    if turn is not None:
        spec = turn_path(spec, 50.0, turn, CROSS_LEFT_RADIUS if turn == LEFT else CROSS_RIGHT_RADIUS)
    return spec


def poses(rm, a) -> tuple[torch.Tensor, torch.Tensor]:
    return actor_world_poses(a, rm, SpinState.empty(torch.full((1,), -1)), has_lines=True)


def test_turn_paths_are_hand_computed():
    right, left = car(0.0, 5.0, turn=RIGHT), car(0.0, 5.0, turn=LEFT)
    assert (right.turn_s0, right.turn_kappa) == pytest.approx((39.5, -1 / 8.75))
    assert (left.turn_s0, left.turn_kappa) == pytest.approx((39.75, 1 / 12.0))
    assert right.line_end == pytest.approx(39.5 + math.pi / 2 * 8.75 + 60.0 - 10.5)  # 60 m out on the exit


def test_a_right_turner_follows_its_arc():
    """At the arc's midpoint: (45.687, -4.313), heading -45 degrees, moving along it; past the
    arc's end: on the exit lane x = 48.25, heading the exit road's -90 degrees."""
    rm = build_roadmap([RoadSpec(kappa=np.zeros(N_REF))])
    quarter = math.pi / 2 * 8.75
    specs = [car(39.5 + quarter / 2, 5.0, turn=RIGHT), car(39.5 + quarter + 10.0, 5.0, turn=RIGHT)]
    pose, vel = poses(rm, pack_actors([specs], "cpu", 8))
    assert pose[0, 0].tolist() == pytest.approx(
        [39.5 + 8.75 / 2**0.5, -10.5 + 8.75 / 2**0.5, -math.pi / 4], abs=1e-4
    )
    assert vel[0, 0].tolist() == pytest.approx([5.0 / 2**0.5, -5.0 / 2**0.5], abs=1e-4)
    assert pose[0, 1].tolist() == pytest.approx([48.25, -20.5, -math.pi / 2], abs=1e-4)


def test_the_path_frame_inverts_the_path():
    """Points 0.7 m left of a left turn's path, before, on and after its arc, come back as
    (u, 0.7) with the path's heading there."""
    line = [torch.tensor(v) for v in (0.0, -1.75, 0.0, 39.75, 1 / 12.0)]
    s = torch.tensor([20.0, 39.75 + 5.0, 39.75 + 6 * math.pi + 8.0])
    p = path_pose(*line, s)
    x, y = p[:, 0] - 0.7 * torch.sin(p[:, 2]), p[:, 1] + 0.7 * torch.cos(p[:, 2])
    u, e, head = path_frame(x, y, *line)
    assert u.tolist() == pytest.approx(s.tolist(), abs=1e-4)
    assert e.tolist() == pytest.approx([0.7] * 3, abs=1e-4)
    assert head.tolist() == pytest.approx([0.0, 5.0 / 12.0, math.pi / 2], abs=1e-4)
    assert p[-1, :2].tolist() == pytest.approx([51.75, 10.25 + 8.0], abs=1e-4)  # on the exit lane


def test_left_turn_waiting_point_is_hand_computed():
    """sigma_y = 12 th = 1.974; the corner is then 11.075 sin th + 2.3 cos th = 4.083 m along the
    line: the stretch starts 1 m before it and ends past the exit lane, 12 + 0.925 + 1 m."""
    sigma, lo, hi = left_turn_yield(12.0, 3.5, 4.6, 1.85)
    assert sigma == pytest.approx(1.974, abs=0.02)
    assert lo == pytest.approx(3.083, abs=0.02)
    assert hi == pytest.approx(13.925, abs=1e-6)


def drive(specs: list[ActorSpec], steps: int):
    """Step the actors alone (the ego far away, lights green); yields (t, actors, poses)."""
    rm = build_roadmap([RoadSpec(kappa=np.zeros(N_REF))])
    a = pack_actors([specs], "cpu", 8)
    ego = EgoFrenet(
        s=torch.tensor([-400.0]),
        d=torch.tensor([-1.75]),
        s_dot=torch.zeros(1),
        front_s=torch.tensor([-397.7]),
        rear_s=torch.tensor([-402.3]),
        box=torch.tensor([[-400.0, -300.0, 0.0]]),
    )
    green = torch.full((1, rm.inter_s.shape[1]), int(LightState.GREEN))
    spin, t = SpinState.empty(torch.full((1,), -1)), torch.zeros(1)
    for _ in range(steps):
        pose = poses(rm, a)[0]
        a, spin = step_actors(
            a, spin, rm, ego, t, green, torch.zeros(1, 0, 4), torch.zeros(1, 0, dtype=torch.bool),
            False, 0.1, green, True, pose, True,
        )  # fmt: skip
        t = t + 0.1
        yield float(t), a, poses(rm, a)[0]


def test_a_left_turner_waits_for_the_oncoming_cars_then_goes():
    """The turner (8 m/s, 40 m from its arc) would reach its waiting point (39.75 + 1.974) in
    about 5 s. Two oncoming cars at 10 m/s in the lane y = 1.75, 2.5 s apart, start at x = 120
    and 145: each is within the 5 s gap of the stretch's far end (53.675) until it has cleared the
    stretch (its rear past 39.75 + 3.083), the second at t = (145 + 2.3 - 42.833) / 10 = 10.45 s.
    The turner all but stops at its waiting point, waits until then, then turns."""
    yield_s = 39.75 + left_turn_yield(12.0, 3.5, 4.6, 1.85)[0]
    oncoming = [car(s, 10.0, line=(150.0, 1.75, math.pi)) for s in (30.0, 5.0)]
    stopped, went, overlap = None, None, False
    for t, a, pose in drive([car(0.0, 8.0, turn=LEFT), *oncoming], 200):
        s, v = a.s[0, 0].item(), a.speed[0, 0].item()
        if t < 10.4:
            assert s < yield_s + COMMITTED
        if stopped is None and v < 0.5:  # the IDM creeps up to its stop point
            stopped = (t, s)
        if went is None and s > yield_s + COMMITTED:
            went = t
        size = a.size[0, :, :2]
        overlap |= bool(obb_overlap(pose[0, :1], size[:1], pose[0, 1:3], size[1:3]).any())
    assert stopped is not None and stopped[0] < 10.4 and abs(stopped[1] - yield_s) < 1.0
    assert went is not None and 10.45 < went < 14.0
    assert not overlap
    assert pose[0, 0, 2].item() == pytest.approx(math.pi / 2, abs=1e-4)  # on the exit road
    assert pose[0, 0, 0].item() == pytest.approx(51.75, abs=1e-4)


def test_a_left_turner_without_oncoming_traffic_does_not_stop():
    for _, a, _ in drive([car(20.0, 8.0, turn=LEFT)], 80):
        assert a.speed[0, 0].item() > 3.0  # it slows for the arc (sqrt(2.5 * 12) = 5.5 m/s) only


def turning_seeds(name: str, n: int) -> list[int]:
    """The first n seeds of a scenario whose episode has cross traffic that turns."""
    from e2edrive.sim.scenarios import get_scenario

    scenario = get_scenario(name)
    seeds = (seed for seed in range(1000) if any(a.turn_kappa != 0 for a in scenario.sample(seed).actors))
    return [next(seeds) for _ in range(n)]


def test_turning_cross_traffic_stays_on_the_road():
    """traffic_light_turn: every corner of every turning car's box, every step, is on a junction
    arm, the box or the rounded corner between the arms."""
    from e2edrive.sim.map.roadmap import on_arms
    from e2edrive.sim.world import World

    seeds = turning_seeds("traffic_light_turn", 24)
    world = World(["traffic_light_turn"] * len(seeds), seeds)
    a = world.actors
    turners = a.valid & a.on_line & torch.isfinite(a.turn_s0)
    assert int((turners & (a.turn_kappa > 0)).sum()) >= 3 and int((turners & (a.turn_kappa < 0)).sum()) >= 3
    with torch.no_grad():
        for _ in range(300):
            world.step(world.expert().action)
            live = turners & world.actors.valid
            corners = box_corners(world.actor_pose, world.actors.size[..., :2])  # (B, N, 4, 2)
            on = on_arms(world.rmap, corners.flatten(1, 2)).view(corners.shape[:3])
            assert bool(on.all(-1)[live].all())
    past = turners & (world.actors.s > world.actors.turn_s0 + math.pi / 2 / world.actors.turn_kappa.abs())
    assert int((past | (turners & ~world.actors.valid)).sum()) >= 3  # some made it through


def test_an_arms_kerb_follows_the_rounded_corner():
    """A route turning left at a 4-way: the arms off it are straight ahead and to the right, and
    their corner is rounded (kerb radius 7 m from the box corner at 3.5 m). Across the straight
    arm, 6 m out, the right kerb is 7 - sqrt(49 - (6 - 3.5 - 7)^2) = 1.638 m further out."""
    from e2edrive.sim.map import IntersectionSpec
    from e2edrive.sim.scenarios.junctions import arm_kerb

    it = IntersectionSpec(s=100.0, turn=LEFT, turn_radius=14.0)
    assert arm_kerb(it, int(TurnCommand.STRAIGHT), 6.0) == pytest.approx((-5.138, 3.5), abs=1e-3)
    assert arm_kerb(it, RIGHT, 6.0) == pytest.approx((-3.5, 5.138), abs=1e-3)  # its left side
    assert arm_kerb(it, RIGHT, 12.0) == pytest.approx((-3.5, 3.5))  # past the corner


def test_pedestrians_on_the_arms_walk_on_their_green_and_cars_wait_for_them():
    """traffic_light_turn: pedestrians on the straight arm's crosswalk (off the route when it
    turns) set off only on the crossing road's green; no car's box ever touches a pedestrian's."""
    from e2edrive.sim.world import World

    seeds = list(range(40))
    world = World(["traffic_light_turn"] * len(seeds), seeds)
    a = world.actors
    walkers = a.valid & a.on_line & (a.cls == int(ObjectClass.PEDESTRIAN))
    assert int(walkers.sum()) >= 5
    set_off = 0
    with torch.no_grad():
        for _ in range(400):
            green = world.cross_light[:, :1] == int(LightState.GREEN)
            waiting = walkers & (world.actors.d == world.actors.d_home)
            world.step(world.expert().action)
            a, pose = world.actors, world.actor_pose
            started = waiting & (a.d != a.d_home)
            assert bool(green.expand_as(started)[started].all())
            set_off += int(started.sum())
            size = a.size[..., :2]
            hit = obb_overlap(pose[:, :, None], size[:, :, None], pose[:, None], size[:, None])
            car = a.valid & (a.cls == int(ObjectClass.VEHICLE))
            ped = a.valid & (a.cls == int(ObjectClass.PEDESTRIAN))
            assert not bool((hit & car[:, :, None] & ped[:, None]).any())
    assert set_off >= 3


def test_a_turning_episode_is_the_same_alone_and_in_a_batch():
    """Same seed, same episode: a junction episode with turning cross traffic steps the same
    alone and beside episodes without any (which then take the batch's turning code paths)."""
    from e2edrive.sim.world import World

    seed = turning_seeds("traffic_light_turn", 1)[0]
    alone = World(["traffic_light_turn"], [seed])
    batch = World(["lane_follow", "traffic_light_turn", "red_light_runner"], [0, seed, 0])
    plain = World(["lane_follow", "red_light_runner"], [0, 0])
    with torch.no_grad():
        for _ in range(250):
            for w in (alone, batch, plain):
                w.step(w.expert().action)
    n = alone.actor_pose.shape[1]
    assert torch.equal(alone.actor_pose[0], batch.actor_pose[1, :n])
    assert torch.equal(alone.ego.pose()[0], batch.ego.pose()[1])
    assert torch.equal(plain.ego.pose(), batch.ego.pose()[[0, 2]])
