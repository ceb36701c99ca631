"""Inference latency of the streaming step `act`: eager PyTorch vs torch.compile vs ONNX Runtime,
side by side in one run, plus parameters and GFLOPs per model.

    python -m bench.latency --out latency.json            # tiny + baselines, 2 threads, 200 steps

Setup (the goal: tiny p50 <= 28 ms on a 2-core laptop CPU, i.e. a 10 Hz loop with room for the
simulator): batch 1, the default 8-camera rig (64 x 128 each), 2 intra-op threads for every
backend, the recurrent state fed back every step as in closed loop. Each backend runs `warmup`
untimed steps, then `steps` timed ones; p50 and p90 are over the timed steps. Input checks of the
full network (NaN scans) are off for all three backends, so they time the same computation; the
exported graph has none. The observations cycle through 8 random frames: latency does not depend
on pixel values.
"""

from __future__ import annotations

import json
import os
import platform
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
import tyro

from e2edrive.model.export import (
    OBS_INPUTS,
    OUTPUTS,
    ActAdapter,
    example_observation,
    export_onnx,
    flatten_state,
    observation_tensors,
    ort_feed,
    ort_session,
)
from e2edrive.model.flops import ActCost, act_cost, build_policy

BACKENDS = ("eager", "compile", "onnxruntime")


@dataclass
class Args:
    out: Path | None = None
    """write the results as JSON here"""
    models: tuple[str, ...] = ("tiny", "dave2", "ego_mlp")
    """models timed on every backend: presets (tiny, base, large) or baselines (dave2, ego_mlp)"""
    cost_models: tuple[str, ...] = ("tiny", "base", "large", "dave2", "ego_mlp")
    """models whose parameters and GFLOPs are counted (no timing)"""
    backends: tuple[str, ...] = BACKENDS
    """subset of eager, compile, onnxruntime"""
    threads: int = 2
    """intra-op threads of torch and of ONNX Runtime"""
    steps: int = 200
    """timed steps per backend (at least 100 for a stable p90)"""
    warmup: int = 20
    """untimed steps first (allocator growth, compile, ORT arena)"""


@dataclass
class Latency:
    model: str
    backend: str
    p50_ms: float | None
    p90_ms: float | None
    mean_ms: float | None
    steps: int
    error: str | None = None
    """why this backend could not run (e.g. no C++ compiler for torch.compile)"""


def time_loop(step, state, warmup: int, steps: int) -> list[float]:
    """Run state = step(i, state) warmup + steps times; ms per timed step."""
    for i in range(warmup):
        state = step(i, state)
    times = []
    for i in range(steps):
        t0 = time.perf_counter()
        state = step(i, state)
        times.append((time.perf_counter() - t0) * 1e3)
    return times


