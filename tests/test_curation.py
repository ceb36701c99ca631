"""Curation on hand-made Parquet indexes: clip windows, trivial clips, near-duplicates, quotas, the
balance figures against a worked example, evaluation sets, and the curate CLI."""

from __future__ import annotations

import json

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from e2edrive.commands.curate import main as curate_main
from e2edrive.data.curation import (
    balance,
    build_candidates,
    curate_training,
    dataset_train_seeds,
    eval_pairs,
    read_index_columns,
)
from e2edrive.data.manifest import read_manifest


def _episode(
    root, ep, scenario="cut_in", seed=None, n=200, flags=None, speed=10.0, wiggle=2.0, priority=None
):
    """Write index/EP.parquet: n frames; the expert brakes and steers in a sine of amplitude `wiggle`
    (0: the expert barely acts), flags {t: [names]}, priority {t: value}."""
    t = np.arange(n)
    wave = np.sin(t / 7.0).astype(np.float32)
    flags = flags or {}
    prio = np.zeros(n, np.float32)
    for k, v in (priority or {}).items():
        prio[k] = v
    table = pa.table(
        {
            "episode": pa.array(np.full(n, ep), pa.int64()),
            "t": pa.array(t, pa.int32()),
            "scenario": pa.array([scenario] * n),
            "seed": pa.array(np.full(n, ep if seed is None else seed), pa.int64()),
            "tags": pa.array([["driver=expert"]] * n, pa.list_(pa.string())),
            "flags": pa.array([flags.get(int(i), []) for i in t], pa.list_(pa.string())),
            "priority": pa.array(prio),
            "intervention": pa.array(np.zeros(n, bool)),
            "speed": pa.array(np.full(n, speed, np.float32) + wave),
            "accel": pa.array(wave * wiggle),
            "expert_accel": pa.array(wave * wiggle),
            "expert_steer": pa.array(wave * 0.05 * wiggle),
            "expert_reason": pa.array(np.zeros(n, np.int16)),
        }
    )
    (root / "index").mkdir(parents=True, exist_ok=True)
    pq.write_table(table, root / "index" / f"{ep:06d}.parquet")


def test_balance_worked_example():
    # p = (0.8, 0.2): H = -(0.8 ln 0.8 + 0.2 ln 0.2) = 0.5004 nats; / ln 2 = 0.7219
    b = balance({"a": 8, "b": 2})
    assert b["normalized_entropy"] == pytest.approx(0.7219, abs=1e-4) and b["max_min_ratio"] == 4.0
    assert balance({"a": 5, "b": 5, "c": 5})["normalized_entropy"] == pytest.approx(1.0)
    assert balance({"a": 3}) == {"counts": {"a": 3}, "normalized_entropy": 1.0, "max_min_ratio": 1.0}


def test_clip_windows_and_tags(tmp_path):
    _episode(tmp_path, 0, n=200, flags={100: ["hard_brake"], 105: ["hard_brake"], 110: ["ttc_low"]})
    _episode(tmp_path, 1, scenario="", n=40)
    clips = [
        (c.clip.episode, c.clip.start_t, c.clip.end_t, c.clip.tag)
        for c in build_candidates(read_index_columns(tmp_path))
    ]
    assert clips == [
        (0, 0, 49, "cut_in"),
        (0, 50, 69, "cut_in"),  # the untriggered rest stops where the trigger window starts
        (0, 70, 120, "hard_brake"),  # t = 105 is the same event: no second clip
        (0, 80, 130, "ttc_low"),  # a new flag inside the window: a clip of its own
        (0, 131, 180, "cut_in"),
        (0, 181, 199, "cut_in"),
        (1, 0, 39, "nominal"),
    ]


def test_trivial_clips_are_dropped(tmp_path):
    _episode(tmp_path, 0, n=120, wiggle=0.0, flags={60: ["shadow_disagree"]})  # calm but flagged
    _episode(tmp_path, 1, n=100, wiggle=3.0)
    clips, report = curate_training(tmp_path, quota=100)
    assert report.dropped_trivial == 2  # episode 0's untriggered windows [0, 29] and [81, 119]
    assert {(c.episode, c.tag) for c in clips} == {(0, "shadow_disagree"), (1, "cut_in")}
    assert report.before["counts"] == {"cut_in": 4, "shadow_disagree": 1}


def test_near_duplicates_are_removed(tmp_path):
    _episode(tmp_path, 0, n=50, priority={10: 0.5})
    _episode(tmp_path, 1, n=50)  # the same drive: a near-duplicate of episode 0
    _episode(tmp_path, 2, n=50, speed=10.3)  # within 0.5 m/s everywhere: still a duplicate
    _episode(tmp_path, 3, n=50, speed=14.0)  # faster: a different clip
    _episode(tmp_path, 4, n=50, scenario="puddle")  # the same signals in another scenario: kept
    clips, report = curate_training(tmp_path, quota=100)
    assert report.dropped_duplicate == 2
    assert [c.episode for c in clips] == [0, 3, 4]  # the higher priority one survives


