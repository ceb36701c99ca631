import math

import pytest
import torch

from e2edrive.core.constants import DT, MAX_ACCEL, MAX_STEER, ObjectClass
from e2edrive.core.types import Action
from e2edrive.sim.world import World


def drive(world: World, steps: int) -> torch.Tensor:
    """Expert-driven trajectory (steps, B, 3) of ego poses."""
    poses = []
    for _ in range(steps):
        world.step(world.expert().action)
        poses.append(world.ego.pose().clone())
    return torch.stack(poses)


def test_same_episode_is_bit_identical_alone_and_with_other_neighbours():
    a = World(["cut_in", "spinout_ahead"], [3, 4])
    b = World(["spinout_ahead", "geese_standing", "cut_in"], [4, 9, 3])
    ta, tb = drive(a, 60), drive(b, 60)
    assert torch.equal(ta[:, 0], tb[:, 2])  # cut_in 3
    assert torch.equal(ta[:, 1], tb[:, 0])  # spinout_ahead 4 (the car spins during these 6 s)
    assert torch.equal(a.actor_pose[1, :2], b.actor_pose[0, :2])


def test_nan_action_is_an_error_and_out_of_range_is_clipped():
    w = World(["lane_follow"], [0])
    with pytest.raises(ValueError, match="NaN or inf"):
        w.step(Action(torch.tensor([float("nan")]), torch.tensor([0.0])))
    v0 = w.ego.speed.clone()
    w.step(Action(torch.tensor([5.0]), torch.tensor([50.0])))
    # accel clipped to MAX_ACCEL; steering moves at most its rate limit towards the clipped command
    assert w.ego.speed.item() == pytest.approx(v0.item() + MAX_ACCEL * DT, abs=1e-4)
    assert 0 < w.ego.steer.item() <= MAX_STEER
    assert w.last_action[0, 0].item() == pytest.approx(MAX_STEER)


def test_collision_with_debris_ends_the_episode_and_counts_static():
    w = World(["unknown_object"], [0])
    debris_s = w.actors.s[0, 0].item()
    hit = False
    for _ in range(400):  # straight ahead at constant speed, no steering: into the debris
        out = w.step(Action(torch.zeros(1), torch.zeros(1)))
        if out.infractions.collision_static[0]:
            hit = True
            break
    assert w.actors.cls[0, 0].item() == ObjectClass.UNKNOWN
    assert hit and out.terminated[0] and out.done[0]
    assert w.ego_frenet().front_s[0].item() == pytest.approx(debris_s, abs=3.0)
    r = w.episode_result(0)
    assert r.collisions["static"] == 1 and not r.passed


def test_leaving_the_road_is_off_road():
    w = World(["lane_follow"], [1])
    off = False
    for _ in range(100):
        out = w.step(Action(torch.full((1,), -0.3), torch.zeros(1)))  # hard right into the verge
        off |= bool(out.infractions.off_road[0])
        if out.done[0]:
            break
    assert off and out.terminated[0]


def test_reset_envs_touches_only_the_selected_environments():
    w = World(["lane_follow", "follow_lead"], [0, 0])
    for _ in range(10):
        w.step(w.expert().action)
    pose1 = w.ego.pose()[1].clone()
    w.reset_envs([0], [("puddle", 5)])
    assert w.scenarios == ["puddle", "follow_lead"] and w.seeds == [5, 0]
    assert torch.equal(w.ego.pose()[1], pose1)
    fresh = World(["puddle"], [5])
    assert torch.equal(w.ego.pose()[0], fresh.ego.pose()[0])
    assert w.t[0].item() == 0.0 and w.t[1].item() == pytest.approx(1.0)
    assert bool(w.first[0]) and not bool(w.first[1])


def test_observation_and_scene_shapes():
    w = World(["traffic_light", "chickens_crossing"], [0, 1])
    obs = w.observation()
    assert obs.images.shape == (2, 0, 3, w.rig.height, w.rig.width)
    assert obs.nav.route_points.shape == (2, 10, 2) and obs.first.all()
    w.step(w.expert().action)
    sc = w.scene()
    N = w.actors.s.shape[1]
    assert sc.obj_pose.shape == (2, N, 3) and sc.obj_class.shape == (2, N)
    assert sc.light_valid[0].all() and not sc.light_valid[1].any()
    assert sc.ground.material.dtype == torch.uint8 and sc.ground.material.shape[0] == 2
    # odometry: the pose change in the previous ego frame, ~ speed * dt forward
    odom = w.observation().odom
    assert odom[:, 0] == pytest.approx((w.ego.speed * DT).tolist(), abs=0.05)
    assert math.isfinite(float(odom.abs().max()))


def test_reset_envs_grows_the_actor_slots_when_needed():
    from e2edrive.sim.scenarios import get_scenario

    small = next(s for s in range(50) if len(get_scenario("unknown_object").sample(s).actors) <= 8)
    w = World(["unknown_object"], [small])
    n0 = w.actors.s.shape[1]
    big = next(s for s in range(50) if len(get_scenario("puddle").sample(s).actors) > n0)
    w.reset_envs([0], [("puddle", big)])
    fresh = World(["puddle"], [big])
    k = len(fresh.specs[0].actors)
    assert w.actors.s.shape[1] >= k > n0
    assert torch.equal(w.actors.s[0, :k], fresh.actors.s[0, :k]) and not w.actors.valid[0, k:].any()
    w.step(w.expert().action)  # and it still steps