def bench_model(name: str, args: Args, workdir: Path) -> list[Latency]:
    torch.manual_seed(0)
    policy, rig = build_policy(name)
    policy = policy.eval()
    if hasattr(policy, "validate_inputs"):
        policy.validate_inputs = False
    adapter = ActAdapter.build(policy, rig, 1).eval()
    frames = [example_observation(rig, 1, seed=s) for s in range(8)]
    feeds = [observation_tensors(obs) for obs in frames]
    state0 = tuple(flatten_state(policy.init_state(1, "cpu"))[0])
    n_out = len(OUTPUTS)

    def torch_step(fn):
        def step(i, state):
            return fn(*feeds[i % len(feeds)], *state)[n_out:]

        return step

    results = []
    for backend in args.backends:
        try:
            with torch.inference_mode():
                if backend == "eager":
                    times = time_loop(torch_step(adapter), state0, args.warmup, args.steps)
                elif backend == "compile":
                    torch._dynamo.reset()
                    compiled = torch.compile(adapter, dynamic=False)
                    times = time_loop(torch_step(compiled), state0, args.warmup, args.steps)
                elif backend == "onnxruntime":
                    path = export_onnx(policy, rig, workdir / f"{name}.onnx")
                    session = ort_session(path, threads=args.threads)
                    state_names = adapter.state_names()[0]
                    names = [*OBS_INPUTS, *state_names]
                    np_feeds = [ort_feed(session, (*f, *state0), names) for f in feeds]

                    def ort_step(i, state, session=session, np_feeds=np_feeds, state_names=state_names):
                        feed = dict(np_feeds[i % len(np_feeds)])
                        feed.update(zip(state_names, state))
                        return session.run(None, feed)[n_out:]

                    times = time_loop(ort_step, [t.numpy() for t in state0], args.warmup, args.steps)
                else:
                    raise ValueError(f"unknown backend {backend!r}; known: {BACKENDS}")
        except Exception as e:  # a backend that cannot run here is reported, not fatal
            results.append(Latency(name, backend, None, None, None, 0, f"{type(e).__name__}: {e}"[:300]))
            print(f"  {name} {backend}: FAILED {results[-1].error}", file=sys.stderr)
            continue
        t = np.asarray(times)
        results.append(
            Latency(
                name,
                backend,
                float(np.percentile(t, 50)),
                float(np.percentile(t, 90)),
                float(t.mean()),
                len(t),
            )
        )
        print(
            f"  {name} {backend}: p50 {results[-1].p50_ms:.2f} ms, p90 {results[-1].p90_ms:.2f} ms",
            file=sys.stderr,
        )
    return results


def markdown(latency: list[Latency], costs: list[ActCost], args: Args) -> str:
    cols = [b for b in BACKENDS if b in args.backends]
    lines = [
        f"act latency, batch 1, {args.threads} threads, ms p50 / p90 over {args.steps} steps",
        "",
        "| model | " + " | ".join(cols) + " |",
        "|---|" + "---:|" * len(cols),
    ]
    by = {(r.model, r.backend): r for r in latency}
    for m in args.models:
        cells = []
        for b in cols:
            r = by[(m, b)]
            cells.append("failed" if r.p50_ms is None else f"{r.p50_ms:.2f} / {r.p90_ms:.2f}")
        lines.append(f"| {m} | " + " | ".join(cells) + " |")
    lines += ["", "| model | params (M) | GFLOPs / act step |", "|---|---:|---:|"]
    lines += [f"| {c.name} | {c.params / 1e6:.3f} | {c.gflops:.3f} |" for c in costs]
    return "\n".join(lines)


def environment(args: Args) -> dict:
    import onnxruntime

    return {
        "torch": torch.__version__,
        "onnxruntime": onnxruntime.__version__,
        "python": platform.python_version(),
        "cpu": platform.processor() or platform.machine(),
        "cpu_count": os.cpu_count(),
        "threads": args.threads,
        "load_average_1_5_15": os.getloadavg(),
        "batch": 1,
        "rig": "default 8 cameras, 64x128",
    }


def main(argv: list[str] | None = None) -> int:
    args = tyro.cli(Args, args=argv, prog="python -m bench.latency")
    if args.steps < 1 or args.warmup < 0:
        raise SystemExit("steps must be >= 1 and warmup >= 0")
    torch.set_num_threads(args.threads)
    load = os.getloadavg()[0]
    if load > (os.cpu_count() or 1) - args.threads:
        print(
            f"warning: load average {load:.1f} on {os.cpu_count()} cores: other processes compete for "
            "the CPU and the timings will be inflated (threaded backends suffer most)",
            file=sys.stderr,
        )
    latency: list[Latency] = []
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.models:
            print(f"timing {name} ...", file=sys.stderr)
            latency += bench_model(name, args, Path(tmp))
    torch.set_num_threads(1)  # counting FLOPs needs no speed
    costs = [act_cost(name) for name in args.cost_models]
    print(markdown(latency, costs, args))
    if args.out is not None:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        report = {
            "environment": environment(args),
            "args": {k: str(v) for k, v in asdict(args).items()},
            "latency": [asdict(r) for r in latency],
            "cost": [asdict(c) for c in costs],
        }
        args.out.write_text(json.dumps(report, indent=1))
        print(f"wrote {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
