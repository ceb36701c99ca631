"""Robustness metrics (eval.robustness) on hand-made numbers, and the `robustness` verb end to end
on a tiny budget."""

from __future__ import annotations

import json
import math

import pytest
import torch

from e2edrive.cli import main as cli_main
from e2edrive.eval.robustness import (
    RobustnessTable,
    corruption_errors,
    mean_ce,
    mean_rr,
    merge_tables,
    resilience_rates,
)
from e2edrive.model.checkpoint import save_checkpoint

CLEAN = 80.0
SCORES = {"fog": {1: 60.0, 3: 40.0}, "rain": {1: 80.0, 3: 20.0}}
DAVE2 = {"fog": {1: 50.0, 3: 20.0}, "rain": {1: 60.0, 3: 0.0}}


def test_resilience_rate_worked_example():
    rr = resilience_rates(CLEAN, SCORES)
    assert rr == {"fog": {1: 0.75, 3: 0.5}, "rain": {1: 1.0, 3: 0.25}}
    # per fault: fog (0.75 + 0.5) / 2 = 0.625, rain (1 + 0.25) / 2 = 0.625
    assert mean_rr(rr) == pytest.approx(0.625)


def test_corruption_error_worked_example():
    ce = corruption_errors(SCORES, DAVE2)
    # fog: (40 + 60) / (50 + 80); rain: (20 + 80) / (40 + 100)
    assert ce["fog"] == pytest.approx(100 / 130) and ce["rain"] == pytest.approx(100 / 140)
    assert mean_ce(ce) == pytest.approx(100 * (100 / 130 + 100 / 140) / 2)  # 74.18 %
    with pytest.raises(ValueError, match="reference has no score"):
        corruption_errors({"glare": {1: 50.0}}, DAVE2)


def test_undefined_ratios_are_none_in_json():
    t = RobustnessTable("net", 0.0, {"fog": {1: 0.0}}, "dave2", 100.0, {"fog": {1: 100.0}}, episodes=3)
    d = json.loads(t.to_json())
    assert d["mRR"] is None and d["mCE_percent"] is None and d["faults"]["fog"]["rr"]["1"] is None
    assert "| fog | 0.0 | - | - |" in t.markdown()


def test_table_outputs(tmp_path):
    t = RobustnessTable("net", CLEAN, SCORES, "dave2", 70.0, DAVE2, episodes=6)
    d = t.to_dict()
    assert d["mRR"] == 0.625 and d["mCE_percent"] == pytest.approx(74.1758, abs=1e-3)
    assert d["faults"]["rain"]["reference_driving_score"] == {"1": 60.0, "3": 0.0}
    md = t.markdown()
    assert "| fog | 60.0 | 40.0 | 75% | 50% | 77% |" in md and "mCE 74.2% against dave2" in md
    paths = t.write(tmp_path)
    assert [p.name for p in paths] == ["robustness.md", "robustness.json", "robustness.svg"]
    svg = paths[2].read_text()
    assert svg.startswith("<svg") and svg.count("<rect") == 4 and "s3 25%" in svg


def test_tables_round_trip_and_merge_from_parts():
    setup = {"suite": "basic", "seeds": "1:3"}
    whole = RobustnessTable("net", CLEAN, SCORES, "dave2", 70.0, DAVE2, episodes=6, setup=setup)
    assert RobustnessTable.from_dict(whole.to_dict()).to_dict() == whole.to_dict()
    parts = [
        RobustnessTable("net", CLEAN, {f: SCORES[f]}, "dave2", 70.0, {f: DAVE2[f]}, 6, setup) for f in SCORES
    ]
    assert merge_tables(parts).to_dict() == whole.to_dict()
    other = RobustnessTable(
        "net", 79.0, {"fog": SCORES["fog"]}, "dave2", 70.0, {"fog": DAVE2["fog"]}, 6, setup
    )
    with pytest.raises(ValueError, match="clean score"):
        merge_tables([parts[0], other])
    ref = whole.reference_table()
    assert ref.name == "dave2" and ref.clean == 70.0 and ref.scores == DAVE2 and ref.mce == pytest.approx(100)


def _checkpoint(tmp_path, model, name):
    torch.manual_seed(0)
    return save_checkpoint(model, tmp_path / name, extra={"train_seeds": {}, "train_config": {"history": 1}})


