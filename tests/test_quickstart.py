"""The quickstart main job: its verdict on the goals, and (slow) the whole pipeline on a tiny budget."""

from __future__ import annotations

import json

import pytest

from e2edrive.commands.quickstart import QuickstartArgs, _verdict, run
from e2edrive.eval.report import DriverEval
from e2edrive.sim.metrics import EpisodeResult


def _ev(name: str, score: float) -> DriverEval:
    r = EpisodeResult(
        "lane_follow",
        1_000_000,
        score > 50,
        route_completion=score / 100,
        driving_score=score,
        collisions={"vehicle": 0, "pedestrian_animal": 0, "static": 0},
        off_road=False,
        off_road_fraction=0.0,
        off_road_m=0.0,
        red_light_runs=0,
        min_ttc=float("inf"),
        comfortable=True,
    )
    return DriverEval(name, [r])


def test_verdict_checks_the_three_goals():
    good = {
        "policy": _ev("policy", 85.0),
        "expert": _ev("expert", 90.0),
        "dave2": _ev("dave2", 40.0),
        "ego_only": _ev("ego_only", 30.0),
        "constant_velocity": _ev("constant_velocity", 20.0),
    }
    text = _verdict(good)
    assert "94% (goal >= 90%): met" in text and "beats 3/3" in text
    bad = dict(good, policy=_ev("policy", 35.0))
    text = _verdict(bad)
    assert "NOT met" in text and "beats 2/3 baselines (ego_only, constant_velocity)" in text


def test_verdict_checks_the_corner_goal():
    basic = {"policy": _ev("policy", 85.0), "expert": _ev("expert", 90.0)}

    def corner(passes: dict[str, list[bool]]) -> dict:
        results = []
        for scenario, ok in passes.items():
            for k, p in enumerate(ok):
                r = _ev("policy", 90.0 if p else 10.0).results[0]
                r.scenario, r.seed, r.passed = scenario, k, p
                results.append(r)
        return {"policy": DriverEval("policy (corner)", results)}

    met = _verdict(basic, corner({"cut_in": [True, True], "puddle": [True, False]}))
    assert "corner pass rate 75% (goal >= 50%, none at zero): met" in met
    zero = _verdict(basic, corner({"cut_in": [True, True, True], "puddle": [False]}))
    assert "puddle at zero): NOT met" in zero  # 75 % pooled, but one scenario never passes
    long = _verdict(
        basic, corner({"cut_in": [True, True], "puddle": [True, False]}), 0.95, 0.8
    )  # the long recipe
    assert "94% (goal >= 95%): NOT met" in long and "corner pass rate 75% (goal >= 80%" in long


def test_bad_arguments_are_refused(tmp_path):
    with pytest.raises(ValueError, match="eval-seeds"):
        run(QuickstartArgs(out=str(tmp_path), eval_seeds=0))
    with pytest.raises(KeyError, match="unknown recipe"):
        run(QuickstartArgs(out=str(tmp_path), recipe="nope"))
    with pytest.raises(KeyError, match="unknown suite"):
        run(QuickstartArgs(out=str(tmp_path), train_suite="nope"))


def test_a_disk_too_small_is_refused_before_anything_is_written(tmp_path, monkeypatch, capsys):
    import shutil
    from collections import namedtuple

    from e2edrive.commands.quickstart import main

    usage = namedtuple("usage", "total used free")
    monkeypatch.setattr(shutil, "disk_usage", lambda p: usage(10**12, 10**12 - 10**9, 10**9))  # 1 GB free
    out = tmp_path / "qs"
    assert main(["--out", str(out)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "the quick recipe's data needs about" in err[0] and "1.0 GB free" in err[0]
    assert not (out / "data").exists()  # refused before the first episode


def test_a_disk_filling_up_mid_run_ends_in_one_line(monkeypatch, capsys):
    import errno

    import e2edrive.commands.quickstart as qs

    def full(args):
        raise OSError(errno.ENOSPC, "No space left on device", "runs/quickstart/data/train/shard.bin")

    monkeypatch.setattr(qs, "run", full)
    assert qs.main([]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [
        "e2edrive quickstart: error: no space left on the device writing "
        "runs/quickstart/data/train/shard.bin (finished stages are kept)"
    ]


@pytest.mark.slow  # the whole loop, cut short: ~5-10 min on 2 cores
def test_quickstart_runs_end_to_end_and_resumes(tmp_path):
    args = QuickstartArgs(
        out=str(tmp_path / "qs"), recipe="smoke", num_envs=4, max_episode_steps=30, videos=1, val_seeds=1
    )
    table = run(args)
    assert "basic suite" in table and "policy" in table and "expert" in table and "goals:" in table
    assert "corner pass rate" in table and "failure-bank replay" in table and "recall by distance" in table
    assert "beyond the BEV" not in table  # the far-traffic head is opt-in (DrivingConfig.planner_far)
    assert "the light's colour" in table  # the light head's confusion matrix, per state
    out = tmp_path / "qs"
    assert json.loads((out / "light-eye.json").read_text())["steps"] == 2  # the eye's own stage ran
    assert (out / "report" / "index.html").is_file() and (out / "summary.md").is_file()
    for model in ("driving", "dave2", "ego_mlp"):
        assert (out / "runs" / model / "checkpoint" / "config.json").is_file()
    # a second run finds every stage done and only rebuilds the report
    again = run(args)
    assert "policy" in again


def test_loader_workers_read_ahead_only_on_a_gpu_unless_told():
    from e2edrive.commands.quickstart import QuickstartArgs, _loader_workers

    assert _loader_workers(QuickstartArgs(device="cpu")) == 0
    assert _loader_workers(QuickstartArgs(device="cuda:1")) == 4
    assert _loader_workers(QuickstartArgs(device="cpu", loader_workers=2)) == 2
    with pytest.raises(ValueError, match="loader-workers"):
        _loader_workers(QuickstartArgs(loader_workers=-1))
