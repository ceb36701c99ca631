"""`e2edrive drive`: drive scenarios with a driver, batched, and report per-scenario results.

    e2edrive drive --scenario cut_in --seeds 0:20                 the privileged expert
    e2edrive drive --checkpoint runs/tiny --video tiny.mp4        a trained network (run directory)
    e2edrive drive --onnx tiny.onnx --json                        an exported graph, ONNX Runtime

Episodes (scenario, seed) stream through `--num-envs` parallel environments: when one ends its
result is taken and the next episode starts in its slot, so a sweep of thousands of episodes runs
at full batch. `--json` prints one JSON object, {"episodes": [...], "summary": {...}}, the schema
of `e2edrive eval --json`; `--video` writes the 8-camera mosaic beside the top-down view of slot
0's episodes; `--rerun` logs slot 0 to a Rerun recording (.rrd). Every driver gets the same
outputs: cameras are rendered for the drivers that read them (networks), not for the expert.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass

import tyro

# name -> factory of the drivers that need no weights; --checkpoint / --onnx give a network
DRIVERS: dict[str, Callable] = {
    "expert": lambda: _expert(noise=False),
    "expert_noisy": lambda: _expert(noise=True),
}


def _expert(noise: bool):
    from e2edrive.sim.expert.driver import ExpertDriver

    return ExpertDriver(noise=noise)


@dataclass
class DriveArgs:
    """Drive scenarios with a driver and report the results."""

    scenario: str = "all"
    """scenario or suite name, or a comma-separated list of them ('urban', 'basic,cut_in', 'all')"""
    seeds: str = "0:3"
    """seed range 'A:B' (B excluded) or a single seed 'A'"""
    driver: str | None = None
    """driver name (expert, expert_noisy); default expert, or the network of --checkpoint / --onnx"""
    checkpoint: str | None = None
    """a trained network drives: run directory (or its checkpoint/), as `e2edrive eval` takes"""
    onnx: str | None = None
    """an exported network drives through ONNX Runtime (`e2edrive export`; pip install 'e2edrive[onnx]')"""
    video: str | None = None
    """write an MP4 of the first environment's episodes: 8-camera mosaic beside the top-down view"""
    splat: bool = False
    """with --video: add a row of Gaussian-splat views (chase camera, bird's-eye) built from the
    cameras and the renderer's true depth (eval/splat.py)"""
    rerun: str | None = None
    """write a Rerun recording (.rrd) of the first environment's episodes (pip install 'e2edrive[viz]')"""
    json: bool = False
    """print one JSON object (episodes and summary, as `eval --json`) instead of the table"""
    num_envs: int = 64
    """parallel environments"""
    device: str = "cpu"
    """torch device of the world"""
    threads: int = 2
    """torch CPU threads"""
    video_frames: int = 3000
    """at most this many video (and Rerun) frames"""
    max_steps: int = 0
    """cut every episode after this many steps (smoke tests; its result is then partial); 0: no cut"""


def run_episodes(
    pairs: list[tuple[str, int]],
    driver,
    num_envs: int,
    device: str,
    on_step: Callable | None = None,
    rig=None,
    max_steps: int = 0,
) -> list:
    """Drive every (scenario, seed) episode; EpisodeResults in the order of pairs. The driver sees
    the Observation (with camera images if it `needs_images`), and the world's privileged view if
    it declares `needs_privileged`. on_step(world, plan_xy, reasons) runs after each step with
    what the driver said before it. max_steps > 0 ends every episode after that many steps."""
    from e2edrive.sim.world import World

    n = min(num_envs, len(pairs))
    world = World([p[0] for p in pairs[:n]], [p[1] for p in pairs[:n]], device=device, rig=rig)
    renderer = None
    if driver.needs_images:
        from e2edrive.sim.render import Renderer

        renderer = Renderer(world.rig, world.device)
    privileged = world.privileged() if driver.needs_privileged else None
    driver.reset(n, world.device)
    slot_job = list(range(n))  # episode index driven in each slot, -1 when idle
    next_job = n
    results: dict[int, object] = {}
    while len(results) < len(pairs):
        images = renderer.render(world.scene()).rgb if renderer is not None else None
        action, plan, reasons = driver.act(world.observation(images), privileged)
        out = world.step(action)
        if on_step is not None:
            on_step(world, plan, reasons)
        done = out.done | (world.steps >= max_steps) if max_steps > 0 else out.done
        finished = [b for b, d in enumerate(done.tolist()) if d and slot_job[b] >= 0]
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


def format_table(results: list) -> str:
    from e2edrive.sim.metrics import summarize

    s = summarize(results)
    lines = [f"{'scenario':<18} {'episodes':>8} {'pass':>6} {'score':>6} {'coll':>6} {'route':>6}"]
    for name, g in s["by_scenario"].items():
        lines.append(
            f"{name:<18} {g['episodes']:>8} {g['pass_rate']:>6.1%} {g['driving_score']:>6.1f} "
            f"{g['collision_rate']:>6.1%} {g['route_completion']:>6.1%}"
        )
    lines.append(f"{'all':<18} {len(results):>8} {s['pass_rate']:>6.1%} {s['driving_score']:>6.1f}")
    return "\n".join(lines)


