"""Recorder + dataset: round trip, clip padding, corruption, crash safety, clear errors."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

from e2edrive.core.constants import BevGrid
from e2edrive.core.reasons import REASON_TEXT, Reason
from e2edrive.core.rig import make_rig
from e2edrive.core.types import Action
from e2edrive.data.dataset import DrivingDataset, collate_clips
from e2edrive.data.format import FORMAT_VERSION, CorruptShardError, DatasetFormatError
from e2edrive.data.recorder import Recorder
from e2edrive.data.synthetic import _frame, record_synthetic_episode, synthetic_step

RIG = make_rig(16, 32)  # small images keep the tests fast; the format does not depend on size
GRID = BevGrid(-4.0, 4.0, -3.0, 3.0)  # (nz, nx, ny) = (8, 16, 12): ny not a multiple of 8 tests unpacking
FP16_REL = 2.0**-11  # round-to-nearest float16 keeps 11 significant bits: |x - fp16(x)| <= 2^-11 |x|


def _record_batched(root: Path) -> dict[int, tuple[int, int]]:
    """Three environments whose episodes end at different steps; env 1 starts a second episode.
    Returns episode id -> (seed key, length)."""
    plan = {0: [(10, 4)], 1: [(11, 2), (12, 3)], 2: [(13, 5)]}  # env -> [(key, length), ...]
    cursor = {i: [0, 0] for i in plan}  # episode number within env, t
    out = {}
    with Recorder(root, RIG, GRID) as rec:
        for _ in range(5):
            keys, ts = [], []
            for i in plan:
                e, t = cursor[i]
                keys.append(plan[i][min(e, len(plan[i]) - 1)][0])
                ts.append(t)
            active = torch.tensor([cursor[i][0] < len(plan[i]) for i in plan])
            obs, labels, action, pose = synthetic_step(keys, ts, RIG, GRID)
            infr = {"off_road": torch.tensor([t == 1 for t in ts])}
            flags = [["hard_brake"] if t == 2 else [] for t in ts]
            rec.add_step(
                obs,
                labels,
                action,
                pose,
                infractions=infr,
                flags=flags,
                active=active,
                intervention=torch.tensor([i == 2 for i in plan]),
                priority=torch.full((3,), 0.5),
            )
            for i in plan:
                e, t = cursor[i]
                if e < len(plan[i]) and t + 1 == plan[i][e][1]:
                    key, length = plan[i][e]
                    out[rec.end_episode(i, "synthetic", key, tags=("unit",))] = (key, length)
                    cursor[i] = [e + 1, 0]
                elif e < len(plan[i]):
                    cursor[i][1] += 1
    return out


@pytest.fixture(scope="module")
def recorded(tmp_path_factory):
    root = tmp_path_factory.mktemp("ds")
    return root, _record_batched(root)


def _close(read: torch.Tensor, want: torch.Tensor, fp16: bool) -> bool:
    if fp16:
        return bool(((read - want).abs() <= FP16_REL * want.abs() + 2.0**-24).all())
    return read.dtype == want.dtype and torch.equal(read, want)


def test_round_trip_every_field(recorded):
    root, episodes = recorded
    assert sorted(episodes.values()) == [(10, 4), (11, 2), (12, 3), (13, 5)]
    ds = DrivingDataset(root, history=1)
    assert len(ds) == 14 and ds.episodes == sorted(episodes)
    for k in range(len(ds)):
        clip = ds[k]
        ep, t, seed = clip.meta[0].tolist()
        want = _frame(episodes[ep][0], t, RIG, GRID)
        assert seed == episodes[ep][0]
        obs = clip.frame(-1)
        for name in ("images", "speed", "accel", "yaw_rate", "steer", "odom", "camera_valid"):
            assert _close(getattr(obs, name)[0], want[name], False), name
        assert obs.first[0].item() == (t == 0)
        for name in ("route_points", "dist_to_turn", "turn_command", "speed_limit"):
            assert _close(getattr(obs.nav, name)[0], want[name], False), name
        for name in (
            "occupancy",
            "flow",
            "boxes",
            "box_class",
            "box_valid",
            "lanes",
            "lane_polylines",
            "lane_polyline_type",
            "lane_polyline_valid",
            "drivable",
            "traffic_light",
            "depth",
            "semantics",
            "expert_plan",
            "expert_speed",
            "expert_action",
            "reason",
            "oncoming_gap",  # from the index
        ):
            assert _close(getattr(clip.labels, name)[0], want[name], name in ("flow", "depth")), name
        assert clip.labels.depth.dtype == torch.float32 and clip.labels.occupancy.dtype == torch.uint8
        shard = ds.shard(ep)
        assert np.array_equal(shard.read("ego_pose", np.array([t]))[0], want["ego_pose"].numpy())
        assert np.array_equal(shard.read("action", np.array([t]))[0], want["action"].numpy())


def test_index_columns(recorded):
    root, episodes = recorded
    ds = DrivingDataset(root, history=1)
    rows = ds.index.to_pylist()
    for r in rows:
        key = episodes[r["episode"]][0]
        want = _frame(key, r["t"], RIG, GRID)
        assert r["seed"] == key and r["scenario"] == "synthetic" and r["tags"] == ["unit"]
        assert r["time_s"] == pytest.approx(0.1 * r["t"])
        assert r["row"] == r["t"] and r["shard"] == f"episodes/{r['episode']:06d}.shard"
        assert r["ego_x"] == pytest.approx(want["ego_pose"][0].item())
        assert r["speed"] == pytest.approx(want["speed"].item())
        assert r["action_accel"] == pytest.approx(want["action"][1].item())
        assert r["expert_steer"] == pytest.approx(want["expert_action"][0].item())
        assert r["expert_reason"] == want["reason"].item()
        assert r["expert_reason_text"] == REASON_TEXT[Reason(r["expert_reason"])]
        assert r["infraction_off_road"] == (r["t"] == 1) and not r["infraction_collision_vehicle"]
        assert r["flags"] == (["hard_brake"] if r["t"] == 2 else [])
        assert r["priority"] == 0.5
    # env 2 (key 13) was marked as intervened at every step, the others never
    assert {r["seed"] for r in rows if r["intervention"]} == {13}


def test_clip_padding_at_episode_start(recorded):
    root, episodes = recorded
    ep = next(e for e, (key, n) in episodes.items() if key == 13)
    ds = DrivingDataset(root, history=4, stride=2, episodes=[ep])
    clip = ds[3]  # frame t=3: history rows t-6, t-4, t-2, t -> clamped to 0, 0, 1, 3
    assert clip.meta[0, 1].item() == 3 and clip.obs.images.shape == (1, 4, 8, 3, 16, 32)
    for k, t in enumerate([0, 0, 1, 3]):
        assert torch.equal(clip.obs.images[0, k], _frame(13, t, RIG, GRID)["images"])
    assert clip.obs.first[0].tolist() == [True, True, False, False]
    speeds = torch.stack([_frame(13, t, RIG, GRID)["speed"] for t in [0, 0, 1, 3]])
    assert torch.equal(clip.obs.speed[0], speeds)
    late = DrivingDataset(root, history=2, stride=1, episodes=[ep])[4]  # no padding needed
    assert late.obs.first[0].tolist() == [False, False]


def test_collate_and_dataloader(recorded):
    root, _ = recorded
    ds = DrivingDataset(root, history=3, seeds=[10, 13])
    assert len(ds) == 9 and set(ds.index["seed"].to_pylist()) == {10, 13}
    batch = next(iter(DataLoader(ds, batch_size=5, collate_fn=collate_clips)))
    assert batch.obs.images.shape == (5, 3, 8, 3, 16, 32)
    assert batch.obs.nav.route_points.shape == (5, 3, 10, 2)
    assert batch.labels.occupancy.shape == (5, 8, 16, 12) and batch.meta.shape == (5, 3)
    assert batch.obs.rig.matches(RIG)
    # DataLoader workers get the dataset pickled: open memory maps must not travel with it
    import pickle

    clone = pickle.loads(pickle.dumps(ds))
    assert len(pickle.dumps(ds)) < 200_000 and torch.equal(clone[3].obs.images, ds[3].obs.images)


def _copy_dataset(src: Path, dst: Path) -> None:
    import shutil

    shutil.copytree(src, dst)


def test_corrupt_and_truncated_shards_name_the_file(recorded, tmp_path):
    root, episodes = recorded
    _copy_dataset(root, tmp_path / "ds")
    root = tmp_path / "ds"
    eps = sorted(episodes)
    flipped = root / "episodes" / f"{eps[1]:06d}.shard"
    data = bytearray(flipped.read_bytes())
    data[len(data) // 2] ^= 0xFF
    flipped.write_bytes(bytes(data))
    truncated = root / "episodes" / f"{eps[2]:06d}.shard"
    with open(truncated, "r+b") as f:
        f.truncate(truncated.stat().st_size - 100)

    ds = DrivingDataset(root, history=2)
    by_ep = {}
    for k, ep in enumerate(ds.index["episode"].to_pylist()):
        by_ep.setdefault(ep, k)
    with pytest.raises(CorruptShardError, match="sha256 mismatch") as e:
        ds[by_ep[eps[1]]]
    assert e.value.path == flipped and str(flipped) in str(e.value)
    with pytest.raises(CorruptShardError, match="truncated") as e:
        ds[by_ep[eps[2]]]
    assert e.value.path == truncated
    for ep in (eps[0], eps[3]):  # the other episodes still read
        assert ds[by_ep[ep]].meta[0, 0].item() == ep

    with pytest.warns(UserWarning, match="2 corrupt episodes"):
        skipping = DrivingDataset(root, history=2, skip_corrupt=True)
    assert sorted(skipping.corrupt) == [eps[1], eps[2]] and skipping.episodes == [eps[0], eps[3]]
    assert all(skipping[k].meta[0, 0].item() in (eps[0], eps[3]) for k in range(len(skipping)))

    part = root / "index" / f"{eps[0]:06d}.parquet"  # a damaged index part
    part.write_bytes(part.read_bytes()[:50])
    with pytest.raises(DatasetFormatError, match=f"index part {part} is unreadable"):
        DrivingDataset(root)
    messages = ("skipping unreadable index", "2 corrupt")
    unreadable, corrupt = (pytest.warns(UserWarning, match=m) for m in messages)
    with unreadable, corrupt:
        assert DrivingDataset(root, skip_corrupt=True).episodes == [eps[3]]


_KILL_SCRIPT = """
import sys, torch
torch.set_num_threads(1)
from e2edrive.core.constants import BevGrid
from e2edrive.core.rig import make_rig
from e2edrive.core.types import Action
from e2edrive.data.recorder import Recorder
from e2edrive.data.synthetic import record_synthetic_episode
rec = Recorder(sys.argv[1], make_rig(16, 32), BevGrid(-4.0, 4.0, -3.0, 3.0))
key = 0
while True:
    ep = record_synthetic_episode(rec, key, 3 + key % 3)
    print(ep, key, flush=True)
    key += 1
