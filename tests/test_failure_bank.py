"""Failure bank: append-only storage, crash tolerance, de-duplication, failure types, the initial-
state hash, replay (fixed / stale, deterministic JSON) and the replay / eval --bank CLIs."""

from __future__ import annotations

import json

import pytest

from e2edrive.commands.eval import main as eval_main
from e2edrive.commands.replay import main as replay_main
from e2edrive.data.failure_bank import (
    BankError,
    FailureBank,
    bank_results,
    failure_type,
    init_hash,
    make_entries,
)
from e2edrive.eval.drivers import make_driver
from e2edrive.eval.replay import replay_bank
from e2edrive.sim.metrics import EpisodeResult
from e2edrive.sim.version import SIM_VERSION

# constant velocity hits the debris of this episode; the expert goes around it (< 1 s each)
FAIL_PAIR = ("unknown_object", 1_000_000)


def _result(scenario="cut_in", seed=1, passed=False, **kw) -> EpisodeResult:
    base = dict(
        scenario=scenario,
        seed=seed,
        passed=passed,
        route_completion=1.0,
        driving_score=100.0,
        collisions={"vehicle": 0, "pedestrian_animal": 0, "static": 0},
        off_road=False,
        off_road_fraction=0.0,
        off_road_m=0.0,
        red_light_runs=0,
        min_ttc=float("inf"),
        comfortable=True,
    )
    base.update(kw)
    return EpisodeResult(**base)


def _entries(results, **kw):
    # init_hash builds a world per episode: the small fast ones suffice here
    return make_entries(results, None, "constant_velocity", **kw)


def test_failure_types_from_episode_results():
    coll = {"vehicle": 0, "pedestrian_animal": 0, "static": 0}
    assert failure_type(_result(passed=True, off_road=True)) is None
    assert failure_type(_result(collisions={**coll, "vehicle": 1, "pedestrian_animal": 1})) == (
        "collision_pedestrian_animal"
    )
    assert failure_type(_result(collisions={**coll, "vehicle": 2}, off_road=True)) == "collision_vehicle"
    assert failure_type(_result(collisions={**coll, "static": 1})) == "collision_static"
    assert failure_type(_result(off_road=True, red_light_runs=1)) == "off_road"
    assert failure_type(_result(red_light_runs=1)) == "red_light"
    assert failure_type(_result(route_completion=0.4)) == "timeout_or_stuck"
    assert failure_type(_result()) == "rule"


def test_init_hash_is_stable_and_seed_specific():
    a = init_hash("lane_follow", 7)
    assert a == init_hash("lane_follow", 7)
    assert a != init_hash("lane_follow", 8)
    assert a != init_hash("cut_in", 7)


def test_append_read_round_trip_and_dedup(tmp_path):
    bank = FailureBank(tmp_path / "bank", create=True)
    failed, passed = _result("lane_follow", 3), _result("lane_follow", 4, passed=True)
    first = _entries([failed, passed], include_passed=True)
    assert [e.kind for e in first] == ["failure", "regression"]
    assert first[0].sim_version == SIM_VERSION and first[1].failure_type is None
    bank.append(first)
    again = _entries([failed])[0]
    again.checkpoint, again.checkpoint_hash = "runs/later", "abc"
    bank.append([again])
    assert len(FailureBank(tmp_path / "bank").read_all()) == 3
    kept = FailureBank(tmp_path / "bank").entries()
    assert [(e.seed, e.kind) for e in kept] == [(3, "failure"), (4, "regression")]
    assert kept[0].checkpoint is None and kept[0].last_checkpoint == "runs/later"  # first kept, latest noted
    assert kept[0].result == failed.to_dict() and kept[0].failure_type == "rule"


def test_truncated_last_line_is_skipped_with_a_warning(tmp_path):
    bank = FailureBank(tmp_path, create=True)
    bank.append(_entries([_result("lane_follow", 3)]))
    with open(bank.path, "ab") as f:  # what a crash in the middle of a write leaves
        f.write(b'{"scenario": "lane_follow", "seed": 9, "sim_ver')
    with pytest.warns(UserWarning, match="truncated last line"):
        assert [e.seed for e in bank.entries()] == [3]
    bank.append(_entries([_result("lane_follow", 5)]))  # starts on a fresh line, stays readable
    with pytest.warns(UserWarning, match="unreadable line"):
        assert [e.seed for e in bank.entries()] == [3, 5]


