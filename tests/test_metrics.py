"""Closed-loop metrics against hand-computed worked examples."""

import json
import math

import pytest
import torch

from e2edrive.sim.metrics import (
    ComfortLimits,
    EpisodeResult,
    MetricsAccumulator,
    StepInfractions,
    driving_score,
    summarize,
)


def step(B=1, **kw) -> StepInfractions:
    """A quiet step (no infraction, 1 m progress, no acceleration) with some fields overridden."""

    def vec(v, dtype=torch.float32):
        t = torch.as_tensor(v, dtype=dtype)
        return t.expand(B).clone() if t.dim() == 0 else t

    flags = (
        "collision_vehicle",
        "collision_pedestrian_animal",
        "collision_static",
        "off_road",
        "red_light_run",
    )
    args = {f: vec(kw.pop(f, False), torch.bool) for f in flags}
    args["ttc"] = vec(kw.pop("ttc", math.inf))
    args["progress"] = vec(kw.pop("progress", 1.0))
    for f in ("accel_lon", "accel_lat", "yaw_rate"):
        args[f] = vec(kw.pop(f, 0.0))
    for f in ("jerk_lon", "jerk", "yaw_accel"):
        if f in kw:
            args[f] = vec(kw.pop(f))
    assert not kw, f"unknown fields {kw}"
    return StepInfractions(**args)


def drive(events: list[dict], route_length=100.0, B=1) -> MetricsAccumulator:
    acc = MetricsAccumulator(B, route_length=route_length)
    for e in events:
        acc.update(step(B, **e))
    return acc


def test_worked_example_vehicle_collision_and_red_light():
    # 10 steps of 8 m on a 100 m route: completion 0.8; a vehicle contact lasting 3 steps; one red light.
    events = [dict(progress=8.0) for _ in range(10)]
    for t in (2, 3, 4):
        events[t]["collision_vehicle"] = True
    events[6]["red_light_run"] = True
    r = drive(events).episode_result(0, scenario="traffic_light", seed=3, passed=False)
    assert r.route_completion == pytest.approx(0.8)
    assert r.collisions == {"vehicle": 1, "pedestrian_animal": 0, "static": 0}
    assert r.red_light_runs == 1
    assert r.driving_score == pytest.approx(80 * 0.6 * 0.7)  # 33.6
    assert r.driving_score == pytest.approx(33.6)
    assert (r.scenario, r.seed, r.passed, r.steps, r.progress_m) == (
        "traffic_light",
        3,
        False,
        10,
        pytest.approx(80.0),
    )


def test_collision_lasting_several_steps_counts_once_separate_ones_twice():
    touching = [dict(collision_static=True)] * 5
    assert drive(touching).episode_result(0).collisions["static"] == 1
    two = [dict(collision_pedestrian_animal=True)] * 3 + [{}] + [dict(collision_pedestrian_animal=True)] * 2
    r = drive(two, route_length=6.0).episode_result(0)  # 6 m driven on a 6 m route: completion 1
    assert r.collisions["pedestrian_animal"] == 2
    assert r.driving_score == pytest.approx(100 * 0.5 * 0.5)  # 25 = 100 x 0.25


def test_contact_with_two_classes_at_once_counts_one_event_each():
    r = drive([dict(collision_vehicle=True, collision_static=True)] * 3, route_length=3.0).episode_result(0)
    assert r.collisions == {"vehicle": 1, "pedestrian_animal": 0, "static": 1}
    assert r.driving_score == pytest.approx(100 * 0.6 * 0.65)


def test_off_road_route_metres_are_subtracted_from_route_completion():
    # 10 steps of 10 m on a 100 m route, 2 of them off road: completion 1.0, 20 m off road -> 80.
    events = [dict(progress=10.0) for _ in range(10)]
    events[4]["off_road"] = events[5]["off_road"] = True
    r = drive(events).episode_result(0)
    assert r.route_completion == pytest.approx(1.0)
    assert (r.off_road, r.off_road_fraction, r.off_road_m) == (True, pytest.approx(0.2), pytest.approx(20.0))
    assert r.driving_score == pytest.approx(80.0)
    # Off road and a red light on a half-done route: (0.5 - 0.2) x 0.7 x 100 = 21.
    assert driving_score(0.5, 0.2, 0, 0, 0, 1) == pytest.approx(21.0)
    assert driving_score(0.1, 0.3, 0, 0, 0, 0) == 0.0  # never negative


