"""Dream speed: control steps per second of the world model's DreamEnv with 8 cameras, beside the
simulator (World.step + the 8-camera Renderer + observation) in the same process.

    python -m bench.dream --out dream.json        # tiny preset, 64 x 128 cameras, 2 threads
    python -m bench.dream --checkpoint runs/tiny  # and the dream with that network driving

Both run from a lane_follow context: the dream is started from a live World (K real frames), then
a constant-velocity driver drives both for `steps` steps per repeat; one dream step is the
dynamics model plus the decoding of the 8 cameras' RGB (what a camera driver needs), one
simulator step is World.step plus rendering the 8 cameras. Untrained weights: speed does not
depend on them. The table reports the median over `repeats` (and the min and max), per wall
second and per CPU second of this process (the one to trust on a shared machine).
With --checkpoint, a third row `dream_policy` is the dream driven by that network (one step = the
network's act on the decoded cameras + the dream step: the issue's "tiny policy acting" budget,
reported as ms per step too).
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import time
from dataclasses import dataclass
from pathlib import Path

import torch
import tyro

from e2edrive.core.rig import make_rig
from e2edrive.eval.drivers import ConstantVelocityDriver, PolicyDriver, load_policy
from e2edrive.sim.render import Renderer
from e2edrive.sim.world import World
from e2edrive.worldmodel.config import preset
from e2edrive.worldmodel.context import WorldStart
from e2edrive.worldmodel.dream_env import DreamEnv
from e2edrive.worldmodel.model import WorldModel


@dataclass
class Args:
    out: Path | None = None
    """write the results as JSON here"""
    batches: tuple[int, ...] = (1, 16)
    """batch sizes (environments stepped together)"""
    preset: str = "tiny"
    """world model preset"""
    steps: int = 10
    """control steps per repeat"""
    repeats: int = 5
    """repeats; the median is reported"""
    threads: int = 2
    """torch intra-op threads"""
    device: str = "cpu"
    """torch device"""
    checkpoint: str | None = None
    """a trained driving run: also time the dream with this network acting"""


def _sync(device: str) -> None:
    if str(device).startswith("cuda"):
        torch.cuda.synchronize()


def _rate(fn, steps: int) -> tuple[float, float]:
    """(steps per wall second, steps per process-CPU second) of fn, which runs `steps` steps."""
    t, c = time.perf_counter(), time.process_time()
    fn()
    return steps / (time.perf_counter() - t), steps / max(1e-9, time.process_time() - c)


def _drive(env, driver, steps: int, renderer=None) -> None:
    for _ in range(steps):
        images = renderer.render(env.scene()).rgb if renderer is not None else None
        obs = env.observation(images) if renderer is not None else env.observation()
        action, _, _ = driver.act(obs)
        env.step(action)


def bench(args: Args, batch: int) -> dict:
    rig = make_rig()
    model = WorldModel(preset(args.preset, rig)).to(args.device).eval()
    pairs = [("lane_follow", s) for s in range(batch)]
    dream = DreamEnv(model, WorldStart(rig, model.cfg.context, args.device), pairs)
    world = World([p[0] for p in pairs], [p[1] for p in pairs], device=args.device, rig=rig)
    renderer = Renderer(rig, world.device)
    out = {}
    envs = [
        ("dream", dream, None, ConstantVelocityDriver),
        ("world_render", world, renderer, ConstantVelocityDriver),
    ]
    if args.checkpoint is not None:
        policy = load_policy(args.checkpoint, None, rig, args.device)
        envs.append(("dream_policy", dream, None, lambda: PolicyDriver(policy)))
    for name, env, r, make in envs:
        driver = make()
        driver.reset(batch, env.device)
        _drive(env, driver, 2, r)  # warm-up
        runs = []
        for _ in range(args.repeats):
            env.reset()  # fresh episodes: no environment runs into its time limit
            driver.reset(batch, env.device)
            _sync(args.device)
            runs.append(
                _rate(
                    lambda env=env, driver=driver, r=r: (
                        _drive(env, driver, args.steps, r),
                        _sync(args.device),
                    ),
                    args.steps,
                )
            )
        wall, cpu = [x[0] for x in runs], [x[1] for x in runs]
        out[name] = {
            "steps_per_s": statistics.median(wall),
            "min": min(wall),
            "max": max(wall),
            "steps_per_cpu_s": statistics.median(cpu),
            "env_steps_per_s": batch * statistics.median(wall),
            "ms_per_step": 1000 / statistics.median(wall),
        }
    return out


def main() -> None:
    args = tyro.cli(Args)
    torch.set_num_threads(args.threads)
    results = {"batch": {}, "preset": args.preset, "steps": args.steps, "repeats": args.repeats}
    print(
        f"{'batch':>5} {'env':<13} {'steps/s':>8} {'(min-max)':>14} {'steps/CPU-s':>12} {'env-steps/s':>12}"
    )
    for b in args.batches:
        results["batch"][b] = bench(args, b)
        for name, r in results["batch"][b].items():
            print(
                f"{b:>5} {name:<13} {r['steps_per_s']:>8.1f} {r['min']:>6.1f}-{r['max']:<7.1f} "
                f"{r['steps_per_cpu_s']:>12.1f} {r['env_steps_per_s']:>12.1f}"
            )
    results["machine"] = {
        "cpu": platform.processor() or platform.machine(),
        "cores": os.cpu_count(),
        "threads": args.threads,
        "torch": torch.__version__,
        "load": os.getloadavg()[0],
        "device": args.device,
        "gpu": torch.cuda.get_device_name() if args.device.startswith("cuda") else None,
    }
    if args.out is not None:
        args.out.write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
