"""Closed-loop evaluation: a driver drives (scenario, seed) episodes in the batched World.

    results = run_closed_loop(driver, pairs, num_envs=8)

A stream of episodes flows through B environment slots: when a slot's episode ends, its
EpisodeResult (every metric and the scenario's pass rule, sim.metrics) is taken and the slot is
reset to the next (scenario, seed) of the queue; the policy's recurrent state resets through
`obs.first`. Images are rendered only for drivers that read cameras, and the world's privileged
view goes only to drivers that declare `needs_privileged` (the expert): the others see the
Observation alone. One host sync per step (to see which episodes ended); everything else stays
on the device.

`record_videos` drives given episodes again with a frame per step (top-down view above the
8-camera mosaic) written to MP4: the report shows failures that way. Episodes are functions of
(scenario, seed) and evaluation is deterministic, so a replay is the failure that was scored
(up to float differences when a network's batch composition changes).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from pathlib import Path

import torch

from e2edrive.core.env import Driver
from e2edrive.sim.metrics import EpisodeResult


def _world(pairs, device, rig):
    from e2edrive.sim.world import World

    return World([p[0] for p in pairs], [p[1] for p in pairs], device=device, rig=rig)


def run_closed_loop(
    driver: Driver,
    pairs: list[tuple[str, int]],
    num_envs: int = 8,
    device: torch.device | str = "cpu",
    rig=None,
    progress: bool = True,
    on_frame: Callable | None = None,
    desc: str | None = None,
    max_steps: int = 0,
    faults: list | None = None,
    make_env: Callable | None = None,
) -> list[EpisodeResult]:
    """Drive every (scenario, seed) of `pairs`; results in the order of `pairs`.

    on_frame(world, obs, action, plan_xy, reasons, slot_jobs): called after the driver acted, before
    the world steps (slot_jobs[b] is the index in `pairs` of slot b's episode, or -1 if idle).
    max_steps > 0 cuts every episode after that many steps (smoke tests); its result is then partial.
    faults (sim.faults.Fault): corrupt each observation before the driver acts (on_frame sees the
    corrupted frames); actuator faults wrap the driver.
    make_env(pairs, device, rig) -> core.env.BatchedEnv: the environment to drive in (default: the
    simulator's World). One without a `scene` (a learned world model's DreamEnv) renders its own
    cameras into its observations, so nothing is rendered here."""
    if not pairs:
        raise ValueError("no episodes to evaluate")
    if num_envs < 1:
        raise ValueError(f"num_envs must be >= 1, got {num_envs}")
    queue = list(enumerate(pairs))
    B = min(num_envs, len(queue))
    start, queue = queue[:B], queue[B:]
    world = (make_env or _world)([p for _, p in start], device, rig)
    from e2edrive.sim.faults import FaultInjector

    injector = FaultInjector(faults or [])
    driver = injector.wrap(driver)
    renderer = None
    if driver.needs_images and hasattr(world, "scene"):
        from e2edrive.sim.render import Renderer

        renderer = Renderer(world.rig, world.device)
    privileged = world.privileged() if driver.needs_privileged else None
    driver.reset(B, world.device)
    slot_job = [j for j, _ in start]
    results: list[EpisodeResult | None] = [None] * len(pairs)
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=len(pairs), desc=desc or f"eval {driver.name}", unit="ep", dynamic_ncols=True)
    active = torch.ones(B, dtype=torch.bool, device=world.device)
    while any(j >= 0 for j in slot_job):
        render = renderer.render(world.scene()) if renderer is not None else None
        obs = world.observation(images=render.rgb if render is not None else None)
        if injector.faults:
            episodes = [pairs[j] if j >= 0 else None for j in slot_job]
            obs = injector.apply(obs, episodes, world.steps, render.depth if render is not None else None)
        action, plan, reasons = driver.act(obs, privileged)
        if on_frame is not None:
            on_frame(world, obs, action, plan, reasons, slot_job)
        out = world.step(action)
        driver.observe(out)
        ended = out.done & active
        if max_steps > 0:
            ended |= (world.steps >= max_steps) & active
        if not bool(ended.any()):  # the step's one host sync
            continue
        finished = ended.nonzero().flatten().tolist()
        episode = world.episode_results()
        refill, refill_pairs = [], []
        for b in finished:
            results[slot_job[b]] = episode[b]
            driver.episode_end(b, *pairs[slot_job[b]], episode[b])
            if bar is not None:
                bar.update(1)
            if queue:
                j, pair = queue.pop(0)
                slot_job[b] = j
                refill.append(b)
                refill_pairs.append(pair)
            else:
                slot_job[b] = -1
                active[b] = False
        if refill:
            world.reset_envs(refill, refill_pairs)
    if bar is not None:
        bar.close()
    return results  # type: ignore[return-value]


def video_frame(world, obs, env: int, plan_xy, reason: str | None, t: float) -> torch.Tensor:
    """(H, W, 3) uint8: top-down view (plan and reason burned in) above the camera mosaic."""
    from e2edrive.sim.topdown import mosaic, render_topdown

    top = render_topdown(
        world.scene(),
        env,
        plan_xy=None if plan_xy is None else plan_xy[env],
        reason_text=reason,
        size=(256, 512),
        t=t,
    )  # (256, 512, 3)
    if obs.images.shape[1] == 0:
        return top
    cams = mosaic(obs.images[env], list(obs.rig.names)).to(top.device)  # (h, w, 3)
    if cams.shape[1] != top.shape[1]:  # fit the mosaic to the top-down width
        cams = torch.nn.functional.interpolate(
            cams.permute(2, 0, 1)[None].float(),
            size=(round(cams.shape[0] * top.shape[1] / cams.shape[1]), top.shape[1]),
            mode="nearest",
        )[0]
        cams = cams.permute(1, 2, 0).to(torch.uint8)
    return torch.cat([top, cams], 0)


def record_videos(
    driver: Driver,
    pairs: list[tuple[str, int]],
    out_dir: str | Path,
    device="cpu",
    rig=None,
    render_cameras: bool = True,
    max_steps: int = 0,
    faults: list | None = None,
) -> tuple[list[Path], list[EpisodeResult]]:
    """Drive `pairs` (all at once, one slot each) and write OUT/SCENARIO_SEED.mp4 for each."""
    from e2edrive.core.video import VideoWriter

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = [out_dir / f"{s}_{seed}.mp4" for s, seed in pairs]
    renderer = None
    if render_cameras and not driver.needs_images:
        from e2edrive.sim.render import Renderer

        renderer = Renderer((rig or _default_rig()), device)
    steps = [0] * len(pairs)

    def on_frame(world, obs, action, plan, reasons, slot_job):
        if renderer is not None:
            obs = world.observation(images=renderer.render(world.scene()).rgb)
        for b, j in enumerate(slot_job):
            if j >= 0 and not bool(world.done[b]):
                writers[j].write(
                    video_frame(world, obs, b, plan, reasons[b] if reasons else None, steps[j] * 0.1)
                )
                steps[j] += 1

    with contextlib.ExitStack() as stack:  # an error discards every partial video
        writers = [stack.enter_context(VideoWriter(p, fps=10)) for p in paths]
        results = run_closed_loop(
            driver,
            pairs,
            num_envs=len(pairs),
            device=device,
            rig=rig,
            progress=False,
            on_frame=on_frame,
            max_steps=max_steps,
            faults=faults,
        )
    return paths, results


def _default_rig():
    from e2edrive.core.rig import make_rig

    return make_rig()


def evaluate_driver(
    driver: Driver,
    pairs: list[tuple[str, int]],
    num_envs: int = 8,
    device="cpu",
    rig=None,
    report_dir: str | Path | None = None,
    max_videos: int = 3,
    progress: bool = True,
    open_loop: dict | None = None,
    max_steps: int = 0,
    faults: list | None = None,
):
    """Closed loop over `pairs`, then MP4s of up to `max_videos` failed episodes into
    REPORT/videos/ (one per scenario first, so the videos cover different failures)."""
    from e2edrive.eval.report import DriverEval

    results = run_closed_loop(
        driver, pairs, num_envs, device, rig, progress, max_steps=max_steps, faults=faults
    )
    ev = DriverEval(driver.name, results, open_loop)
    if report_dir is not None and max_videos > 0:
        by_scenario: dict[str, list[EpisodeResult]] = {}
        for r in results:
            if not r.passed:
                by_scenario.setdefault(r.scenario, []).append(r)
        chosen: list[EpisodeResult] = []
        while len(chosen) < max_videos and any(by_scenario.values()):  # round robin over scenarios
            for failures in by_scenario.values():
                if failures and len(chosen) < max_videos:
                    chosen.append(failures.pop(0))
        if chosen:
            safe = "".join(c if c.isalnum() or c in "-_" else "_" for c in driver.name)  # "policy (corner)"
            video_dir = Path(report_dir) / "videos" / safe
            pairs_v = [(r.scenario, r.seed) for r in chosen]
            paths, _ = record_videos(
                driver, pairs_v, video_dir, device, rig, max_steps=max_steps, faults=faults
            )
            ev.videos = [(r.scenario, r.seed, str(p.relative_to(report_dir))) for r, p in zip(chosen, paths)]
    return ev
