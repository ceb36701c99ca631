"""`e2edrive drive`: drive scenarios with a driver, batched, and report per-scenario results.

Episodes (scenario, seed) stream through `--num-envs` parallel environments: when one ends its
result is taken and the next episode starts in its slot, so a sweep of thousands of episodes runs
at full batch. `--json` prints one JSON object (episodes + summary); `--video` writes the
8-camera mosaic beside the top-down view of slot 0's episodes.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass

import torch
import tyro

from e2edrive.core.env import Driver
from e2edrive.core.seeding import parse_seed_range
from e2edrive.sim.expert.driver import ExpertDriver
from e2edrive.sim.metrics import EpisodeResult, summarize
from e2edrive.sim.scenarios import resolve_scenarios
from e2edrive.sim.world import World

# name -> factory; the eval room registers learned drivers here through cli wiring
DRIVERS: dict[str, Callable[[], Driver]] = {
    "expert": ExpertDriver,
    "expert_noisy": lambda: ExpertDriver(noise=True),
}


@dataclass
class DriveArgs:
    """Drive scenarios with a driver and report the results."""

    scenario: str = "all"
    """scenario name, comma-separated names, or 'all'"""
    seeds: str = "0:3"
    """seed range 'A:B' (B excluded) or a single seed 'A'"""
    driver: str = "expert"
    """driver name (see DRIVERS)"""
    video: str | None = None
    """write an MP4 of the first environment's episodes: 8-camera mosaic beside the top-down view"""
    json: bool = False
    """print one JSON object (episodes and summary) instead of the table"""
    num_envs: int = 64
    """parallel environments"""
    device: str = "cpu"
    """torch device of the world"""
    threads: int = 2
    """torch CPU threads"""
    video_frames: int = 3000
    """at most this many video frames"""


def run_episodes(
    pairs: list[tuple[str, int]],
    driver: Driver,
    num_envs: int,
    device: str,
    on_step: Callable[[World], None] | None = None,
) -> list[EpisodeResult]:
    """Drive every (scenario, seed) episode; results in the order of pairs. The driver sees the
    state-only Observation, and the world's privileged view if it declares `needs_privileged`."""
    n = min(num_envs, len(pairs))
    world = World([p[0] for p in pairs[:n]], [p[1] for p in pairs[:n]], device=device)
    privileged = world.privileged() if driver.needs_privileged else None
    driver.reset(n, world.device)
    slot_job = list(range(n))  # episode index driven in each slot, -1 when idle
    next_job = n
    results: dict[int, EpisodeResult] = {}
    while len(results) < len(pairs):
        action, _, _ = driver.act(world.observation(), privileged)
        out = world.step(action)
        if on_step is not None:
            on_step(world)
        done = out.done.tolist()
        finished = [b for b in range(n) if done[b] and slot_job[b] >= 0]
        if not finished:
            continue
        for b in finished:
            results[slot_job[b]] = world.episode_result(b)
            slot_job[b] = -1
        restart = []
        for b in finished:
            if next_job < len(pairs):
                slot_job[b] = next_job
                restart.append(b)
                next_job += 1
        if restart:
            world.reset_envs(restart, [pairs[slot_job[b]] for b in restart])
    return [results[i] for i in range(len(pairs))]


def format_table(results: list[EpisodeResult]) -> str:
    s = summarize(results)
    lines = [f"{'scenario':<18} {'episodes':>8} {'pass':>6} {'score':>6} {'coll':>6} {'route':>6}"]
    for name, g in s["by_scenario"].items():
        lines.append(
            f"{name:<18} {g['episodes']:>8} {g['pass_rate']:>6.1%} {g['driving_score']:>6.1f} "
            f"{g['collision_rate']:>6.1%} {g['route_completion']:>6.1%}"
        )
    lines.append(f"{'all':<18} {len(results):>8} {s['pass_rate']:>6.1%} {s['driving_score']:>6.1f}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    args = tyro.cli(DriveArgs, args=argv)
    torch.set_num_threads(args.threads)
    try:
        names = resolve_scenarios(args.scenario)
        seeds = parse_seed_range(args.seeds)
    except (KeyError, ValueError) as e:
        print(f"e2edrive drive: {e.args[0]}", file=sys.stderr)
        return 2
    if args.driver not in DRIVERS:
        print(
            f"e2edrive drive: unknown driver {args.driver!r}; valid drivers: {', '.join(DRIVERS)}",
            file=sys.stderr,
        )
        return 2
    if args.num_envs < 1:
        print("e2edrive drive: --num-envs must be >= 1", file=sys.stderr)
        return 2
    driver = DRIVERS[args.driver]()
    pairs = [(n, s) for n in names for s in seeds]
    writer, on_step = None, None
    if args.video:
        from e2edrive.core.video import VideoWriter

        writer = VideoWriter(args.video, fps=10).__enter__()
        on_step = _video_frame_writer(writer, driver, args.video_frames, args.device)

    t0 = time.perf_counter()
    try:
        results = run_episodes(pairs, driver, args.num_envs, args.device, on_step)
    finally:
        if writer is not None:
            writer.__exit__(None, None, None)
    wall = time.perf_counter() - t0
    if args.json:
        print(
            json.dumps(
                {"episodes": [r.to_dict() for r in results], "summary": summarize(results)}, allow_nan=False
            )
        )
    else:
        print(format_table(results))
        print(f"{len(results)} episodes in {wall:.1f} s")
    return 0


def _video_frame_writer(writer, driver: Driver, max_frames: int, device: str) -> Callable[[World], None]:
    """A per-step hook writing slot 0 as one frame: the 8-camera mosaic beside the top-down view
    (map, actors, the driver's plan and its current reason)."""
    import numpy as np

    from e2edrive.sim.render import Renderer
    from e2edrive.sim.render.mosaic import camera_mosaic
    from e2edrive.sim.topdown import render_topdown

    renderer: list[Renderer] = []
    frames = [0]

    def on_step(world: World) -> None:
        if frames[0] >= max_frames:
            return
        if not renderer:
            renderer.append(Renderer(world.rig, device=device))
        scene = world.scene([0])
        plan = driver.last_plan() if hasattr(driver, "last_plan") else None
        reason = driver.last_reason() if hasattr(driver, "last_reason") else None
        top = (
            render_topdown(
                scene,
                0,
                None if plan is None else plan[0],
                None if reason is None else f"{world.scenarios[0]} {world.seeds[0]}: {reason[0]}",
                size=(320, 320),
                t=float(world.t[0]),
                ego_row=0.65,
            )
            .cpu()
            .numpy()
        )  # (320, 320, 3)
        cams = camera_mosaic(renderer[0].render(scene).rgb[0], world.rig.names)  # (2 H, 4 W, 3)
        cams = cams.repeat(2, axis=0).repeat(2, axis=1)  # nearest 2x: 64x128 cameras are small on screen
        h = max(top.shape[0], cams.shape[0])
        pad = [np.pad(im, ((0, h - im.shape[0]), (0, 0), (0, 0))) for im in (cams, top)]
        writer.write(np.concatenate(pad, axis=1))
        frames[0] += 1

    return on_step
