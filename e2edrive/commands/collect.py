"""`e2edrive collect`: drive scenarios with the expert in a batched World and record every frame
(8 cameras, ground-truth labels, the expert's action and reason) into a dataset directory.

    e2edrive collect --scenario all --seeds 0:20 --out runs/data --num-envs 8
    e2edrive collect --scenario cut_in,follow_lead --seeds 100:110 --noise 0.05 --out runs/dart
    e2edrive collect --scenario all --seeds 0:100 --out runs/data --ray local --workers 2

Jobs are every (scenario, seed) pair; num_envs of them run at once and a finished environment
starts the next job (streams of episodes). With --noise the executed action is perturbed in
bursts (sim.expert.perturb_action) while the recorded label stays the expert's clean corrective
action: DART-style noise injection, so the data shows how to recover from the drift a learned
policy will cause. The noise is a function of (scenario, seed, step), independent of num_envs.
A collect killed at any time leaves a dataset with every episode finished before it.
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

import tyro

from e2edrive.core.constants import LABEL_GRID

if TYPE_CHECKING:  # torch loads when a verb runs, not for --help
    from e2edrive.core.types import Labels


@dataclass
class CollectConfig:
    out: str
    """dataset directory (created; an existing dataset with the same rig is appended to)"""
    scenario: str = "all"
    """scenario or suite name, or a comma-separated list of them ('urban', 'basic,cut_in', 'all';
    see `e2edrive scenarios`)"""
    seeds: str = "0:10"
    """seed range 'A:B' (B excluded) or one seed 'A'; every scenario runs every seed"""
    driver: Literal["expert"] = "expert"
    """who drives: the privileged expert (its action is also the label)"""
    noise: float = 0.0
    """std of the steering noise bursts added to the executed action, rad (0: none); labels stay clean"""
    noise_accel: float = 0.0
    """std of the acceleration noise bursts, m/s^2 (0: none)"""
    max_steps: int | None = None
    """cut every episode after this many steps (smoke tests, quick looks); default: the scenario's"""
    num_envs: int = 4
    """environments stepped together (batch size of the world and the renderer)"""
    device: str = "cpu"
    """torch device of the world and the renderer"""
    shadow: str | None = None
    """run directory of a trained network that watches silently (shadow mode: the expert drives,
    the network's disagreement goes into the index and fires the shadow_disagreement trigger)"""
    height: int = 64
    """camera image height, px"""
    width: int = 128
    """camera image width, px"""
    ray: str | None = None
    """split the jobs over Ray tasks: 'local' (a Ray on this machine), 'auto', or a cluster's
    HOST:PORT / ray://HOST:PORT (--out must then be a directory every node shares)"""
    workers: int = 2
    """with --ray: Ray tasks, each simulating its share of the jobs in num_envs environments"""


def _jobs(cfg: CollectConfig) -> list[tuple[str, int]]:
    from e2edrive.core.seeding import parse_seed_range
    from e2edrive.eval.suites import suite_scenarios

    names = suite_scenarios(cfg.scenario)
    return [(name, seed) for seed in parse_seed_range(cfg.seeds) for name in names]


def _frame_labels(scene, render, expert) -> Labels:
    """Ground truth of the frame: geometry from the scene and the render, decisions from the expert."""
    from e2edrive.sim.labels import make_labels

    return make_labels(
        scene,
        render,
        LABEL_GRID,
        expert_plan=expert.plan,
        expert_speed=expert.target_speed,
        expert_action=expert.action.as_tensor(),
        reason=expert.reason,
        oncoming_gap=expert.oncoming_gap,
    )


def check_config(cfg: CollectConfig) -> None:
    if cfg.num_envs < 1:
        raise ValueError(f"--num-envs must be >= 1, got {cfg.num_envs}")
    if cfg.max_steps is not None and cfg.max_steps < 1:
        raise ValueError(f"--max-steps must be >= 1, got {cfg.max_steps}")
    if cfg.noise < 0 or cfg.noise_accel < 0:
        raise ValueError(f"noise must be >= 0, got --noise {cfg.noise} --noise-accel {cfg.noise_accel}")


def creation_info(cfg: CollectConfig, command: str) -> dict:
    """Provenance for meta.json."""
    return {"command": command, "driver": cfg.driver, "noise": cfg.noise, "noise_accel": cfg.noise_accel}


