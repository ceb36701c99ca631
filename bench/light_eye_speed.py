"""The light-eye stage's step (train.light_eye): on the eye's logits alone against through the whole
network, side by side in one run, on synthetic one-frame clips of the real shapes (8 cameras x 3 x
64 x 128). Data loading is excluded: the figure is the network's cost.

    python -m bench.light_eye_speed [--threads 2] [--batch-size 16] [--steps 20] [--out FILE]

Both modes train the same parameters (the eye's; the rest frozen, in eval mode, as in the stage).
"""

from __future__ import annotations

import json
import statistics
import time
from dataclasses import dataclass

import torch
import torch.nn.functional as F
import tyro

from e2edrive.model.config import make_config
from e2edrive.model.driving_model import DrivingModel
from e2edrive.model.synthetic import synthetic_clip
from e2edrive.train.light_eye import eye_logits


@dataclass
class Args:
    threads: int = 2
    """torch intra-op threads (the target laptop has 2 cores)"""
    batch_size: int = 16
    """one-frame clips per step (the stage's default)"""
    warmup: int = 3
    steps: int = 20
    """timed steps per mode"""
    out: str | None = None
    """also write the result as JSON here"""


def _step_seconds(model: DrivingModel, obs, target, alone: bool, args: Args) -> list[float]:
    opt = torch.optim.Adam(model.light_eye.parameters(), lr=1e-3)
    times = []
    for i in range(args.warmup + args.steps):
        t0 = time.perf_counter()
        logits = eye_logits(model, obs) if alone else model(obs).traffic_light
        loss = F.cross_entropy(logits, target)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if i >= args.warmup:
            times.append(time.perf_counter() - t0)
    return times


def measure(args: Args) -> dict:
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    model = DrivingModel(make_config("tiny")).eval()
    for n, p in model.named_parameters():
        p.requires_grad_(n.startswith("light_eye."))
    clip = synthetic_clip(batch=args.batch_size, frames=1, seed=0)
    target = clip.labels.traffic_light.long()
    result = {"threads": args.threads, "batch_size": args.batch_size, "steps": args.steps}
    for name, alone in (("whole network", False), ("eye alone", True)):
        times = _step_seconds(model, clip.obs, target, alone, args)
        result[name] = {"step_s_median": statistics.median(times), "step_s_all": times}
    result["speedup"] = result["whole network"]["step_s_median"] / result["eye alone"]["step_s_median"]
    return result


def main() -> None:
    args = tyro.cli(Args, description=__doc__)
    r = measure(args)
    print(f"| light-eye step ({args.batch_size} one-frame clips, {args.threads} threads) | s/step (median) |")
    print("|---|---:|")
    for name in ("whole network", "eye alone"):
        print(f"| {name} | {r[name]['step_s_median']:.4f} |")
    print(f"eye alone is {r['speedup']:.1f}x faster per step")
    if args.out:
        with open(args.out, "w") as f:
            json.dump(r, f, indent=2)


if __name__ == "__main__":
    main()
