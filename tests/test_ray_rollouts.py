"""Rollouts beyond one process: several writers on one dataset (plain Python), and `collect --ray` /
`eval --ray` against the plain run, with a worker killed mid-collect (Ray, skipped without it)."""

from __future__ import annotations

import importlib.util
import json
import os
import signal
import threading
import time
from pathlib import Path

import numpy as np
import pyarrow.compute as pc
import pytest

from e2edrive.commands import eval as eval_cmd
from e2edrive.commands.collect import CollectConfig, collect
from e2edrive.commands.collect import main as collect_main
from e2edrive.core.constants import BevGrid
from e2edrive.core.rig import make_rig
from e2edrive.data.dataset import DrivingDataset, index_parts, read_index
from e2edrive.data.recorder import Recorder
from e2edrive.data.shards import EpisodeShard
from e2edrive.data.synthetic import record_synthetic_episode
from e2edrive.data.writers import WORKER_ID_SPAN

RIG = make_rig(16, 32)
GRID = BevGrid(-4.0, 4.0, -3.0, 3.0)
HAVE_RAY = importlib.util.find_spec("ray") is not None
needs_ray = pytest.mark.skipif(not HAVE_RAY, reason="ray is not installed (pip install 'e2edrive[ray]')")
# num_envs 1: a shard's images depend on the batch it was rendered in (see test_batched_workers)
COLLECT = dict(scenario="lane_follow,cut_in,follow_lead", seeds="0:2", max_steps=5, num_envs=1)


def test_several_writers_share_one_dataset(tmp_path):
    root = tmp_path / "ds"
    with Recorder(root, RIG, GRID) as plain:
        record_synthetic_episode(plain, 100, 2)
        held = Recorder(root, RIG, GRID, worker=7)  # a running worker: its temp files must survive
        (root / "episodes" / ".tmp-w07-env00000.shard").write_bytes(b"in flight")
        (root / "episodes" / ".tmp-w05-env00000.shard").write_bytes(b"left by a dead worker 5")

        def write(worker: int) -> None:
            with Recorder(root, RIG, GRID, worker=worker) as rec:
                for k in range(3):
                    record_synthetic_episode(rec, 10 * worker + k, 2 + k)

        threads = [threading.Thread(target=write, args=(w,)) for w in (0, 1)]
        for t in threads:
            t.start()
        record_synthetic_episode(plain, 101, 3)  # the plain writer goes on beside them
        for t in threads:
            t.join()
        with pytest.raises(RuntimeError, match="worker id 7"):
            Recorder(root, RIG, GRID, worker=7)
        with pytest.raises(ValueError, match="0..99"):
            Recorder(root, RIG, GRID, worker=100)
        tmp = {p.name for p in (root / "episodes").iterdir() if p.name.startswith(".tmp-")}
        assert tmp == {".tmp-w07-env00000.shard"}  # worker 5's leftovers went, 7's stayed
        held.close()
    ds = DrivingDataset(root, history=1)
    span = WORKER_ID_SPAN
    assert ds.episodes == [0, 1, span, span + 1, span + 2, 2 * span, 2 * span + 1, 2 * span + 2]
    heads = ds.index.filter(pc.equal(ds.index["row"], 0))
    assert dict(zip(heads["episode"].to_pylist(), heads["seed"].to_pylist())) == {
        0: 100,
        1: 101,
        span: 0,
        span + 1: 1,
        span + 2: 2,
        2 * span: 10,
        2 * span + 1: 11,
        2 * span + 2: 12,
    }
    assert [int(p.stem) for p in index_parts(root)] == ds.episodes  # numeric order, not by name
    for k in range(len(ds)):
        ds[k]  # every frame reads, checksums verify
    with Recorder(root, RIG, GRID, worker=0) as rec:  # a worker reopening continues its own span
        assert record_synthetic_episode(rec, 9, 2) == span + 3


def test_ray_address_unreachable_is_one_line(tmp_path, capsys):
    out = tmp_path / "never"
    rc = collect_main(
        ["--out", str(out), "--scenario", "lane_follow", "--ray", "127.0.0.1:9", "--workers", "2"]
    )
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and len(err) == 1
    assert "--ray 127.0.0.1:9: no Ray cluster reachable" in err[0] or "pip install" in err[0]
    assert not out.exists()


# ------------------------------------------------------------------------------------- on Ray
@pytest.fixture(scope="module")
def ray_session():
    if not HAVE_RAY:
        pytest.skip("ray is not installed (pip install 'e2edrive[ray]')")
    import ray

    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield ray
    ray.shutdown()