def make_drive_driver(args: DriveArgs):
    """(driver, rig or None): the named driver, or the network of --checkpoint / --onnx with the
    rig it was built for (None: the simulator's default)."""
    options = {"--driver": args.driver, "--checkpoint": args.checkpoint, "--onnx": args.onnx}
    given = [flag for flag, value in options.items() if value is not None]
    if len(given) > 1:
        raise ValueError(f"give one of --driver, --checkpoint, --onnx, not {' and '.join(given)}")
    if args.checkpoint is not None:
        from e2edrive.eval.drivers import make_driver

        driver = make_driver("checkpoint", args.checkpoint, device=args.device)
        return driver, getattr(driver.model.config, "rig", None)
    if args.onnx is not None:
        from e2edrive.eval.onnx_driver import OnnxDriver

        driver = OnnxDriver(args.onnx, threads=args.threads)
        return driver, driver.rig
    name = args.driver or "expert"
    if name not in DRIVERS:
        raise ValueError(f"unknown driver {name!r}; valid drivers: {', '.join(DRIVERS)}")
    return DRIVERS[name](), None


def main(argv: list[str] | None = None) -> int:
    args = tyro.cli(DriveArgs, args=argv, prog="e2edrive drive", description=__doc__)
    import torch

    from e2edrive.core.seeding import parse_seed_range
    from e2edrive.eval.suites import suite_scenarios
    from e2edrive.sim.metrics import summarize

    try:
        if args.threads < 1:
            raise ValueError(f"--threads must be >= 1, got {args.threads}")
        torch.set_num_threads(args.threads)
        names = suite_scenarios(args.scenario)
        seeds = parse_seed_range(args.seeds)
        if args.num_envs < 1:
            raise ValueError("--num-envs must be >= 1")
        driver, rig = make_drive_driver(args)
        outputs = _Outputs(args, driver)  # opened before the drive: a bad --video path fails now
    except (KeyError, ValueError, FileNotFoundError, ImportError) as e:
        print(f"e2edrive drive: {e.args[0] if isinstance(e, KeyError) else e}", file=sys.stderr)
        return 2
    pairs = [(n, s) for n in names for s in seeds]
    t0 = time.perf_counter()
    try:
        results = run_episodes(
            pairs, driver, args.num_envs, args.device, outputs.on_step, rig, args.max_steps
        )
    except BaseException:
        outputs.close(failed=True)
        raise
    outputs.close(failed=False)
    wall = time.perf_counter() - t0
    if args.json:
        payload = {"episodes": [r.to_dict() for r in results], "summary": summarize(results)}
        print(json.dumps(payload, allow_nan=False))
    else:
        print(format_table(results))
        print(f"{len(results)} episodes in {wall:.1f} s")
    return 0


class _Outputs:
    """The per-step writers of slot 0 (--video, --rerun): opened before the drive, closed after it;
    a failed drive leaves no video (VideoWriter never leaves a truncated MP4)."""

    def __init__(self, args: DriveArgs, driver):
        self.args, self.driver = args, driver
        self.video = self.rerun = self.renderer = None
        self.frames = 0
        if args.video:
            from e2edrive.core.video import VideoWriter

            self.video = VideoWriter(args.video, fps=10)
        if args.rerun:
            from e2edrive.eval.rerun_log import RerunLogger

            self.rerun = RerunLogger(args.rerun, application=f"e2edrive drive {driver.name}")

    @property
    def on_step(self) -> Callable | None:
        return self._on_step if (self.video or self.rerun) else None

    def _on_step(self, world, plan, reasons) -> None:
        """Slot 0 after a step: the frame of `drive --video` (top-down view with the driver's plan
        and reason beside the 8-camera mosaic) and the Rerun log of that instant."""
        if self.frames >= self.args.video_frames:
            return
        if self.renderer is None:
            from e2edrive.sim.render import Renderer

            self.renderer = Renderer(world.rig, device=world.device)
        reason = None if reasons is None else f"{world.scenarios[0]} {world.seeds[0]}: {reasons[0]}"
        plan0 = None if plan is None else plan[0]
        if self.video is not None:
            from e2edrive.sim.env import drive_frame

            frame = drive_frame(world, 0, "both", self.renderer, plan0, reason)
            if self.args.splat:
                from e2edrive.eval.splat import splat_row

                frame = splat_row(frame, self.renderer.render(world.scene([0])), world.rig)
            self.video.write(frame)
        if self.rerun is not None:
            self.rerun.log_step(world, 0, self.renderer, plan0, None if reasons is None else reasons[0])
        self.frames += 1

    def close(self, failed: bool) -> None:
        if self.video is not None:
            self.video.abort() if failed else self.video.close()
        if self.rerun is not None:
            self.rerun.close()
