"""Rollout throughput of `e2edrive collect` (recorded frames/s): in process, and on 1 and 2 Ray
workers, side by side in one run.

    python -m bench.rollouts [--scenario basic] [--seeds 0:4] [--max-steps 20] [--num-envs 2]
                             [--repeats 3] [--out bench_rollouts.json]

Every row records the same (scenario, seed) jobs (world + 8-camera render + labels + expert +
recorder, fsync'd) into a fresh directory. The Ray rows use one local Ray started once (num_cpus =
the machine's cores); a warm-up collect per worker count starts the worker processes and imports
torch in them first (the in-process row warms up too), so the figures are steady-state
throughput, not start-up. frames/s = recorded frames / wall seconds of the collect, median over
repeats. Each worker uses one torch thread (Ray's default for a one-CPU task); the in-process row
uses `threads`.
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import tempfile
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import torch
import tyro

from e2edrive.commands._ray import collect_on_ray
from e2edrive.commands.collect import CollectConfig, collect


@dataclass
class Args:
    scenario: str = "basic"
    """scenarios to record (a suite name or comma-separated names)"""
    seeds: str = "0:4"
    """seed range per scenario"""
    max_steps: int = 20
    """steps per episode (the cut keeps every job the same length)"""
    num_envs: int = 2
    """environments per process (per Ray worker)"""
    repeats: int = 3
    """repeats per row; the median is reported"""
    threads: int = 1
    """torch threads of the in-process row (1: the same per-process work as one Ray worker)"""
    out: str | None = None
    """write the rows as JSON here"""


def _config(args: Args, out: Path) -> CollectConfig:
    from e2edrive.eval.suites import suite_scenarios

    names = ",".join(suite_scenarios(args.scenario))
    return CollectConfig(
        out=str(out), scenario=names, seeds=args.seeds, max_steps=args.max_steps, num_envs=args.num_envs
    )


def _measure(run, cfg: CollectConfig, repeats: int) -> dict:
    fps, frames = [], 0
    for _ in range(repeats):
        shutil.rmtree(cfg.out, ignore_errors=True)
        summary = run(cfg)
        frames = summary["frames"]
        fps.append(summary["frames"] / summary["seconds"])
    return {"frames": frames, "frames_per_s": statistics.median(fps), "min": min(fps), "max": max(fps)}


def main(args: Args) -> list[dict]:
    import ray

    torch.set_num_threads(args.threads)
    tmp = Path(tempfile.mkdtemp(prefix="bench_rollouts_"))
    base = _config(args, tmp / "ds")
    rows = []
    try:
        collect(replace(base, out=str(tmp / "warm"), max_steps=2), progress=False)  # lazy imports, caches
        row = _measure(lambda c: collect(c, progress=False), base, args.repeats)
        rows.append({"setup": f"in process ({args.threads} thread)", **row})
        ray.init(num_cpus=os.cpu_count() or 1, include_dashboard=False, log_to_driver=False)
        for workers in (1, 2):
            cfg = replace(base, ray="local", workers=workers)
            warm = replace(cfg, out=str(tmp / "warm"), max_steps=2)
            collect_on_ray(warm)  # worker processes started, torch imported
            row = _measure(collect_on_ray, cfg, args.repeats)
            rows.append({"setup": f"Ray, {workers} worker{'s' if workers > 1 else ''}", **row})
    finally:
        if ray.is_initialized():
            ray.shutdown()
        shutil.rmtree(tmp, ignore_errors=True)
    one = next(r for r in rows if r["setup"] == "Ray, 1 worker")["frames_per_s"]
    print(f"{args.scenario}, seeds {args.seeds}, {args.max_steps} steps, {args.num_envs} envs per process")
    print(f"{'setup':<26} {'frames':>7} {'frames/s':>9} {'min':>7} {'max':>7} {'vs 1 worker':>11}")
    for r in rows:
        ratio = r["frames_per_s"] / one
        print(
            f"{r['setup']:<26} {r['frames']:>7} {r['frames_per_s']:>9.1f} {r['min']:>7.1f} "
            f"{r['max']:>7.1f} {ratio:>10.2f}x"
        )
    if args.out:
        Path(args.out).write_text(json.dumps({"args": asdict(args), "rows": rows}, indent=2))
    return rows


if __name__ == "__main__":
    main(tyro.cli(Args, description=__doc__))