def test_route_completion_is_clamped_and_score_tensor_form_matches():
    r = drive([dict(progress=30.0)] * 5).episode_result(0)  # 150 m on a 100 m route
    assert r.route_completion == 1.0 and r.driving_score == pytest.approx(100.0)
    s = driving_score(
        torch.tensor([0.8, 1.0]),
        torch.zeros(2),
        torch.tensor([1, 0]),
        torch.tensor([0, 2]),
        torch.tensor([0, 0]),
        torch.tensor([1, 0]),
    )
    assert torch.allclose(s, torch.tensor([33.6, 25.0]))


def test_min_ttc_and_json_round_trip():
    r = drive([dict(ttc=5.0), dict(ttc=1.25), dict(ttc=math.inf)]).episode_result(0)
    assert r.min_ttc == pytest.approx(1.25)
    calm = drive([{}]).episode_result(0)
    assert calm.min_ttc == math.inf
    d = json.loads(calm.to_json())  # strict JSON: no Infinity token
    assert d["min_ttc"] is None and d["collisions"]["vehicle"] == 0
    assert EpisodeResult.from_dict(d) == calm
    with pytest.raises(ValueError, match="lacks fields"):
        EpisodeResult.from_dict({"scenario": "x"})


def test_comfort_lateral_accel_of_5_violates_nuplan_limit():
    r = drive([dict(accel_lat=5.0)] * 3).episode_result(0)
    assert not r.comfortable
    assert r.comfort_violations == {"max_abs_lat_accel": pytest.approx(5.0)}
    assert drive([dict(accel_lat=-4.5, accel_lon=2.0, yaw_rate=0.5)] * 10).episode_result(0).comfortable
    hard_brake = drive([dict(accel_lon=-6.0)] * 3).episode_result(0)
    assert set(hard_brake.comfort_violations) == {"min_lon_accel"}
    assert ComfortLimits().max_abs_lat_accel == 4.89  # nuPlan's value, not a tuned one


def test_jerk_is_estimated_from_accel_as_a_windowed_slope():
    # accel_lon falls 0.5 m/s^2 per 0.1 s: a constant jerk of -5 m/s^3 (> 4.13 limit); |a| slope 5 < 8.37.
    r = drive([dict(accel_lon=-0.5 * k) for k in range(8)]).episode_result(0)
    assert r.comfort_violations == {"max_abs_lon_jerk": pytest.approx(5.0, rel=1e-5)}
    # A jerk given by the world overrides the estimate.
    r = drive([dict(accel_lon=-0.5 * k, jerk_lon=1.0) for k in range(8)]).episode_result(0)
    assert r.comfortable
    # Yaw acceleration from the yaw rate: 0.25 rad/s per step = 2.5 rad/s^2 > 1.93.
    r = drive([dict(yaw_rate=0.25 * k - 0.9) for k in range(7)]).episode_result(0)
    assert r.comfort_violations == {"max_abs_yaw_accel": pytest.approx(2.5, rel=1e-5)}


def test_inactive_envs_freeze_and_reset_clears_only_masked_envs():
    B = 2
    acc = MetricsAccumulator(B, route_length=torch.tensor([10.0, 20.0]))
    acc.update(step(B, collision_vehicle=torch.tensor([True, True]), progress=torch.tensor([2.0, 2.0])))
    acc.update(step(B, collision_vehicle=torch.tensor([False, False])))
    # Env 1 finished: new contacts and progress there must not count.
    acc.update(
        step(B, collision_vehicle=torch.tensor([True, True]), progress=torch.tensor([3.0, 3.0])),
        active=torch.tensor([True, False]),
    )
    r0, r1 = acc.results(scenarios=["a", "b"], seeds=[0, 1], passed=torch.tensor([True, False]))
    assert (r0.collisions["vehicle"], r0.steps, r0.progress_m) == (2, 3, pytest.approx(6.0))
    assert (r1.collisions["vehicle"], r1.steps, r1.progress_m) == (1, 2, pytest.approx(3.0))
    assert r0.route_completion == pytest.approx(0.6) and r1.route_completion == pytest.approx(0.15)
    assert (r0.passed, r1.passed, r1.scenario) == (True, False, "b")
    acc.reset(torch.tensor([False, True]), route_length=50.0)
    r0, r1 = acc.results()
    assert r0.steps == 3 and r0.route_length_m == 10.0
    assert (r1.steps, r1.collisions["vehicle"], r1.route_length_m, r1.min_ttc) == (0, 0, 50.0, math.inf)


