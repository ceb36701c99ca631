"""`e2edrive dataset`: info counts, verify naming a flipped shard, the episode video's camera order,
the Parquet + MP4 export, and one-line errors for bad input."""

import json
import shutil

import numpy as np
import pyarrow.parquet as pq
import pytest

from e2edrive.cli import main as cli_main
from e2edrive.data.dataset import DrivingDataset
from e2edrive.data.export_video import episode_frame, mosaic_order

SCENARIOS, SEEDS, STEPS = ("lane_follow", "cut_in"), (0, 1), 6


@pytest.fixture(scope="module")
def collected(tmp_path_factory):
    """A tiny dataset recorded by `e2edrive collect`: 2 scenarios x 2 seeds x 6 steps, 16 x 32 px."""
    root = tmp_path_factory.mktemp("collected") / "ds"
    argv = ["collect", "--out", str(root), "--scenario", ",".join(SCENARIOS), "--seeds", "0:2"]
    argv += ["--max-steps", str(STEPS), "--num-envs", "4", "--height", "16", "--width", "32"]
    assert cli_main(argv) == 0
    return root


def _run(capsys, *argv):
    rc = cli_main(["dataset", *map(str, argv)])
    out = capsys.readouterr()
    return rc, out.out, out.err


def test_info_counts_match_the_collected_dataset(collected, capsys):
    rc, out, _ = _run(capsys, "info", collected, "--json")
    assert rc == 0
    d = json.loads(out)
    episodes = len(SCENARIOS) * len(SEEDS)
    assert d["episodes"] == episodes and d["frames"] == episodes * STEPS
    assert d["episode_ids"] == list(range(episodes))
    assert d["scenarios"] == {s: {"episodes": 2, "frames": 2 * STEPS} for s in sorted(SCENARIOS)}
    assert d["tags"]["driver=expert"] == episodes
    assert len(DrivingDataset(collected, history=1)) == d["frames"]  # the reader agrees
    on_disk = sum(p.stat().st_size for p in collected.rglob("*") if p.is_file())
    assert d["bytes"] == on_disk and 0 < d["shard_bytes"] < on_disk
    assert d["cameras"][0] == "front_main" and d["image_size"] == [16, 32]
    rc, table, _ = _run(capsys, "info", collected)
    assert rc == 0 and "cut_in" in table and f"frames {episodes * STEPS}" in table


def test_verify_names_the_shard_with_one_flipped_byte(collected, tmp_path, capsys):
    rc, out, _ = _run(capsys, "verify", collected)
    assert rc == 0 and "all good" in out
    copy = tmp_path / "ds"
    shutil.copytree(collected, copy)
    shard = copy / "episodes" / "000002.shard"
    data = bytearray(shard.read_bytes())
    data[len(data) // 2] ^= 0x01  # one bit of one byte: same size, only the checksum can tell
    shard.write_bytes(bytes(data))
    rc, out, err = _run(capsys, "verify", copy)
    assert rc == 1
    assert "BAD episodes/000002.shard: sha256 mismatch" in out
    assert out.count("BAD") == 1  # every other shard is good
    assert "1 of 4 shards" in err


def test_video_tiles_cameras_in_the_order_of_drive_video(collected, tmp_path, capsys):
    av = pytest.importorskip("av")
    path = tmp_path / "ep1.mp4"
    rc, out, _ = _run(capsys, "video", collected, "--episode", 1, "--out", path)
    assert rc == 0 and str(path) in out
    with av.open(str(path)) as f:
        frames = [fr.to_ndarray(format="rgb24").astype(int) for fr in f.decode(video=0)]
    assert len(frames) == STEPS and frames[0].shape == (32, 128, 3)
    ds = DrivingDataset(collected, history=1)
    sh = ds.shard(1)
    images, valid = sh.read("images", np.arange(1)), sh.read("camera_valid", np.arange(1))

    def error(layout):
        want = episode_frame(images[0], valid[0], ds.rig, mosaic_order(ds.rig, layout)).numpy()
        return np.abs(frames[0] - want).mean()

    assert mosaic_order(ds.rig, "rig") == list(range(8))  # drive --video tiles the rig's order
    assert error("rig") < 8 < error("driver")  # lossy H.264, yet clearly that layout


def test_export_parquet_mp4(collected, tmp_path, capsys):
    av = pytest.importorskip("av")
    out_dir = tmp_path / "export"
    rc, out, _ = _run(capsys, "export", collected, "--out", out_dir, "--format", "parquet-mp4")
    assert rc == 0 and "exported 4 episodes" in out
    info = json.loads((out_dir / "info.json").read_text())
    assert info["format"] == "e2edrive-parquet-mp4" and len(info["episodes"]) == 4
    ep = info["episodes"][3]
    table = pq.read_table(out_dir / ep["data"])
    assert table.num_rows == ep["frames"] == STEPS
    assert table["t"].to_pylist() == list(range(STEPS)) and "shard" not in table.column_names
    boxes = np.array(table["array.boxes"].to_pylist()).reshape(STEPS, *info["shapes"]["array.boxes"])
    want = DrivingDataset(collected, history=1).shard(3).read("boxes", np.arange(STEPS))
    assert np.array_equal(boxes, want)
    assert set(ep["videos"]) == set(info["rig"]["names"])
    with av.open(str(out_dir / ep["videos"]["rear_main"])) as f:
        frames = list(f.decode(video=0))
    assert len(frames) == STEPS and (frames[0].height, frames[0].width) == (16, 32)


@pytest.mark.parametrize(
    "argv, message",
    [
        (["info", "/nonexistent/ds"], "dataset directory /nonexistent/ds does not exist"),
        (["verify", "."], "meta.json is missing"),
        (["video", "{ds}", "--episode", "9", "--out", "x.mp4"], "episode 9 is not in"),
    ],
)
def test_bad_input_is_a_one_line_error(collected, capsys, argv, message):
    rc, _, err = _run(capsys, *[a.format(ds=collected) for a in argv])
    assert rc == 2 and message in err and len(err.strip().splitlines()) == 1