def test_cli_end_to_end(tmp_path, capsys):
    from e2edrive.model.dave2 import Dave2
    from e2edrive.model.ego_mlp import EgoMLP

    ego = _checkpoint(tmp_path, EgoMLP(), "ego")
    dave2 = _checkpoint(tmp_path, Dave2(), "dave2")
    base = ["robustness", "--checkpoint", str(ego), "--suite", "lane_follow", "--seeds", "1000000:1000002"]
    base += ["--max-steps", "4", "--no-progress"]
    argv = [*base, "--reference", str(dave2), "--faults", "speed_noise,fog", "--severities", "1,3"]
    assert cli_main([*argv, "--json", "--report", str(tmp_path / "rep")]) == 0
    d = json.loads(capsys.readouterr().out)
    assert set(d["faults"]) == {"speed_noise", "fog"} and d["reference"] == "dave2"
    assert set(d["faults"]["fog"]["driving_score"]) == {"1", "3"} and d["episodes_per_condition"] == 2
    assert math.isfinite(d["clean_driving_score"])
    assert (tmp_path / "rep" / "robustness.svg").exists()
    # a reference that is not DAVE-2 and bad grids are refused before anything drives
    for bad, msg in (
        (["--reference", str(ego)], "dave2"),
        (["--faults", "smoke"], "unknown fault"),
        (["--severities", "0"], "severities"),
        (["--severities", "x"], "severities"),
    ):
        assert cli_main([*base, *bad]) == 2
        err = capsys.readouterr().err
        assert msg in err and err.count("\n") == 1 and "Traceback" not in err


def test_workers_give_the_table_of_one_process(tmp_path, capsys):
    from e2edrive.model.dave2 import Dave2

    dave2 = _checkpoint(tmp_path, Dave2(), "dave2")
    argv = ["robustness", "--checkpoint", str(dave2), "--suite", "lane_follow", "--seeds", "1000000:1000002"]
    argv += ["--max-steps", "6", "--no-progress", "--faults", "camera_crash,low_light", "--severities", "1,3"]
    argv += ["--json", "--num-envs", "2"]
    tables = []
    for workers in ("1", "2"):
        assert cli_main([*argv, "--workers", workers]) == 0
        tables.append(json.loads(capsys.readouterr().out))
    assert tables[0] == tables[1]
    assert set(tables[0]["faults"]) == {"camera_crash", "low_light"}
    assert set(tables[0]["faults"]["low_light"]["driving_score"]) == {"1", "3"}
    assert cli_main([*argv, "--workers", "0"]) == 2
    assert "--workers must be >= 1" in capsys.readouterr().err


def test_reference_scores_reused_from_an_earlier_table(tmp_path, capsys):
    from e2edrive.model.dave2 import Dave2
    from e2edrive.model.ego_mlp import EgoMLP

    dave2, ego = _checkpoint(tmp_path, Dave2(), "dave2"), _checkpoint(tmp_path, EgoMLP(), "ego")
    common = ["--suite", "lane_follow", "--seeds", "1000000:1000002", "--max-steps", "4", "--no-progress"]
    common += ["--faults", "low_light,speed_noise", "--severities", "3", "--json"]
    assert cli_main(["robustness", "--checkpoint", str(dave2), *common]) == 0
    first = capsys.readouterr().out
    (tmp_path / "dave2.json").write_text(first)
    ref = json.loads(first)
    assert (
        cli_main(
            [
                "robustness",
                "--checkpoint",
                str(ego),
                "--reference-json",
                str(tmp_path / "dave2.json"),
                *common,
            ]
        )
        == 0
    )
    d = json.loads(capsys.readouterr().out)
    assert d["reference"] == "dave2" and d["reference_clean_driving_score"] == ref["clean_driving_score"]
    for f in ("low_light", "speed_noise"):
        assert d["faults"][f]["reference_driving_score"] == ref["faults"][f]["driving_score"]
    # a table of other episodes, or without the conditions asked for, is refused before driving
    other = [*common[:3], "1000000:1000003", *common[4:]]
    for argv, msg in (
        (other, "was driven with"),
        ([*common, "--faults", "fog"], "no DAVE-2 score for fog:3"),
    ):
        assert (
            cli_main(
                [
                    "robustness",
                    "--checkpoint",
                    str(ego),
                    "--reference-json",
                    str(tmp_path / "dave2.json"),
                    *argv,
                ]
            )
            == 2
        )
        err = capsys.readouterr().err
        assert msg in err and err.count("\n") == 1
