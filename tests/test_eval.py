"""Closed-loop evaluation: suites, the seed split, drivers, the batched runner, the CLI and the report."""

from __future__ import annotations

import json
import math

import pytest
import torch

from e2edrive.commands.eval import main as eval_main
from e2edrive.core.constants import EGO_WHEELBASE
from e2edrive.eval.drivers import ConstantVelocityDriver, make_driver
from e2edrive.eval.report import DriverEval, write_report
from e2edrive.eval.runner import run_closed_loop
from e2edrive.eval.suites import SUITES, check_disjoint, suite_scenarios
from e2edrive.model.checkpoint import save_checkpoint
from e2edrive.model.ego_mlp import EgoMLP
from e2edrive.sim.metrics import EpisodeResult
from e2edrive.sim.scenarios.registry import SCENARIOS


def test_suites_cover_the_catalog():
    assert SUITES["basic"] == ("lane_follow", "follow_lead", "traffic_light")
    assert len(SUITES["corner"]) == 7 and set(SUITES["all"]) == set(SCENARIOS)
    assert suite_scenarios("cut_in,puddle") == ("cut_in", "puddle")
    assert suite_scenarios("basic,corner") == SUITES["basic"] + SUITES["corner"]
    assert suite_scenarios("basic, lane_follow,cut_in") == SUITES["basic"] + ("cut_in",)  # each once
    with pytest.raises(KeyError, match="unknown suite"):
        suite_scenarios("nope")


def test_overlapping_seeds_are_refused():
    trained = {"lane_follow": [[0, 100]], "cut_in": [[1_000_000, 1_000_001]]}
    check_disjoint(trained, ["lane_follow", "cut_in"], range(1_000_001, 1_000_010))  # disjoint: fine
    with pytest.raises(ValueError, match=r"cut_in: \[1000000\]"):
        check_disjoint(trained, ["lane_follow", "cut_in"], range(1_000_000, 1_000_010))
    check_disjoint(trained, ["follow_lead"], range(0, 10))  # other scenario: other episodes


def test_driver_registry_errors():
    with pytest.raises(KeyError, match="drivers: checkpoint, expert"):
        make_driver("autopilot")
    with pytest.raises(ValueError, match="needs --checkpoint"):
        make_driver("dave2")
    with pytest.raises(ValueError, match="takes no checkpoint"):
        make_driver("expert", checkpoint="runs/x")


class _Obs:
    def __init__(self, speed, yaw_rate, first):
        self.speed, self.yaw_rate, self.first = speed, yaw_rate, first


def test_constant_velocity_holds_speed_and_yaw_rate():
    d = ConstantVelocityDriver(keep_yaw_rate=False)
    d.reset(2, torch.device("cpu"))
    a, _, _ = d.act(_Obs(torch.tensor([10.0, 5.0]), torch.tensor([0.1, 0.0]), torch.tensor([True, True])))
    assert torch.equal(a.steer, torch.zeros(2)) and torch.allclose(a.accel, torch.zeros(2))
    a, _, _ = d.act(_Obs(torch.tensor([9.0, 5.5]), torch.tensor([0.1, 0.0]), torch.tensor([False, False])))
    assert torch.allclose(a.accel, torch.tensor([1.0, -0.5]))  # back to the speed it started with
    turn = ConstantVelocityDriver(keep_yaw_rate=True)
    turn.reset(1, torch.device("cpu"))
    a, _, _ = turn.act(_Obs(torch.tensor([10.0]), torch.tensor([0.2]), torch.tensor([True])))
    assert a.steer.item() == pytest.approx(math.atan(0.2 * EGO_WHEELBASE / 10.0), rel=1e-5)


def test_streamed_slots_give_the_same_results_as_one_episode_at_a_time():
    pairs = [("lane_follow", 1_000_000), ("follow_lead", 1_000_001), ("lane_follow", 1_000_002)]
    # cut at 25 steps: the refill of slots is what is tested, not whole episodes
    one = run_closed_loop(make_driver("constant_velocity"), pairs, num_envs=1, progress=False, max_steps=25)
    two = run_closed_loop(make_driver("constant_velocity"), pairs, num_envs=2, progress=False, max_steps=25)
    assert [(r.scenario, r.seed) for r in two] == pairs
    for a, b in zip(one, two):
        assert a.steps == b.steps <= 25 and a.driving_score == pytest.approx(b.driving_score)
        assert a.collisions == b.collisions


