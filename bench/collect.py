"""Recorder and reader throughput on synthetic frames (8 x 3 x 64 x 128 cameras + full labels).

    python -m bench.collect [--envs 4] [--steps 50] [--episodes-per-env 2] [--out DIR]

Frames are generated once and replayed, so the figure is the data room's cost alone: host copy,
float16/bit packing, buffering, checksums, fsync'd writes and the Parquet index. One torch thread.
"""

from __future__ import annotations

import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import torch
import tyro

from e2edrive.core.rig import make_rig
from e2edrive.data.dataset import DrivingDataset
from e2edrive.data.recorder import Recorder
from e2edrive.data.synthetic import synthetic_step


@dataclass
class Args:
    envs: int = 4
    """environments per batched step"""
    steps: int = 50
    """steps per episode"""
    episodes_per_env: int = 2
    """episodes each environment records"""
    out: str | None = None
    """dataset directory (default: a temp dir, deleted afterwards)"""
    history: int = 4
    """clip length for the read benchmark"""


def main(args: Args) -> dict:
    torch.set_num_threads(1)
    rig = make_rig()
    root = Path(args.out or tempfile.mkdtemp(prefix="e2edrive-bench-"))
    pool = [synthetic_step(list(range(args.envs)), [t] * args.envs, rig) for t in range(4)]
    try:
        start = time.perf_counter()
        with Recorder(root, rig) as rec:
            for _ in range(args.episodes_per_env):
                for t in range(args.steps):
                    obs, labels, action, pose = pool[t % len(pool)]
                    obs.first.fill_(t == 0)
                    rec.add_step(obs, labels, action, pose)
                for i in range(args.envs):
                    rec.end_episode(i, "bench", i)
        write_s = time.perf_counter() - start
        frames = args.envs * args.steps * args.episodes_per_env
        nbytes = sum(p.stat().st_size for p in root.rglob("*") if p.is_file())

        ds = DrivingDataset(root, history=args.history)
        n_read = min(len(ds), 200)
        order = torch.randperm(len(ds))[:n_read].tolist()
        start = time.perf_counter()
        for k in order:  # first pass: every episode is checksummed when first touched
            ds[k]
        read_s = time.perf_counter() - start
        start = time.perf_counter()
        for k in order:  # steady state of a training epoch: maps open, pages cached
            ds[k]
        warm_s = time.perf_counter() - start
        result = {
            "frames": frames,
            "write_frames_per_s": frames / write_s,
            "bytes_per_frame": nbytes / frames,
            "write_MB_per_s": nbytes / write_s / 1e6,
            "read_clips_per_s": n_read / read_s,
            "read_warm_clips_per_s": n_read / warm_s,
            "read_history": args.history,
        }
        print(
            f"wrote {frames} frames ({nbytes / frames / 1e3:.0f} kB/frame) in {write_s:.2f} s: "
            f"{result['write_frames_per_s']:.0f} frames/s, {result['write_MB_per_s']:.0f} MB/s"
        )
        print(
            f"read {n_read} random clips of {args.history} frames (checksums verified on first touch): "
            f"{result['read_clips_per_s']:.0f} clips/s; "
            f"again (maps open): {result['read_warm_clips_per_s']:.0f} clips/s"
        )
        return result
    finally:
        if args.out is None:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main(tyro.cli(Args))
