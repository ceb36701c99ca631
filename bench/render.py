"""Rendering throughput: e2edrive's batched 8-camera ray caster against highway-env's image
observation, side by side in one process.

    python -m bench.render --out render.json        # 16 envs, 8 cameras at 64 x 128, 2 threads

Setup: the hand-built test street (sim/render/testing.py: 9 actors, 60 barrier segments, 2
traffic lights), or with `--world SUITE` the scenes of a World of those scenarios (junctions,
cross traffic), every camera rendered with RGB + depth + semantics. One repeat renders
`frames` batches; camera-frames/s = envs x cameras x frames / seconds; the table reports the
median over `repeats` repeats (and the min and max). highway-env is timed on the same threads:
`observe()` of its GrayscaleObservation (a pygame top-down render, 128 x 64, one frame per
call), and `step()` (its physics plus that render), frames/s each. Every figure is also given
per CPU-second of this process (process_time), the one to trust on a shared machine.
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
    labels: bool = False
    """also time make_labels (ms per batch of `envs`) on the test street and on a World scene"""
    world: str | None = None
    """render the scene of a World of these scenarios (a suite or names, seeds 0.., after
    `world_steps` expert steps) instead of the test street, e.g. `--world urban`"""
    world_steps: int = 80
    """expert steps driven before the World's scene is taken (the ego near its junction)"""


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _timed(fn, count: int) -> tuple[float, float]:
    """(items per wall second, items per process-CPU second) of one call of fn producing count items."""
    t, c = time.perf_counter(), time.process_time()
    fn()
    return count / (time.perf_counter() - t), count / (time.process_time() - c)


def time_e2edrive(args: Args) -> tuple[list[float], list[float]]:
    """Camera-frames per wall second and per CPU second of each repeat."""
    device = torch.device(args.device)
    rig = make_rig(args.height, args.width)
    renderer = Renderer(rig, device)
    scene = make_test_scene(args.envs, device) if args.world is None else world_scene(args, device)
    renderer.render(scene)  # warm-up: first-call allocations

    def run() -> None:
        for _ in range(args.frames):
            renderer.render(scene)
        _sync(device)

    results = [_timed(run, args.envs * rig.num_cameras * args.frames) for _ in range(args.repeats)]
    return [w for w, _ in results], [c for _, c in results]


def world_scene(args: Args, device: torch.device):
    """The scene of a World cycling through args.world's scenarios after world_steps expert steps."""
    from e2edrive.eval.suites import suite_scenarios
    from e2edrive.sim.world import World

    names = suite_scenarios(args.world)
    world = World([names[i % len(names)] for i in range(args.envs)], list(range(args.envs)), device)
    with torch.no_grad():
        for _ in range(args.world_steps):
            world.step(world.expert().action)
    return world.scene()


def time_labels(args: Args) -> dict[str, float]:
    """Median ms of make_labels(scene) per batch of `envs`, on the test street and on the scene
    of a World of lane_follow episodes (seeds 0..envs-1)."""
    from e2edrive.sim.labels import make_labels
    from e2edrive.sim.world import World

    device = torch.device(args.device)
    scenes = {
        "test street": make_test_scene(args.envs, device),
        "World lane_follow": World(["lane_follow"] * args.envs, list(range(args.envs)), device).scene(),
    }
    out = {}
    for name, scene in scenes.items():
        make_labels(scene)  # warm-up
        times = []
        for _ in range(args.repeats * args.frames):
            t = time.perf_counter()
            make_labels(scene)
            _sync(device)
            times.append((time.perf_counter() - t) * 1e3)
        out[name] = statistics.median(times)
    return out


def time_highway(args: Args) -> tuple[list[tuple[float, float]], list[tuple[float, float]]]:
    """(wall, CPU) frames/s of highway-env's observe() and step() for each repeat."""
    os.environ.setdefault("SDL_VIDEODRIVER", "dummy")
    import gymnasium
    import highway_env  # noqa: F401  (registers the environments)

    env = gymnasium.make(
        "highway-fast-v0",
        config={
            "observation": {
                "type": "GrayscaleObservation",
                "observation_shape": (args.width, args.height),
                "stack_size": 1,
                "weights": [0.2989, 0.5870, 0.1140],
                "scaling": 1.75,
            }
        },
    )
    env.reset(seed=0)
    observe = env.unwrapped.observation_type.observe
    observe()

    def observe_all() -> None:
        for _ in range(args.highway_steps):
            observe()

    def step_all() -> None:
        for _ in range(args.highway_steps):
            _, _, terminated, truncated, _ = env.step(1)  # IDLE
            if terminated or truncated:
                env.reset()

    obs = [_timed(observe_all, args.highway_steps) for _ in range(args.repeats)]
    step = [_timed(step_all, args.highway_steps) for _ in range(args.repeats)]
    env.close()
    return obs, step


def _row(name: str, what: str, wall: list[float], cpu: list[float]) -> dict:
    return {
        "renderer": name,
        "what": what,
        "median_fps": statistics.median(wall),
        "min_fps": min(wall),
        "max_fps": max(wall),
        "median_fps_per_cpu_s": statistics.median(cpu),
    }


def main(args: Args) -> list[dict]:
    torch.set_num_threads(args.threads)
    load_before = os.getloadavg()
    wall, cpu = time_e2edrive(args)
    what = f"{args.envs} envs x 8 cameras {args.height}x{args.width}, RGB+depth+semantics"
    if args.world is not None:
        what += f", World scene of {args.world}"
    rows = [_row("e2edrive", what, wall, cpu)]
    if args.labels:
        for name, ms in time_labels(args).items():
            print(f"make_labels, {name}, B={args.envs}: median {ms:.1f} ms")
    if not args.skip_highway:
        obs, step = time_highway(args)
        what = f"GrayscaleObservation.observe() {args.width}x{args.height}"
        rows.append(_row("highway-env", what, [w for w, _ in obs], [c for _, c in obs]))
        rows.append(
            _row(
                "highway-env",
                "env.step() (physics + observation)",
                [w for w, _ in step],
                [c for _, c in step],
            )
        )
    # frames per CPU-second is the figure to trust on a shared machine (load average below):
    # wall time there includes waiting for the CPU, and spin-waiting threads inflate both.
    print("| renderer | what | median frames/s | min | max | frames per CPU-s |\n|---|---|---|---|---|---|")
    for r in rows:
        print(
            f"| {r['renderer']} | {r['what']} | {r['median_fps']:.0f} | {r['min_fps']:.0f} "
            f"| {r['max_fps']:.0f} | {r['median_fps_per_cpu_s']:.0f} |"
        )
    print(
        f"load average before: {load_before[0]:.1f}, after: {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs"
    )
    if args.out is not None:
        meta = {
            "args": {k: str(v) for k, v in asdict(args).items()},
            "torch": torch.__version__,
            "machine": platform.processor() or platform.machine(),
            "cpu_count": os.cpu_count(),
            "load_average_1min": [load_before[0], os.getloadavg()[0]],
        }
        args.out.write_text(json.dumps({"meta": meta, "results": rows}, indent=2))
    return rows


if __name__ == "__main__":
    main(tyro.cli(Args))