def test_quotas_keep_the_highest_priorities(tmp_path):
    for ep in range(6):  # six distinct hard brakes (speeds 1 m/s apart), one cut-in flag
        _episode(tmp_path, ep, n=51, speed=5.0 + ep, flags={30: ["hard_brake"]}, priority={30: float(ep)})
    _episode(tmp_path, 6, n=51, flags={30: ["cut_in_close"]})
    clips, report = curate_training(tmp_path, quota=2)
    assert report.before["counts"] == {"cut_in_close": 1, "hard_brake": 6}
    assert sorted(c.episode for c in clips if c.tag == "hard_brake") == [4, 5]
    assert report.after["counts"] == {"cut_in_close": 1, "hard_brake": 2} and report.dropped_quota == 4
    assert report.after["max_min_ratio"] == 2.0 and report.before["max_min_ratio"] == 6.0
    _, median = curate_training(tmp_path)  # median of (6, 1) = 3.5 -> 4 per tag
    assert median.quota == 4 and median.after["counts"]["hard_brake"] == 4
    assert median.after["normalized_entropy"] > median.before["normalized_entropy"]


def test_eval_set_is_balanced_and_disjoint(tmp_path):
    for i, seed in enumerate([1_000_000, 1_000_001, 1_000_002, 1_000_004]):
        _episode(tmp_path, i, n=20, seed=seed)
    train = dataset_train_seeds(tmp_path)
    assert train == {"cut_in": [[1_000_000, 1_000_003], [1_000_004, 1_000_005]]}
    pairs = eval_pairs(("cut_in", "puddle"), 3, train, 1_000_000)
    assert pairs == [("cut_in", 1_000_003), ("cut_in", 1_000_005), ("cut_in", 1_000_006)] + [
        ("puddle", 1_000_000 + k) for k in range(3)
    ]
    assert eval_pairs(("cut_in",), 1, {"cut_in": [[0, 2_000_000]]}, 0) == [("cut_in", 2_000_000)]


def test_curate_cli_eval_set(tmp_path, capsys):
    for i in range(5):
        _episode(tmp_path / "data", i, n=20, scenario="puddle", seed=1_000_000 + i)
    out = tmp_path / "eval.json"
    argv = ["--eval", "--suite", "corner", "--episodes-per-scenario", "4"]
    assert curate_main([*argv, "--exclude-train", str(tmp_path / "data"), "--out", str(out), "--json"]) == 0
    pairs = json.loads(out.read_text())
    report = json.loads(capsys.readouterr().out)
    assert len(pairs) == 28 and report["balance"]["max_min_ratio"] == 1.0
    assert report["balance"]["normalized_entropy"] == pytest.approx(1.0)
    puddle = [seed for s, seed in pairs if s == "puddle"]
    assert puddle == [1_000_005 + k for k in range(4)]


def test_curate_cli_writes_a_manifest(tmp_path, capsys):
    for ep in range(3):
        _episode(tmp_path / "data", ep, n=120, speed=5.0 + 2 * ep, flags={60: ["hard_brake"]})
    out = tmp_path / "m.json"
    assert curate_main(["--data", str(tmp_path / "data"), "--out", str(out), "--quota", "2"]) == 0
    table = capsys.readouterr().out
    assert "| hard_brake | 3 | 2 |" in table and "H / log K" in table
    manifest, clips = read_manifest(out)
    assert manifest["query"].startswith("curate --data") and manifest["dataset"] == str(tmp_path / "data")
    assert [c.tag for c in clips].count("hard_brake") == 2
    assert [(c.episode, c.start_t) for c in clips] == sorted((c.episode, c.start_t) for c in clips)
    assert curate_main(["--data", str(tmp_path / "data"), "--quota", "2", "--json"]) == 0
    again = json.loads(capsys.readouterr().out)["manifest"]
    assert again["sha256"] == manifest["sha256"]  # same clips, same checksum (the query is provenance)


@pytest.mark.parametrize(
    "argv, message",
    [
        ([], "give --data DIR"),
        (["--data", "{tmp}/none"], "no dataset directory"),
        (["--data", "{tmp}"], "is not a dataset"),
        (["--data", "{tmp}", "--quota", "-1"], "quota must be >= 0"),
        (["--eval", "--exclude-train", "{tmp}/none"], "no dataset or checkpoint"),
        (["--eval", "--suite", "nope"], "unknown suite"),
        (["--eval", "--episodes-per-scenario", "0"], "episodes per scenario"),
    ],
)
def test_curate_cli_errors(tmp_path, capsys, argv, message):
    argv = [a.replace("{tmp}", str(tmp_path)) for a in argv]
    assert curate_main(argv) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1 and "Traceback" not in err