def test_missing_bank_is_refused(tmp_path):
    with pytest.raises(BankError, match="no failure bank"):
        FailureBank(tmp_path / "nope")


def _failure_bank(tmp_path):
    """A bank holding constant velocity's failure on FAIL_PAIR (driven, not hand-made)."""
    from e2edrive.eval.runner import run_closed_loop

    results = run_closed_loop(make_driver("constant_velocity"), [FAIL_PAIR], num_envs=1, progress=False)
    assert not results[0].passed and failure_type(results[0]) == "collision_static"
    bank_dir = tmp_path / "bank"
    assert bank_results(bank_dir, results, None, "constant_velocity") == 1
    return bank_dir


def test_replay_reports_fixed_and_stale_deterministically(tmp_path):
    bank_dir = _failure_bank(tmp_path)
    line = json.loads((bank_dir / "bank.jsonl").read_text())
    line.update(seed=5, sim_version="0")  # banked under an older simulator
    with open(bank_dir / "bank.jsonl", "a") as f:
        f.write(json.dumps(line) + "\n")
    bank = FailureBank(bank_dir)
    reports = [replay_bank(bank, make_driver("expert"), num_envs=2) for _ in range(2)]
    assert reports[0].to_json() == reports[1].to_json()
    entries = {e["seed"]: e for e in reports[0].entries}
    assert entries[FAIL_PAIR[1]]["status"] == "fixed" and entries[FAIL_PAIR[1]]["passed"]
    assert entries[5]["status"] == "stale" and "passed" not in entries[5]  # reported, never driven
    assert reports[0].by_scenario()["unknown_object"]["fixed"] == 1
    assert reports[0].totals()["stale"] == 1


def test_replay_marks_changed_initial_state_stale_and_regressions(tmp_path):
    bank = FailureBank(tmp_path, create=True)
    entries = _entries([_result(*FAIL_PAIR, passed=True)], include_passed=True)
    entries[0].seed = 12  # hash of seed 1,000,000 under seed 12: the episode changed
    bank.append(entries)
    report = replay_bank(bank, make_driver("expert"), num_envs=1, max_steps=5)
    assert report.entries[0]["status"] == "stale" and "init_hash" in report.entries[0]["stale_reason"]
    ok = FailureBank(tmp_path / "ok", create=True)
    ok.append(_entries([_result(*FAIL_PAIR, passed=True)], include_passed=True))
    regressed = replay_bank(ok, make_driver("constant_velocity"), num_envs=1)
    assert regressed.entries[0]["status"] == "regressed"


def test_replay_cli(tmp_path, capsys):
    bank_dir = _failure_bank(tmp_path)
    assert replay_main(["--bank", str(bank_dir), "--driver", "expert", "--json", "--no-progress"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["totals"]["fixed"] == 1 and out["sim_version"] == SIM_VERSION
    assert replay_main(["--bank", str(bank_dir), "--driver", "expert", "--no-progress"]) == 0
    assert "| unknown_object | 1 | 0 | 0 | 0 | 0 |" in capsys.readouterr().out


@pytest.mark.parametrize(
    "argv, message",
    [
        ([], "give --bank DIR"),
        (["--bank", "{tmp}/none", "--driver", "expert"], "no failure bank"),
        (["--bank", "{tmp}/empty", "--driver", "expert"], "is empty"),
        (["--bank", "{tmp}/empty"], "give --checkpoint"),
        (["--bank", "{tmp}/empty", "--checkpoint", "{tmp}/no_run"], "no checkpoint at"),
    ],
)
def test_replay_cli_errors(tmp_path, capsys, argv, message):
    FailureBank(tmp_path / "empty", create=True)
    argv = [a.replace("{tmp}", str(tmp_path)) for a in argv]
    assert replay_main(argv) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1 and "Traceback" not in err


def test_eval_banks_failures_and_passes(tmp_path, capsys):
    bank_dir = tmp_path / "bank"
    argv = ["--driver", "constant_velocity", "--suite", "unknown_object", "--seeds", "1000000:1000002"]
    argv += ["--no-progress", "--json", "--bank", str(bank_dir), "--bank-passed"]
    assert eval_main(argv) == 0
    passed = {e["seed"]: e["passed"] for e in json.loads(capsys.readouterr().out)["episodes"]}
    kinds = {e.seed: e.kind for e in FailureBank(bank_dir).entries()}
    assert kinds == {s: "regression" if p else "failure" for s, p in passed.items()}
    assert eval_main(["--driver", "expert", "--bank-passed"]) == 2