def _episodes(root: Path) -> dict[tuple[str, int], EpisodeShard]:
    table, manifests, _ = read_index(root)
    heads = table.filter(pc.equal(table["row"], 0))
    cols = (heads[c].to_pylist() for c in ("episode", "scenario", "seed", "shard"))
    return {(s, seed): EpisodeShard(root / sh, manifests[ep]) for ep, s, seed, sh in zip(*cols)}


@pytest.fixture(scope="module")
def plain(tmp_path_factory):
    root = tmp_path_factory.mktemp("plain") / "ds"
    collect(CollectConfig(out=str(root), **COLLECT), progress=False)
    return _episodes(root)


def _checksums(eps: dict) -> dict:
    return {k: sh.manifest["sha256"] for k, sh in eps.items()}


@needs_ray
def test_collect_on_ray_equals_plain(ray_session, plain, tmp_path):
    root = tmp_path / "ray"
    assert collect_main(["--out", str(root), *_flags(COLLECT), "--ray", "local", "--workers", "2"]) == 0
    ray_eps = _episodes(root)
    assert _checksums(ray_eps) == _checksums(plain)  # same pairs, bit-identical shards
    assert {p.stem[0] for p in index_parts(root)} == {"1", "2"}  # workers 0 and 1, their own id spans


@needs_ray
def test_batched_workers(ray_session, plain, tmp_path):
    """num_envs 2 per worker: every array but the images equals the plain run's. The images differ
    because the renderer's ground texture is indexed by the cell of the batch's padded raster
    (sim/render/ground.py ground_lookup: row * padded width + col), so they depend on which maps
    share the batch: a plain collect with another --num-envs differs the same way."""
    root = tmp_path / "ray2"
    flags = _flags({**COLLECT, "num_envs": 2})
    assert collect_main(["--out", str(root), *flags, "--ray", "local", "--workers", "2"]) == 0
    ray_eps = _episodes(root)
    assert set(ray_eps) == set(plain)
    for k, sh in ray_eps.items():
        a, b = sh.records, plain[k].records
        for name in a.dtype.names:
            if name != "images":
                assert np.array_equal(a[name], b[name], equal_nan=True), (k, name)


@needs_ray
def test_eval_on_ray_prints_the_same_json(ray_session, capsys):
    argv = ["--driver", "expert", "--suite", "lane_follow,cut_in", "--seeds", "1000000:1000002"]
    argv += ["--num-envs", "2", "--json", "--no-progress"]
    assert eval_cmd.main(argv) == 0
    plain_json = capsys.readouterr().out
    assert eval_cmd.main([*argv, "--ray", "local", "--workers", "2"]) == 0
    ray_json = capsys.readouterr().out
    assert ray_json == plain_json and len(json.loads(ray_json)["episodes"]) == 4


@needs_ray
def test_killed_worker_loses_only_its_episode_in_flight(ray_session, plain, tmp_path):
    root = tmp_path / "killed"
    cfg = CollectConfig(out=str(root), **COLLECT, ray="local", workers=2)
    killed: list[int] = []

    def kill_worker_1_after_its_first_commit() -> None:
        deadline = time.time() + 50
        while time.time() < deadline:
            committed = [p for p in index_parts(root) if int(p.stem) >= 2 * WORKER_ID_SPAN]
            lock = root / ".lock-w01"
            if committed and lock.exists() and lock.read_text().strip():
                pid = int(lock.read_text())
                os.kill(pid, signal.SIGKILL)
                killed.append(pid)
                return
            time.sleep(0.01)

    killer = threading.Thread(target=kill_worker_1_after_its_first_commit)
    killer.start()
    from e2edrive.commands._ray import collect_on_ray

    summary = collect_on_ray(cfg)
    killer.join()
    assert killed and summary["crashes"] == 1
    assert summary["episodes"] == len(plain)
    ds = DrivingDataset(root, history=1)  # opens, every committed episode checks out
    heads = ds.index.filter(pc.equal(ds.index["row"], 0))
    pairs = list(zip(heads["scenario"].to_pylist(), heads["seed"].to_pylist()))
    assert sorted(pairs) == sorted(plain)  # each pair exactly once: the retry ran only the missing ones
    assert _checksums(_episodes(root)) == _checksums(plain)


def _flags(options: dict) -> list[str]:
    return [a for k, v in options.items() for a in (f"--{k.replace('_', '-')}", str(v))]