def collect(
    cfg: CollectConfig,
    command: str = "",
    jobs: list[tuple[str, int]] | None = None,
    worker: int | None = None,
    progress: bool = True,
) -> dict:
    """Run every job and record it; returns a summary (episodes, frames, seconds).

    jobs:   the (scenario, seed) pairs to run (default: all of cfg's); each episode is a function of
            its pair, whichever process runs it
    worker: record as this worker id (Recorder(worker=)), beside other writers of cfg.out
    """

    from e2edrive.core.rig import make_rig
    from e2edrive.data.episode_queue import EpisodeQueue
    from e2edrive.data.format import INFRACTIONS
    from e2edrive.data.recorder import Recorder
    from e2edrive.data.shadow import disagreement
    from e2edrive.data.step_records import StepRecorder
    from e2edrive.sim.expert import perturb_action
    from e2edrive.sim.render.renderer import Renderer
    from e2edrive.sim.world import World

    check_config(cfg)
    jobs = _jobs(cfg) if jobs is None else list(jobs)
    rig = make_rig(cfg.height, cfg.width)
    B = min(cfg.num_envs, len(jobs))
    world = World([j[0] for j in jobs[:B]], [j[1] for j in jobs[:B]], device=cfg.device, rig=rig)
    renderer = Renderer(rig, cfg.device)
    shadow = _shadow_driver(cfg, rig, B)
    records = StepRecorder()
    queue = EpisodeQueue(jobs, B)
    tags = [f"driver={cfg.driver}", f"noise={cfg.noise}", f"noise_accel={cfg.noise_accel}"]
    creation = creation_info(cfg, command)
    n_episodes = n_frames = n_passed = 0
    start = time.perf_counter()
    with Recorder(cfg.out, rig, creation=creation, worker=worker) as rec:
        while bool(queue.recording.any()):
            scene = world.scene()
            render = renderer.render(scene)
            obs = world.observation(render.rgb)
            expert = world.expert()
            labels = _frame_labels(scene, render, expert)
            action = expert.action
            if cfg.noise > 0 or cfg.noise_accel > 0:
                action = perturb_action(action, world, steer_std=cfg.noise, accel_std=cfg.noise_accel)
            dis = net_out = None
            if shadow is not None:
                s_action, s_plan, s_reasons = shadow.act(obs)
                dis = disagreement(
                    action, expert.plan[..., :2], expert.reason_text(), s_action, s_plan, s_reasons
                )
                net_out = shadow.last_output
            pose = world.ego.pose()
            out = world.step(action)
            infractions = {k: getattr(out.infractions, k) for k in INFRACTIONS}
            record = records.record(obs, labels, action.accel, out.infractions, shadow=dis, net_out=net_out)
            rec.add_step(
                obs, labels, action, pose, infractions=infractions, record=record, active=queue.recording
            )
            n_frames += int(queue.recording.sum())
            finished = queue.step(out.done.cpu(), cfg.max_steps)
            results = world.episode_results() if finished else []
            for i in finished:
                result = results[i].to_dict()  # metrics and the scenario's pass rule
                n_passed += bool(result["passed"])
                ep_tags = [*tags, f"passed={bool(result['passed'])}"]
                rec.end_episode(i, *queue.env_job[i], tags=ep_tags, info=result)
                n_episodes += 1
            queue.refill(world, finished)
            if finished and progress:
                print(f"  {n_episodes}/{len(jobs)} episodes, {n_frames} frames", flush=True)
    seconds = time.perf_counter() - start
    return {"episodes": n_episodes, "passed": n_passed, "frames": n_frames, "seconds": seconds}


def _shadow_driver(cfg: CollectConfig, rig, batch: int):
    """The network watching in shadow mode (--shadow RUN), reset for `batch` environments, or None."""
    if cfg.shadow is None:
        return None
    from e2edrive.core.device import as_device
    from e2edrive.eval.drivers import PolicyDriver, load_policy

    device = as_device(cfg.device)
    driver = PolicyDriver(load_policy(cfg.shadow, rig=rig, device=device))
    driver.reset(batch, device)
    return driver


def main(argv: list[str]) -> int:
    cfg = tyro.cli(CollectConfig, args=argv, prog="e2edrive collect", description=__doc__)
    from e2edrive.data.format import DatasetFormatError

    try:
        command = " ".join(["e2edrive", "collect", *argv])
        if cfg.ray is not None:
            from e2edrive.commands._ray import collect_on_ray

            summary = collect_on_ray(cfg, command)
        else:
            summary = collect(cfg, command=command)
    except (ValueError, KeyError, DatasetFormatError, RuntimeError, FileNotFoundError) as e:
        msg = e.args[0] if isinstance(e, KeyError) and e.args else e  # a KeyError's str() adds quotes
        print(f"e2edrive collect: error: {msg}", file=sys.stderr)
        return 2
    fps = summary["frames"] / max(summary["seconds"], 1e-9)
    print(
        f"recorded {summary['episodes']} episodes ({summary['passed']} passed), {summary['frames']} frames "
        f"in {summary['seconds']:.1f} s ({fps:.1f} frames/s) into {cfg.out}"
    )
    if summary.get("crashes"):
        print(f"{summary['crashes']} Ray tasks crashed; their uncommitted jobs ran again on new tasks")
    return 0
