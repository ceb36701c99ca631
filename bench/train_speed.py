"""Training throughput: samples/s of one optimisation step (forward, loss of every head, backward,
AdamW) on synthetic clips of the real shapes (8 cameras x 3 x 64 x 128, T frames, full labels).

    python -m bench.train_speed [--model driving] [--preset tiny] [--threads 2] [--batch-size 8] [--out FILE]

Data loading is excluded (clips are made once and reused): the figure is the network's cost. The
median over the timed steps is reported, after warm-up steps that pay for allocator growth.
"""

from __future__ import annotations

import json
import statistics
import time
from dataclasses import dataclass

import torch
import tyro

from e2edrive.train.models import build_model
from e2edrive.train.synthetic import SyntheticClips, cat_clips


@dataclass
class Args:
    model: str = "driving"
    """driving | dave2 | ego_mlp"""
    preset: str = "tiny"
    """preset of the driving network"""
    threads: int = 2
    """torch intra-op threads (the target laptop has 2 cores)"""
    batch_size: int = 8
    """clips per step"""
    history: int = 2
    """frames per clip"""
    warmup: int = 2
    """untimed steps first"""
    steps: int = 6
    """timed steps"""
    out: str | None = None
    """also write the result as JSON here"""
    device: str = "cpu"
    """cpu | cuda"""
    mode: str = "fp32"
    """fp32 | bf16 (autocast) | channels_last | bf16_channels_last: the speed options measured side by side"""
    semantic_head: bool = False
    """driving network only: with the optional semantic presence head (model.semantic_head) and its
    loss, to measure what the head costs beside a run without"""
    history_grad: bool = True
    """driving network only: back-propagate through the encoder on the clip's earlier frames too
    (DrivingConfig.history_grad; on by default, off in session 11), to measure what it costs"""


def measure(args: Args) -> dict:
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    device = torch.device(args.device)
    if args.model == "driving":
        from e2edrive.model.config import make_config
        from e2edrive.model.driving_model import DrivingModel

        cfg = make_config(args.preset, semantic_head=args.semantic_head, history_grad=args.history_grad)
        model = DrivingModel(cfg)
    else:
        model = build_model(args.model, args.preset)
    model = model.to(device)
    if "channels_last" in args.mode:
        model = model.to(memory_format=torch.channels_last)
    model.train()
    data = SyntheticClips(args.batch_size, args.history)
    batch = cat_clips([data[i] for i in range(args.batch_size)]).to(device)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4)
    times = []
    for i in range(args.warmup + args.steps):
        t0 = time.perf_counter()
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=args.mode.startswith("bf16")):
            out = model(batch.obs)
            loss, _ = model.loss(out, batch.labels)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        if i >= args.warmup:
            times.append(time.perf_counter() - t0)
    step_s = statistics.median(times)
    return {
        "model": args.model,
        "device": args.device,
        "mode": args.mode,
        "preset": args.preset if args.model == "driving" else None,
        "semantic_head": args.semantic_head if args.model == "driving" else None,
        "history_grad": args.history_grad if args.model == "driving" else None,
        "threads": args.threads,
        "batch_size": args.batch_size,
        "history": args.history,
        "params": sum(p.numel() for p in model.parameters()),
        "step_s_median": step_s,
        "samples_per_s": args.batch_size / step_s,
        "step_s_all": times,
    }


def main() -> None:
    args = tyro.cli(Args, description=__doc__)
    r = measure(args)
    print(
        "| model | preset | semantic head | history grad | device | mode | threads | batch x T | params "
        "| s/step (median) | samples/s |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    print(
        f"| {r['model']} | {r['preset'] or '-'} | {r['semantic_head']} | {r['history_grad']} | "
        f"{r['device']} | {r['mode']} | "
        f"{r['threads']} | "
        f"{r['batch_size']} x {r['history']} | "
        f"{r['params'] / 1e6:.2f} M | {r['step_s_median']:.3f} | {r['samples_per_s']:.1f} |"
    )
    if args.out:
        with open(args.out, "w") as f:
            json.dump(r, f, indent=2)


if __name__ == "__main__":
    main()