"""


def test_sigkill_mid_collect_leaves_completed_episodes(tmp_path):
    root = tmp_path / "ds"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen(
        [sys.executable, "-c", _KILL_SCRIPT, str(root)], stdout=subprocess.PIPE, text=True, env=env
    )
    lines = []
    deadline = time.time() + 60
    while len(lines) < 4 and time.time() < deadline:
        lines.append(proc.stdout.readline())
    proc.send_signal(signal.SIGKILL)
    lines += proc.stdout.read().splitlines()  # anything printed before the kill
    proc.wait()
    done = dict(tuple(map(int, ln.split())) for ln in lines if ln.strip())
    assert len(done) >= 4
    ds = DrivingDataset(root, history=1)
    # The kill may land between an episode's commit (rename) and its print: at most one more episode.
    extra = set(ds.episodes) - set(done)
    assert set(done) <= set(ds.episodes) and extra <= {max(done) + 1}
    for ep in ds.episodes:
        key = done.get(ep, ep)  # episode k was recorded with key k
        n = sum(1 for e in ds.index["episode"].to_pylist() if e == ep)
        assert n == 3 + key % 3 and ds.shard(ep).length == n  # complete, and checksums verify
    # a new recorder takes over the directory: stale temp files cleaned, ids continue
    with Recorder(root, RIG, GRID) as rec:
        assert not [p for p in (root / "episodes").iterdir() if p.name.startswith(".tmp-")]
        assert record_synthetic_episode(rec, 99, 2) == max(ds.episodes) + 1


def test_recorder_misuse_errors(tmp_path):
    with Recorder(tmp_path, RIG, GRID) as rec:
        with pytest.raises(RuntimeError, match="another recorder"):
            Recorder(tmp_path, RIG, GRID)
        with pytest.raises(ValueError, match="no recorded steps"):
            rec.end_episode(0, "x", 0)
        obs, labels, action, pose = synthetic_step([1, 2], [0, 0], RIG, GRID)
        rec.add_step(obs, labels, action, pose)
        with pytest.raises(ValueError, match="environment 0: obs.first is set"):
            rec.add_step(obs, labels, action, pose)
        with pytest.raises(ValueError, match="unknown infractions"):
            rec.add_step(obs, labels, action, pose, infractions={"speeding": torch.zeros(2, dtype=bool)})
        big, _, _, _ = synthetic_step([1], [0], make_rig(8, 16), GRID)
        with pytest.raises(ValueError, match="do not match the rig"):
            rec.add_step(big, labels, action, pose)
        obs1, bad_depth, _, _ = synthetic_step([1, 2], [1, 1], RIG, GRID)
        bad_depth.depth[1, 0, 0, 0] = float("inf")
        with pytest.raises(ValueError, match="depth: values up to inf do not fit float16"):
            rec.add_step(obs1, bad_depth, action, pose)
        bad_occ = synthetic_step([1, 2], [1, 1], RIG, GRID)[1]
        bad_occ.occupancy[0, 0, 0, 0] = 2
        with pytest.raises(ValueError, match="occupancy: a packed binary grid must hold only 0 and 1"):
            rec.add_step(obs1, bad_occ, action, pose)
        # the rejected steps left nothing behind: both episodes still hold exactly their first frame
        assert rec.pending(0) == 1 and rec.pending(1) == 1
        with pytest.raises(ValueError, match="Out of range float"):
            rec.end_episode(1, "x", 2, info={"min_ttc": float("inf")})  # JSON has no inf
        ep = rec.end_episode(1, "x", 2, info={"min_ttc": None})
    ds = DrivingDataset(tmp_path, history=1)
    clip = ds[0]
    assert ds.episode_info == {ep: {"min_ttc": None}}
    assert clip.meta[0].tolist() == [ep, 0, 2] and torch.equal(clip.obs.images[0, 0], obs.images[1])
    with pytest.raises(DatasetFormatError, match="another camera rig"):
        Recorder(tmp_path, make_rig(8, 16), GRID)


def test_clear_errors_for_bad_directories(tmp_path, recorded):
    with pytest.raises(DatasetFormatError, match="does not exist"):
        DrivingDataset(tmp_path / "nope")
    with pytest.raises(DatasetFormatError, match="meta.json is missing"):
        DrivingDataset(tmp_path)
    Recorder(tmp_path / "empty", RIG, GRID).close()
    with pytest.raises(DatasetFormatError, match="no committed episodes"):
        DrivingDataset(tmp_path / "empty")
    root, _ = recorded
    _copy_dataset(root, tmp_path / "old")
    meta_path = tmp_path / "old" / "meta.json"
    meta = json.loads(meta_path.read_text())
    meta["version"] = FORMAT_VERSION + 1
    meta_path.write_text(json.dumps(meta))
    with pytest.raises(DatasetFormatError, match=f"format version {FORMAT_VERSION + 1}"):
        DrivingDataset(tmp_path / "old")
    with pytest.raises(DatasetFormatError, match="no frames"):
        DrivingDataset(root, seeds=[12345])
    with pytest.raises(ValueError, match="history"):
        DrivingDataset(root, history=0)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_records_from_cuda_tensors(tmp_path):
    obs, labels, action, pose = synthetic_step([5], [0], RIG, GRID)
    with Recorder(tmp_path, RIG, GRID) as rec:
        cuda_action = Action.from_tensor(action.as_tensor().cuda())
        rec.add_step(obs.to("cuda"), labels.to("cuda"), cuda_action, pose.cuda())
        rec.end_episode(0, "x", 5)
    clip = DrivingDataset(tmp_path, history=1)[0]
    assert torch.equal(clip.obs.images[:, 0], obs.images) and torch.equal(clip.labels.boxes, labels.boxes)


def test_synthetic_helper_records_with_episode_ids(tmp_path):
    with Recorder(tmp_path, RIG, GRID) as rec:
        assert [record_synthetic_episode(rec, k, 2) for k in range(3)] == [0, 1, 2]