def test_bad_input_is_rejected_with_a_clear_message():
    acc = MetricsAccumulator(2, route_length=10.0)
    with pytest.raises(ValueError, match="progress has shape"):
        s = step(2)
        s.progress = torch.zeros(3)
        acc.update(s)
    with pytest.raises(ValueError, match="route_length must be finite and > 0"):
        MetricsAccumulator(2, route_length=torch.tensor([10.0, 0.0]))
    with pytest.raises(ValueError, match="seeds has 1 entries, expected 2"):
        acc.results(seeds=[1])
    with pytest.raises(IndexError):
        acc.episode_result(2)


def _result(scenario, passed, score, rc=1.0, vehicle=0):
    return EpisodeResult(
        scenario=scenario,
        seed=0,
        passed=passed,
        route_completion=rc,
        driving_score=score,
        collisions={"vehicle": vehicle, "pedestrian_animal": 0, "static": 0},
        off_road=False,
        off_road_fraction=0.0,
        off_road_m=0.0,
        red_light_runs=0,
        min_ttc=math.inf,
        comfortable=True,
    )


def test_summary_on_a_hand_made_list():
    results = [
        _result("cut_in", True, 100.0),
        _result("cut_in", False, 60.0, vehicle=1),
        _result("cut_in", True, 80.0, rc=0.8),
        _result("puddle", False, 40.0, rc=0.4),
    ]
    s = summarize(results)
    assert list(s) == ["by_scenario", "pass_rate", "driving_score"]
    cut_in = s["by_scenario"]["cut_in"]
    assert cut_in == {
        "pass_rate": pytest.approx(2 / 3),
        "driving_score": pytest.approx(80.0),
        "collision_rate": pytest.approx(1 / 3),
        "route_completion": pytest.approx(2.8 / 3),
        "episodes": 3,
    }
    assert s["by_scenario"]["puddle"]["pass_rate"] == 0.0 and s["by_scenario"]["puddle"]["episodes"] == 1
    assert s["pass_rate"] == pytest.approx(0.5)
    assert s["driving_score"] == pytest.approx(70.0)
    json.dumps(s, allow_nan=False)
    with pytest.raises(ValueError, match="at least one"):
        summarize([])


def test_update_never_syncs_with_the_host():
    # On the meta device any .item(), bool(tensor) or .cpu() in update() raises: update must be pure
    # tensor ops so that a CUDA rollout never waits on it.
    B = 4
    acc = MetricsAccumulator(B, device="meta")
    for _ in range(9):
        s = step(B)
        acc.update(
            StepInfractions(**{k: (v.to("meta") if v is not None else None) for k, v in vars(s).items()}),
            active=torch.ones(B, dtype=torch.bool, device="meta"),
        )
    assert acc.collisions.device.type == "meta" and acc.peaks.shape == (B, 7)


def test_results_refuse_an_environment_without_route_length():
    acc = MetricsAccumulator(2)
    acc.reset(torch.tensor([True, False]), route_length=10.0)
    assert acc.episode_result(0).route_length_m == 10.0
    with pytest.raises(ValueError, match=r"route_length was never given for environments \[1\]"):
        acc.results()


def test_nan_from_the_world_is_reported_not_averaged():
    acc = drive([{}, dict(accel_lat=math.nan), {}])
    with pytest.raises(ValueError, match=r"NaN or inf reached the metrics of environments \[0\]"):
        acc.episode_result(0)
    s = step(1)  # a step on another device is named, not left to a torch error
    s.ttc = s.ttc.to("meta")
    with pytest.raises(ValueError, match="ttc is on meta"):
        acc.update(s)
