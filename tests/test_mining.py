"""`e2edrive mine` and `e2edrive train --manifest` on a tiny recorded dataset: counts, clips,
stable manifests, and one-line errors (exit 2) for bad queries, missing episodes, changed datasets."""

import importlib.util
import json
import math
import sys

import pytest
import torch

from e2edrive.cli import main as cli
from e2edrive.core.constants import BevGrid
from e2edrive.core.rig import make_rig
from e2edrive.data.dataset import DrivingDataset
from e2edrive.data.manifest import ClipRef, clips_sha256, read_manifest, write_manifest
from e2edrive.data.recorder import Recorder
from e2edrive.data.synthetic import synthetic_step
from e2edrive.data.triggers import StepRecord
from e2edrive.train.config import TrainConfig
from e2edrive.train.data import open_training_data

RIG = make_rig(8, 16)
GRID = BevGrid(-4.0, 4.0, -3.0, 3.0)
needs_duckdb = pytest.mark.skipif(
    importlib.util.find_spec("duckdb") is None, reason="duckdb is not installed: pip install 'e2edrive[mine]'"
)

# episode -> (scenario, seed, frames, steps with ttc 1.0 s, steps braking at -5 m/s^2)
EPISODES = {
    0: ("cut_in", 1, 100, [10, 11, 12, 13, 14, 80], [12]),
    1: ("lane_follow", 2, 30, [5], []),
}


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    root = tmp_path_factory.mktemp("mine") / "data"
    with Recorder(root, RIG, GRID) as rec:
        for scenario, seed, frames, low_ttc, brake in EPISODES.values():
            for t in range(frames):
                ttc = torch.tensor([1.0 if t in low_ttc else math.inf])
                accel = torch.tensor([-5.0 if t in brake else 0.0])
                rec.add_step(
                    *synthetic_step([seed], [t], RIG, GRID), record=StepRecord.empty(1, ttc=ttc, accel=accel)
                )
            rec.end_episode(0, scenario, seed)
    return root


def _mine(capsys, *argv) -> tuple[int, str, str]:
    code = cli(["mine", *map(str, argv)])
    out, err = capsys.readouterr()
    return code, out, err


@needs_duckdb
def test_trigger_clips_are_counted_per_trigger(dataset, capsys):
    code, out, _ = _mine(capsys, dataset, "SELECT * FROM triggers", "--json")
    assert code == 0
    got = json.loads(out)
    # ttc_low: ep 0 steps 10..14 merge into [0, 34], step 80 -> [50, 99]; ep 1 step 5 -> [0, 25]
    assert got["counts"] == {
        "hard_brake": {"clips": 1, "frames": 33},  # step 12 -> [0, 32]
        "ttc_low": {"clips": 3, "frames": 35 + 50 + 26},
    }
    clips = [(c["episode"], c["start_t"], c["end_t"], c["tag"]) for c in got["manifest"]["clips"]]
    assert clips == [
        (0, 0, 32, "hard_brake"),
        (0, 0, 34, "ttc_low"),
        (0, 50, 99, "ttc_low"),
        (1, 0, 25, "ttc_low"),
    ]
    code, out, _ = _mine(capsys, dataset, "SELECT trigger, count(*) AS n FROM triggers GROUP BY trigger")
    assert code == 2  # an aggregate is not a set of clips


@needs_duckdb
def test_frame_rows_become_clips_and_the_table_is_printed(dataset, capsys):
    sql = "SELECT episode, t FROM frames WHERE scenario = 'cut_in' AND ttc < 1.5"
    code, out, _ = _mine(capsys, dataset, sql, "--json")
    got = json.loads(out)
    assert code == 0 and got["rows"] == 6
    assert [(c["start_t"], c["end_t"], c["tag"]) for c in got["manifest"]["clips"]] == [
        (0, 34, "query"),
        (50, 99, "query"),
    ]
    code, out, _ = _mine(capsys, dataset, sql)
    assert code == 0 and "query" in out and "6 result rows -> 2 clips" in out


@needs_duckdb
def test_manifest_is_stable_across_runs(dataset, tmp_path, capsys):
    sql = "SELECT * FROM triggers WHERE trigger = 'ttc_low' AND version >= 1"
    for name in ("a.json", "b.json"):
        assert _mine(capsys, dataset, sql, "--out", tmp_path / name)[0] == 0
    a, b = (tmp_path / "a.json").read_text(), (tmp_path / "b.json").read_text()
    assert a == b
    manifest, clips = read_manifest(tmp_path / "a.json")
    assert len(clips) == 3 and manifest["query"] == sql and len(manifest["dataset_meta_sha256"]) == 64