def _ego_checkpoint(tmp_path, train_seeds):
    torch.manual_seed(0)
    return save_checkpoint(
        EgoMLP(), tmp_path / "ego", extra={"train_seeds": train_seeds, "train_config": {"history": 2}}
    )


def test_cli_json_matches_the_drive_schema(capsys):
    code = eval_main(
        [
            "--driver",
            "constant_velocity",
            "--suite",
            "lane_follow",
            "--seeds",
            "1000000:1000002",
            "--json",
            "--no-progress",
        ]
    )
    assert code == 0
    payload = json.loads(capsys.readouterr().out)
    assert [e["seed"] for e in payload["episodes"]] == [1_000_000, 1_000_001]
    assert {"scenario", "seed", "passed", "route_completion", "driving_score", "collisions"} <= set(
        payload["episodes"][0]
    )
    assert set(payload["summary"]) == {"by_scenario", "pass_rate", "driving_score"}
    assert payload["summary"]["by_scenario"]["lane_follow"]["episodes"] == 2


def test_cli_refuses_training_seeds_and_mismatched_checkpoints(tmp_path, capsys):
    ckpt = _ego_checkpoint(tmp_path, {"lane_follow": [[1_000_000, 1_000_005]]})
    code = eval_main(
        ["--checkpoint", str(ckpt), "--suite", "lane_follow", "--seeds", "1000003:1000008", "--no-progress"]
    )
    err = capsys.readouterr().err
    assert code == 2 and "overlap" in err and "1000003" in err
    code = eval_main(
        ["--driver", "dave2", "--checkpoint", str(ckpt), "--seeds", "1000005:1000006", "--no-progress"]
    )
    assert code == 2 and "holds model 'ego_mlp', expected 'dave2'" in capsys.readouterr().err
    assert eval_main(["--checkpoint", str(tmp_path / "missing"), "--no-progress"]) == 2
    assert "no checkpoint" in capsys.readouterr().err


def test_cli_drives_a_checkpoint_and_computes_open_loop_metrics(tmp_path, capsys):
    ckpt = _ego_checkpoint(tmp_path, {"lane_follow": [[0, 10]]})
    code = eval_main(
        [
            "--driver",
            "ego_only",
            "--checkpoint",
            str(ckpt),
            "--suite",
            "lane_follow",
            "--seeds",
            "1000000:1000001",
            "--data",
            "synthetic:8",
            "--json",
            "--no-progress",
        ]
    )
    assert code == 0
    payload = json.loads(capsys.readouterr().out)
    assert payload["open_loop"]["samples"] == 8 and payload["open_loop"]["l2_3s"] is None
    assert payload["episodes"][0]["steps"] > 0


def _result(scenario, seed, passed, score):
    return EpisodeResult(
        scenario,
        seed,
        passed,
        route_completion=score / 100,
        driving_score=score,
        collisions={"vehicle": int(not passed), "pedestrian_animal": 0, "static": 0},
        off_road=False,
        off_road_fraction=0.0,
        off_road_m=0.0,
        red_light_runs=0,
        min_ttc=float("inf"),
        comfortable=True,
        steps=10,
    )


def test_report_has_tables_plots_and_videos(tmp_path):
    a = DriverEval(
        "policy",
        [_result("lane_follow", 1, True, 90.0), _result("follow_lead", 1, False, 30.0)],
        open_loop={"l2_1s": 0.5, "l2_2s": 1.25, "l2_3s": None, "steer_err": 0.01, "accel_err": 0.2},
        videos=[("follow_lead", 1, "videos/policy/follow_lead_1.mp4")],
    )
    b = DriverEval("expert", [_result("lane_follow", 1, True, 100.0), _result("follow_lead", 1, True, 100.0)])
    page = write_report(tmp_path, [a, b]).read_text()
    assert page.count("<svg") == 3  # two bar charts + the open/closed-loop scatter
    assert "<td>60.0</td>" in page  # policy's mean driving score (90 + 30) / 2
    assert "<td>50%</td>" in page and "<td>n/a</td>" in page  # pass rate; L2 at 3 s not available
    assert 'src="videos/policy/follow_lead_1.mp4"' in page
    saved = json.loads((tmp_path / "results.json").read_text())
    assert saved["expert"]["summary"]["driving_score"] == 100.0
    with pytest.raises(ValueError, match="nothing to report"):
        write_report(tmp_path, [])
