"""Rendering throughput: e2edrive's batched 8-camera ray caster against highway-env's image
observation, side by side in one process.

    python -m bench.render --out render.json        # 16 envs, 8 cameras at 64 x 128, 2 threads

Setup: the hand-built test street (sim/render/testing.py: 9 actors, 60 barrier segments, 2
traffic lights), every camera rendered with RGB + depth + semantics. One repeat renders
`frames` batches; camera-frames/s = envs x cameras x frames / seconds; the table reports the
median over `repeats` repeats (and the min and max). highway-env is timed on the same threads:
`observe()` of its GrayscaleObservation (a pygame top-down render, 128 x 64, one frame per
call), and `step()` (its physics plus that render), frames/s each.
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
import tyro

from e2edrive.core.rig import DEFAULT_HEIGHT, DEFAULT_WIDTH, make_rig
from e2edrive.sim.render import Renderer
from e2edrive.sim.render.testing import make_test_scene


@dataclass
class Args:
    out: Path | None = None
    """write the results as JSON here"""
    envs: int = 16
    """environments rendered per batch"""
    height: int = DEFAULT_HEIGHT
    """image height, px"""
    width: int = DEFAULT_WIDTH
    """image width, px"""
    threads: int = 2
    """torch intra-op threads (highway-env is single-threaded Python)"""
    frames: int = 5
    """batches rendered per repeat"""
    repeats: int = 7
    """repeats; the median is reported"""
    highway_steps: int = 50
    """highway-env calls per repeat (observe and step each)"""
    skip_highway: bool = False
    """time e2edrive only"""
    device: str = "cpu"
    """torch device of the renderer"""


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def time_e2edrive(args: Args) -> list[float]:
    """Camera-frames/s of each repeat."""
    device = torch.device(args.device)
    rig = make_rig(args.height, args.width)
    renderer = Renderer(rig, device)
    scene = make_test_scene(args.envs, device)
    renderer.render(scene)  # warm-up: first-call allocations
    rates = []
    for _ in range(args.repeats):
        _sync(device)
        t = time.perf_counter()
        for _ in range(args.frames):
            renderer.render(scene)
        _sync(device)
        rates.append(args.envs * rig.num_cameras * args.frames / (time.perf_counter() - t))
    return rates


def time_highway(args: Args) -> tuple[list[float], list[float]]:
    """Frames/s of highway-env's observe() and step() for each repeat."""
    os.environ.setdefault("SDL_VIDEODRIVER", "dummy")
    import gymnasium
    import highway_env  # noqa: F401  (registers the environments)

    env = gymnasium.make("highway-fast-v0", config={"observation": {
        "type": "GrayscaleObservation", "observation_shape": (args.width, args.height), "stack_size": 1,
        "weights": [0.2989, 0.5870, 0.1140], "scaling": 1.75}})
    env.reset(seed=0)
    observe = env.unwrapped.observation_type.observe
    observe()
    obs_rates, step_rates = [], []
    for _ in range(args.repeats):
        t = time.perf_counter()
        for _ in range(args.highway_steps):
            observe()
        obs_rates.append(args.highway_steps / (time.perf_counter() - t))
        t = time.perf_counter()
        for _ in range(args.highway_steps):
            _, _, terminated, truncated, _ = env.step(1)  # IDLE
            if terminated or truncated:
                env.reset()
        step_rates.append(args.highway_steps / (time.perf_counter() - t))
    env.close()
    return obs_rates, step_rates


def _row(name: str, what: str, rates: list[float]) -> dict:
    return {"renderer": name, "what": what, "median_fps": statistics.median(rates),
            "min_fps": min(rates), "max_fps": max(rates)}


def main(args: Args) -> list[dict]:
    torch.set_num_threads(args.threads)
    rows = [_row("e2edrive", f"{args.envs} envs x 8 cameras {args.height}x{args.width}, RGB+depth+semantics",
                 time_e2edrive(args))]
    if not args.skip_highway:
        obs, step = time_highway(args)
        rows.append(_row("highway-env", f"GrayscaleObservation.observe() {args.width}x{args.height}", obs))
        rows.append(_row("highway-env", "env.step() (physics + observation)", step))
    print("| renderer | what | median frames/s | min | max |\n|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['renderer']} | {r['what']} | {r['median_fps']:.0f} | {r['min_fps']:.0f} | {r['max_fps']:.0f} |")
    if args.out is not None:
        meta = {"args": {k: str(v) for k, v in asdict(args).items()}, "torch": torch.__version__,
                "machine": platform.processor() or platform.machine(), "cpu_count": os.cpu_count()}
        args.out.write_text(json.dumps({"meta": meta, "results": rows}, indent=2))
    return rows


if __name__ == "__main__":
    main(tyro.cli(Args))
