"""Urban junctions: the expert follows routes that turn, the scenarios' pass rules on worked
examples, and the suites that list them."""

from __future__ import annotations

import pytest
import torch

from e2edrive.core.constants import TurnCommand
from e2edrive.sim.world import World


def drive(names: list[str], seeds: list[int]) -> World:
    world = World(names, seeds)
    with torch.no_grad():
        while not bool(world.done.all()):
            world.step(world.expert().action)
    return world


def test_expert_turns_left_and_right_without_leaving_the_road():
    seeds = list(range(40))
    world = drive(["traffic_light_turn"] * len(seeds), seeds)
    turns = [spec.info["turn"] for spec in world.specs]
    assert turns.count(TurnCommand.LEFT) >= 8 and turns.count(TurnCommand.RIGHT) >= 8
    recs = world.episode_records()
    assert not any(r.off_road for r in recs), [s for s, r in zip(seeds, recs) if r.off_road]
    assert not any(r.collided for r in recs)
    assert all(r.route_done for r in recs)
    assert all(res.passed for res in world.episode_results())


def test_nav_command_matches_the_route_turn():
    seeds = list(range(30))
    world = World(["traffic_light_turn"] * len(seeds), seeds)
    cmd = world.observation().nav.turn_command.tolist()
    assert cmd == [spec.info["turn"] for spec in world.specs]
    assert set(cmd) == {0, 1, 2}


@pytest.mark.parametrize("name", ["nope", "urbn"])
def test_unknown_suite_lists_the_valid_ones(name):
    from e2edrive.eval.suites import suite_scenarios

    with pytest.raises(KeyError, match="urban"):
        suite_scenarios(name)


# ---- pass rules on worked examples (pure functions of the record) -----------------------------


def record(**kw):
    from e2edrive.sim.scenarios import EpisodeRecord

    base = dict(
        collided=False,
        at_fault=False,
        route_done=True,
        route_completion=1.0,
        off_road=False,
        red_light_runs=0,
        min_gap=10.0,
        spin_braked=False,
        spin_impact=False,
        puddle_touched=False,
        puddle_max_speed=0.0,
        chicken_violation=False,
        ped_violation=False,
        steps=300,
    )
    base.update(kw)
    return EpisodeRecord(**base)


@pytest.mark.parametrize(
    "name, fails",
    [
        ("turn_left_unprotected", dict(gap_violation=True)),  # turned in front of a car < 2 s away
        ("turn_left_unprotected", dict(route_done=False)),  # waited forever
        ("turn_right_crosswalk", dict(crosswalk_violation=True)),  # on the crosswalk with a walker on it
        ("red_light_runner", dict(gap_violation=True)),  # went on green into the runner's path
        ("red_light_runner", dict(collided=True, at_fault=False)),
        ("construction_zone", dict(collided=True)),  # a cone is a static collision
        ("occluded_pedestrian", dict(parked_max_speed=9.0)),  # too fast beside the parked cars
        ("traffic_light_turn", dict(off_road=True)),  # cut the corner over the kerb
    ],
)
def test_pass_rules(name, fails):
    from e2edrive.sim.scenarios import get_scenario

    sc = get_scenario(name)
    spec = sc.sample(0)
    assert sc.passed(spec, record(parked_max_speed=5.5))
    assert not sc.passed(spec, record(**{"parked_max_speed": 5.5, **fails}))


def test_cross_traffic_queues_at_red_and_the_stream_drives_through():
    """turn_left_unprotected keeps the route green: the crossing road stays red, so its cars
    queue behind their stop lines, while the oncoming stream (route light) drives through."""
    seeds = list(range(12))
    world = World(["turn_left_unprotected"] * len(seeds), seeds)
    a = world.actors
    queued = a.valid & a.on_line & (a.light_group == 1)
    stream = a.valid & a.on_line & (a.light_group == 0)
    assert bool(queued.any()) and bool(stream.any())
    stream_s0 = a.s.clone()
    with torch.no_grad():
        for _ in range(150):
            world.step(world.expert().action)
            a = world.actors
            front = a.s + a.size[..., 0] / 2
            assert bool((front[queued] <= a.stop_at[queued] + 0.5).all())
    assert bool((a.speed[queued] < 0.1).all())  # all stopped, in a queue (no overlaps: no crashes)
    assert not bool(a.crashed[queued].any())
    moved = (a.s - stream_s0)[stream & a.valid]
    assert bool((moved > 30.0).all())


