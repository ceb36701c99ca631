"""`drive` and `collect` take suite names as `eval` does: 'urban', 'basic,cut_in', 'all'."""

from __future__ import annotations

import json

import pytest

import e2edrive.commands.collect as collect_cmd
from e2edrive.cli import main as cli_main
from e2edrive.eval.suites import SUITES


def test_drive_runs_a_suite_and_a_scenario_together(capsys):
    argv = ["drive", "--scenario", "basic,cut_in", "--seeds", "7", "--json", "--max-steps", "2"]
    assert cli_main([*argv, "--num-envs", "4", "--threads", "1"]) == 0
    episodes = json.loads(capsys.readouterr().out)["episodes"]
    assert [(e["scenario"], e["seed"]) for e in episodes] == [
        ("lane_follow", 7),
        ("follow_lead", 7),
        ("traffic_light", 7),
        ("cut_in", 7),
    ]


def test_collect_jobs_of_a_suite(tmp_path):
    cfg = collect_cmd.CollectConfig(out=str(tmp_path), scenario="urban", seeds="0:2")
    assert collect_cmd._jobs(cfg) == [(n, s) for s in (0, 1) for n in SUITES["urban"]]
    cfg = collect_cmd.CollectConfig(out=str(tmp_path), scenario="corner,lane_follow", seeds="3")
    assert [n for n, _ in collect_cmd._jobs(cfg)] == [*SUITES["corner"], "lane_follow"]


@pytest.mark.parametrize("verb", ["drive", "collect"])
def test_unknown_suite_is_a_one_line_error_naming_the_valid_ones(verb, tmp_path, capsys):
    extra = ["--out", str(tmp_path / "d")] if verb == "collect" else []
    assert cli_main([verb, "--scenario", "urbn", "--seeds", "0", *extra]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    assert "unknown suite 'urbn'" in err and "'urban'" in err and "turn_left_unprotected" in err
    assert not err.endswith('"')  # the message, not a KeyError's repr