@needs_duckdb
def test_bad_queries_give_one_line_errors(dataset, capsys):
    code, _, err = _mine(capsys, dataset, "SELECT episode, t FROM frames WHERE tcc < 1")
    assert (
        code == 2 and err.count("\n") == 1 and "tcc" in err and "columns of frames:" in err and "ttc" in err
    )
    code, _, err = _mine(capsys, dataset, "SELECT scenario FROM frames")
    assert code == 2 and "needs `episode`" in err
    code, _, err = _mine(capsys, dataset, "SELEC nothing")
    assert code == 2 and err.count("\n") == 1
    code, _, err = _mine(capsys, dataset, "SELECT 999 AS episode, 3 AS t")
    assert code == 2 and "episode 999" in err
    code, _, err = _mine(capsys, dataset.parent / "nowhere", "SELECT * FROM triggers")
    assert code == 2 and "does not exist" in err


def test_missing_duckdb_names_the_extra(dataset, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "duckdb", None)  # import duckdb now raises ImportError
    code, _, err = _mine(capsys, dataset, "SELECT * FROM triggers")
    assert code == 2 and "pip install 'e2edrive[mine]'" in err and err.count("\n") == 1


@needs_duckdb
def test_the_quickstart_query_without_duckdb_gives_the_same_clips(tmp_path):
    from e2edrive.commands.quickstart_engine import MINE_SQL
    from e2edrive.data.mining import mine, tagged_episode_clips

    root = tmp_path / "data"
    with Recorder(root, RIG, GRID) as rec:
        for k, (scenario, seed, frames, low_ttc, brake) in EPISODES.items():
            for t in range(frames):
                ttc = torch.tensor([1.0 if t in low_ttc else math.inf])
                accel = torch.tensor([-5.0 if t in brake else 0.0])
                rec.add_step(
                    *synthetic_step([seed], [t], RIG, GRID), record=StepRecord.empty(1, ttc=ttc, accel=accel)
                )
            rec.end_episode(0, scenario, seed, tags=("driver=dagger",) if k == 0 else ("driver=expert",))
    with_duckdb, _ = mine(root, MINE_SQL)
    without = tagged_episode_clips(root, "driver=dagger")
    assert without == with_duckdb
    assert without and {c.episode for c in without} == {0}  # the expert's episode 1 is left out
    assert tagged_episode_clips(root, "driver=nobody") == []


def test_dataset_selects_frame_ranges(dataset):
    ds = DrivingDataset(dataset, history=1, clips=[(0, 5, 7), (0, 6, 9), (1, 28, 40)])
    frames = list(zip(ds.index["episode"].to_pylist(), ds.index["t"].to_pylist()))
    assert frames == [(0, t) for t in range(5, 10)] + [(1, 28), (1, 29)]  # overlaps once, cut at the end


def _train(tmp_path, capsys, manifest, *extra) -> tuple[int, str]:
    argv = ["train", "--manifest", str(manifest), "--out", str(tmp_path / "run"), "--model", "probe"]
    code = cli([*argv, "--batch-size", "8", "--max-steps", "2", "--no-progress", *map(str, extra)])
    return code, capsys.readouterr().err


def test_train_on_a_manifest_uses_only_its_frames(dataset, tmp_path, capsys):
    manifest = tmp_path / "m.json"
    write_manifest(manifest, dataset, "hand", [ClipRef(0, 40, 55, "x", 1.0), ClipRef(1, 0, 9, "y")])
    ds = open_training_data(TrainConfig(manifest=str(manifest), history=1))
    assert len(ds) == 16 + 10
    code, err = _train(tmp_path, capsys, manifest)
    assert code == 0, err
    saved = json.loads((tmp_path / "run/train_log.jsonl").read_text().splitlines()[-1])
    assert saved["step"] == 2


def test_train_manifest_errors(dataset, tmp_path, capsys):
    missing = tmp_path / "missing.json"
    m = write_manifest(missing, dataset, "hand", [ClipRef(0, 0, 9, "x")])
    m["clips"].append({**m["clips"][0], "episode": 7})  # e.g. mined from a copy that had episode 7
    missing.write_text(json.dumps({**m, "sha256": clips_sha256(m["clips"])}))
    code, err = _train(tmp_path, capsys, missing)
    assert code == 2 and "episode 7" in err and err.count("\n") == 1
    good = tmp_path / "good.json"
    write_manifest(good, dataset, "hand", [ClipRef(0, 0, 19, "x")])
    meta = dataset / "meta.json"
    original = meta.read_bytes()
    try:
        data = json.loads(original)
        data["created"]["utc"] = "1999-01-01T00:00:00+00:00"  # the same path, recorded again
        meta.write_text(json.dumps(data))
        code, err = _train(tmp_path, capsys, good)
        assert code == 2 and "not the one the manifest was made from" in err and "meta.json" in err
    finally:
        meta.write_bytes(original)
    edited = json.loads(good.read_text())
    edited["clips"][0]["end_t"] = 99
    good.write_text(json.dumps(edited))
    code, err = _train(tmp_path, capsys, good)
    assert code == 2 and "sha256" in err
    code, err = _train(tmp_path, capsys, tmp_path / "nope.json")
    assert code == 2 and "no manifest" in err