def test_conflict_zone_of_a_crossing_lane_is_hand_computed():
    """Straight route through a 4-way at s = 100 (ego lane y = -1.75); a car comes down the left
    arm in its lane x = 98.25, heading -y, on a line starting at (98.25, 60). The ego's box (its
    centre 1.45 m ahead of the rear axle, 4.7 m long across that lane) nears the car's lane band
    (half its 1.85 m width + 0.8 m margin) while |s + 1.45 - 98.25| < 0.925 + 2.35 + 0.8: rear
    axle s in (92.73, 100.88), sampled every 0.5 m and widened by a sample: [92.5, 101.0]. On the
    car's line the ego's box covers u = 61.75 +- (0.95 + 0.8)."""
    import math

    import numpy as np

    from e2edrive.core.constants import ObjectClass
    from e2edrive.sim.actors import ActorSpec, Behavior, pack_actors
    from e2edrive.sim.junction import conflict_zones
    from e2edrive.sim.map import IntersectionSpec, RoadSpec, build_roadmap
    from e2edrive.sim.map.spec import N_REF

    rm = build_roadmap([RoadSpec(kappa=np.zeros(N_REF), intersections=[IntersectionSpec(s=100.0)])])
    car = ActorSpec(
        ObjectClass.VEHICLE,
        Behavior.VEHICLE,
        s=20.0,
        d=0.0,
        size=(4.6, 1.85, 1.5),
        line=(98.25, 60.0, -math.pi / 2),
    )
    parked = ActorSpec(ObjectClass.VEHICLE, Behavior.STATIC, s=50.0, d=5.0, size=(4.6, 1.85, 1.5))
    zone = conflict_zones(rm, torch.tensor([-1.75]), pack_actors([[car, parked]], "cpu", 8))
    assert zone[0, 0].tolist() == pytest.approx([92.5, 101.0, 60.0, 63.5], abs=1e-3)
    assert bool(torch.isinf(zone[0, 1]).all())  # route actors have none


def test_crosswalk_pedestrians_set_off_on_their_own_green():
    from e2edrive.core.constants import LightState, ObjectClass

    seeds = list(range(24))
    world = World(["traffic_light_turn"] * len(seeds), seeds)
    a = world.actors
    walkers = a.valid & (a.cls == int(ObjectClass.PEDESTRIAN)) & (a.walk_light >= 0)
    assert int(walkers.sum()) >= 10
    set_off_seen = 0
    with torch.no_grad():
        for _ in range(300):
            light = torch.where(
                world.actors.walk_light == 0, world.route_light[:, :1], world.cross_light[:, :1]
            )  # the lights the step's walkers read
            waiting = walkers & (world.actors.d == world.actors.d_home)
            world.step(world.expert().action)
            started = waiting & (world.actors.d != world.actors.d_home)
            assert bool((light[started] == int(LightState.GREEN)).all())
            set_off_seen += int(started.sum())
    assert set_off_seen >= 5


def test_a_junction_episode_streamed_into_a_used_slot_matches_a_fresh_one():
    """reset_envs brings cross traffic, conflict zones and junction arms into a world that had
    none: the episode drives as it does in a world of its own."""
    fresh = World(["turn_left_unprotected", "turn_right_crosswalk"], [5, 6])
    used = World(["lane_follow", "cut_in"], [0, 1])
    with torch.no_grad():
        for _ in range(20):
            used.step(used.expert().action)
        used.reset_envs([0, 1], [("turn_left_unprotected", 5), ("turn_right_crosswalk", 6)])
        for _ in range(250):
            fresh.step(fresh.expert().action)
            used.step(used.expert().action)
    torch.testing.assert_close(used.ego.pose(), fresh.ego.pose(), atol=1e-3, rtol=0)
    assert [r.passed for r in used.episode_results()] == [r.passed for r in fresh.episode_results()]


@pytest.mark.parametrize("name", ["traffic_light_turn", "red_light_runner"])
def test_route_and_line_traffic_never_overlap(name):
    """Cars on the route and on world lines do not see each other: the scenarios keep them on
    different greens, in different lanes, or apart in time. No pair of boxes (one on the route,
    one on a line, at least one a vehicle) may overlap in the world."""
    from e2edrive.core.constants import ObjectClass
    from e2edrive.sim.collision import obb_overlap

    seeds = list(range(40))
    world = World([name] * len(seeds), seeds)
    with torch.no_grad():
        while not bool(world.done.all()):
            world.step(world.expert().action)
            a, pose = world.actors, world.actor_pose
            size = a.size[..., :2]
            hit = obb_overlap(pose[:, :, None], size[:, :, None], pose[:, None], size[:, None])
            vehicle = a.cls == int(ObjectClass.VEHICLE)
            pair = a.valid[:, :, None] & a.valid[:, None] & (vehicle[:, :, None] | vehicle[:, None])
            mixed = a.on_line[:, :, None] != a.on_line[:, None]
            assert not bool((hit & pair & mixed).any())
