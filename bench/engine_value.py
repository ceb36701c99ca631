"""The data engine's value, measured: trigger-mined clips against randomly chosen clips.

    python -m bench.engine_value --quickstart runs/quickstart [--seeds 0 1 2] [--steps 400]

From the network that drove the quickstart's first engine round (OUT/runs/driving-round0) and the
dataset that round grew, two arms continue training for the same number of optimisation steps
on the same frames plus an equal number of added frames: `mined`, the round's triggered clips
(the quickstart's own query), and `random`, clips of the same lengths at random places of random
episodes of the same dataset. Each arm is driven closed loop on the same unseen `corner` seeds
(paired), once per training seed; the table gives each seed's pass rates and the mean and spread
of the paired difference. Whichever way it falls, it goes into BENCHMARKS.md.
"""

from __future__ import annotations

import json
import random
import statistics
import time
from dataclasses import dataclass, field
from pathlib import Path

import torch
import tyro


@dataclass
class Args:
    quickstart: str = "runs/quickstart"
    """a finished quickstart's output directory (data/train, runs/driving-round0)"""
    seeds: list[int] = field(default_factory=lambda: [0, 1, 2])
    """training seeds (initial order of batches, dropout); one paired comparison each"""
    steps: int = 400
    """optimisation steps of each arm"""
    repeat: int = 2
    """times the added clips' frames are repeated (as the quickstart's mined_repeat)"""
    eval_seeds: int = 4
    """closed-loop episodes per corner scenario (seeds from 1,000,000), the same for both arms"""
    num_envs: int = 8
    """environments simulated together in evaluation"""
    out: str | None = None
    """write the results as JSON here"""


def random_clips(dataset_index, like, rng: random.Random):
    """Clips with the lengths of `like`, at uniformly random places of random episodes."""
    from e2edrive.data.manifest import ClipRef

    lengths: dict[int, int] = {}
    for ep in dataset_index["episode"].to_pylist():
        lengths[ep] = lengths.get(ep, 0) + 1
    episodes = sorted(lengths)
    out = []
    for c in like:
        ep = rng.choice(episodes)
        n = min(c.frames, lengths[ep])
        start = rng.randrange(0, lengths[ep] - n + 1)
        out.append(ClipRef(ep, start, start + n - 1, "random", 0.0))
    return out


def run_arm(args: Args, qs: Path, clips, seed: int, name: str) -> tuple[float, int]:
    """Continue the round-0 network on data + clips for args.steps -> (corner pass rate, distinct
    added frames)."""
    from e2edrive.commands.quickstart_engine import prioritized_dataset
    from e2edrive.eval.drivers import PolicyDriver, load_policy
    from e2edrive.eval.runner import run_closed_loop
    from e2edrive.eval.suites import SUITES, default_eval_seeds
    from e2edrive.train.config import TrainConfig
    from e2edrive.train.loop import train

    out = qs / "engine_value" / f"{name}-seed{seed}"
    done = out / "arm.json"
    if done.exists():  # an arm already measured (the experiment resumes arm by arm)
        saved = json.loads(done.read_text())
        return saved["pass_rate"], saved["added_frames"]
    dataset = prioritized_dataset(qs / "data" / "train", 2, clips, args.repeat)
    if not (out / "checkpoint" / "config.json").exists():  # trained before a crash: evaluate only
        if out.exists():
            import shutil

            shutil.rmtree(out)
        cfg = TrainConfig(
            data=str(qs / "data" / "train"), out=str(out), epochs=10**6, batch_size=8, lr=3e-4,
            warmup_steps=20, max_steps=args.steps, seed=seed, checkpoint_every=10**6, progress=False,
        )  # fmt: skip
        train(cfg, model=load_policy(qs / "runs" / "driving-round0"), dataset=dataset)
    pairs = [(s, k) for s in SUITES["corner"] for k in default_eval_seeds(args.eval_seeds)]
    driver = PolicyDriver(load_policy(out))
    results = run_closed_loop(driver, pairs, args.num_envs, progress=False)
    rate = sum(r.passed for r in results) / len(results)
    per_scenario: dict[str, int] = {}
    for r in results:
        per_scenario[r.scenario] = per_scenario.get(r.scenario, 0) + int(r.passed)
    arm = {"pass_rate": rate, "added_frames": dataset.mined_frames, "passed_by_scenario": per_scenario}
    done.write_text(json.dumps(arm, indent=1))
    return rate, dataset.mined_frames


def main() -> None:
    args = tyro.cli(Args, description=__doc__)
    torch.set_num_threads(2)
    from e2edrive.commands.quickstart_engine import MINE_SQL
    from e2edrive.data.dataset import read_index
    from e2edrive.data.mining import mine

    qs = Path(args.quickstart)
    data = qs / "data" / "train"
    mined, _ = mine(data, MINE_SQL)
    index, _, _ = read_index(data)
    rows = []
    for seed in args.seeds:
        t0 = time.perf_counter()
        rand = random_clips(index, mined, random.Random(seed))
        m, m_frames = run_arm(args, qs, mined, seed, "mined")
        r, r_frames = run_arm(args, qs, rand, seed, "random")
        rows.append(
            {"seed": seed, "mined": m, "random": r, "diff": m - r, "mined_frames": m_frames,
             "random_frames": r_frames, "seconds": time.perf_counter() - t0}
        )  # fmt: skip
        print(
            f"seed {seed}: corner pass mined {m:.1%}, random {r:.1%} ({rows[-1]['seconds']:.0f} s)",
            flush=True,
        )
    diffs = [x["diff"] for x in rows]
    summary = {
        "clips": len(mined),
        "added_frames": sum(c.frames for c in mined),
        "steps": args.steps,
        "eval_episodes_per_arm": 7 * args.eval_seeds,
        "mean_diff": statistics.mean(diffs),
        "stdev_diff": statistics.stdev(diffs) if len(diffs) > 1 else float("nan"),
        "rows": rows,
    }
    print(
        "| training seed | corner pass, mined | corner pass, random | mined - random | added frames m / r |"
    )
    print("|---:|---:|---:|---:|---:|")
    for x in rows:
        print(
            f"| {x['seed']} | {x['mined']:.1%} | {x['random']:.1%} | {x['diff']:+.1%} | "
            f"{x['mined_frames']} / {x['random_frames']} |"
        )
    print(
        f"mean difference {summary['mean_diff']:+.1%} (stdev {summary['stdev_diff']:.1%}) "
        f"over {len(rows)} seeds"
    )
    if args.out:
        Path(args.out).write_text(json.dumps(summary, indent=1))


if __name__ == "__main__":
    main()
