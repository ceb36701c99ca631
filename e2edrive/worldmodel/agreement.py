"""Closed-loop agreement: do drivers rank the same, and crash on the same seeds, in the dream as in
the simulator?

Every driver drives the same (scenario, seed) episodes three times, all from the same start (the
expert drives the K-1 steps of the world model's context, `worldmodel.context.world_context`):
    real               the simulator (World + renderer) from that start
    agent_conditioned  the dream; the other agents from a World stepped beside it with the
                       dream's actions
    free               the dream; the model moves the other agents
Episodes are cut after `max_steps` steps (the same cut in all three), so a driving score is that
of the part driven. The simulator's result also counts the K-1 context steps (its episode began
there; 0.3 s of the expert at the tiny preset's K = 4), the dream's starts at the context's end.

The privileged expert (and its DART-noised twin) cannot see a dream: in both dream modes it reads
the privileged view of the World stepped beside the dream with the same actions (in free mode
that World is stepped for it alone). Its actions therefore answer the simulator's state, not the
dream's: an approximation said here and in the result's `note`.

Scores: Spearman rank correlation over drivers of the mean driving score (real vs each dream
mode), and collision precision / recall over every (driver, episode): a dreamed collision against
a real one. Both are the issue's "closed-loop agreement" figures.
"""

from __future__ import annotations

import time
from pathlib import Path

import torch

from e2edrive.sim.metrics import EpisodeResult
from e2edrive.worldmodel.probe import spearman

MODES = ("agent_conditioned", "free")
# driver name -> the checkpoint sub-directory it loads from the directory given (None: no checkpoint)
DRIVERS = {
    "expert": None,
    "expert_noisy": None,
    "constant_velocity": None,
    "policy": "driving",
    "dave2": "dave2",
    "ego_mlp": "ego_mlp",
}
NOTE = (
    "the expert drivers read the privileged view of the World stepped beside the dream with the same "
    "actions (a dream has no ground truth); episodes are cut after max_steps in every environment"
)


def make_drivers(
    checkpoints: str | Path | None, rig, device="cpu", names: list[str] | None = None
) -> tuple[dict, list[str]]:
    """({name: Driver}, [names skipped and why]) for DRIVERS (or the `names` among them);
    checkpoint drivers load from `checkpoints`/SUBDIR (the run directory of each)."""
    from e2edrive.eval.drivers import ConstantVelocityDriver, PolicyDriver, load_policy
    from e2edrive.sim.expert.driver import ExpertDriver

    unknown = sorted(set(names or []) - set(DRIVERS))
    if unknown:
        raise KeyError(f"unknown drivers {unknown}; drivers: {', '.join(DRIVERS)}")
    drivers, skipped = {}, []
    for name, sub in DRIVERS.items():
        if names is not None and name not in names:
            continue
        if sub is None:
            drivers[name] = {
                "expert": lambda: ExpertDriver(),
                "expert_noisy": lambda: ExpertDriver(noise=True),
                "constant_velocity": lambda: ConstantVelocityDriver(),
            }[name]()
            continue
        path = Path(checkpoints) / sub if checkpoints is not None else None
        if path is None or not path.is_dir():
            skipped.append(f"{name}: no checkpoint at {path}")
            continue
        drivers[name] = PolicyDriver(load_policy(path, None, rig, device), name)
    return drivers, skipped


@torch.no_grad()
def drive(env, driver, max_steps: int, renderer=None, beside=None) -> list[EpisodeResult]:
    """Drive every environment of `env` (a World or a DreamEnv) until it ends or `max_steps`;
    each episode's result is taken when it ends. renderer: the simulator's (a World's cameras);
    beside: a World whose privileged view the driver reads (stepped here with the same actions
    unless the dream steps it itself, see `stepped_by_env`)."""
    B = env.num_envs
    device = env.device
    driver.reset(B, device)
    real = hasattr(env, "scene")
    view_world = env if real else beside
    privileged = view_world.privileged() if driver.needs_privileged else None
    step_beside = beside is not None and not real and driver.needs_privileged and env.mode == "free"
    results: list[EpisodeResult | None] = [None] * B
    ended = torch.zeros(B, dtype=torch.bool, device=device)
    for step in range(max_steps):
        if real:
            images = renderer.render(env.scene()).rgb if driver.needs_images else None
            obs = env.observation(images)
        else:
            obs = env.observation()
        action, _, _ = driver.act(obs, privileged)
        out = env.step(action)
        if step_beside:
            beside.step(action)
        now = (out.done.to(device) | (step == max_steps - 1)) & ~ended
        if bool(now.any()):
            episode = env.episode_results()
            for b in now.nonzero().flatten().tolist():
                results[b] = episode[b]
            ended |= now
        if bool(ended.all()):
            break
    return results  # type: ignore[return-value]


def closed_loop_agreement(
    model,
    pairs: list[tuple[str, int]],
    checkpoints=None,
    max_steps: int = 100,
    device="cpu",
    modes=MODES,
    on_driver=None,
    names: list[str] | None = None,
    ego: str = "learned",
) -> dict:
    """Every driver of DRIVERS on `pairs` in the simulator and in each dream mode; episodes, means
    per driver and the agreement scores of the module docstring. on_driver(result so far) is
    called after each driver (a run cut short still leaves its drivers' figures). names: only
    these drivers (one process per driver runs them in parallel; `merge` joins the results).
    ego: the dreams' ego motion, "learned" or "vehicle" (worldmodel.dream_env)."""
    from e2edrive.sim.render import Renderer
    from e2edrive.worldmodel.context import WorldStart, world_context
    from e2edrive.worldmodel.dream_env import DreamEnv

    rig, K = model.cfg.camera_rig, model.cfg.context
    drivers, skipped = make_drivers(checkpoints, rig, device, names)
    renderer = Renderer(rig, device)
    episodes: dict = {}
    seconds: dict = {}
    for name, driver in drivers.items():
        t0 = time.perf_counter()
        _, world = world_context(pairs, rig, K, device)
        runs = {"real": drive(world, driver, max_steps, renderer)}
        for mode in modes:
            start = WorldStart(rig, K, device, agents=mode == "agent_conditioned")
            env = DreamEnv(model, start, pairs, mode, ego=ego)
            runs[mode] = drive(env, driver, max_steps, beside=start.worlds[-1])
        episodes[name] = {src: [r.to_dict() for r in res] for src, res in runs.items()}
        seconds[name] = time.perf_counter() - t0
        result = {
            "pairs": [[s, int(seed)] for s, seed in pairs],
            "max_steps": max_steps,
            "drivers": list(episodes),
            "skipped": skipped + [f"{n}: not run (cut short)" for n in drivers if n not in episodes],
            "note": NOTE,
            "ego": ego,
            "seconds": seconds,
            "per_driver": per_driver(episodes),
            "agreement": {mode: agreement(episodes, mode) for mode in modes},
            "episodes": episodes,
        }
        if on_driver is not None:
            on_driver(result)
    return result


def merge(results: list[dict]) -> dict:
    """One result from several `closed_loop_agreement` results on the same pairs (other drivers):
    episodes joined, means and agreement scores recomputed."""
    if not results:
        raise ValueError("no agreement results to merge")
    first = results[0]
    for r in results[1:]:
        if r["pairs"] != first["pairs"] or r["max_steps"] != first["max_steps"]:
            raise ValueError("agreement results of other episodes or another cut cannot be merged")
    episodes = {name: eps for r in results for name, eps in r["episodes"].items()}
    modes = list(first["agreement"])
    return {
        **first,
        "drivers": list(episodes),
        "skipped": [s for r in results for s in r["skipped"]],
        "seconds": {k: v for r in results for k, v in r["seconds"].items()},
        "per_driver": per_driver(episodes),
        "agreement": {mode: agreement(episodes, mode) for mode in modes},
        "episodes": episodes,
    }


def per_driver(episodes: dict) -> dict:
    """{driver: {source: {driving_score, collision_rate, route_completion}}} means over episodes."""
    out = {}
    for name, by_src in episodes.items():
        out[name] = {}
        for src, eps in by_src.items():
            n = len(eps)
            out[name][src] = {
                "driving_score": sum(e["driving_score"] for e in eps) / n,
                "collision_rate": sum(sum(e["collisions"].values()) > 0 for e in eps) / n,
                "route_completion": sum(e["route_completion"] for e in eps) / n,
            }
    return out


def agreement(episodes: dict, mode: str) -> dict:
    """Spearman over drivers of the mean driving score (real vs `mode`), the same over every
    (driver, episode), and collision precision / recall of `mode` against the simulator."""
    means = per_driver(episodes)
    names = list(episodes)
    real = [means[n]["real"]["driving_score"] for n in names]
    dream = [means[n][mode]["driving_score"] for n in names]
    ep_real = [e["driving_score"] for n in names for e in episodes[n]["real"]]
    ep_dream = [e["driving_score"] for n in names for e in episodes[n][mode]]
    hit_real = [sum(e["collisions"].values()) > 0 for n in names for e in episodes[n]["real"]]
    hit_dream = [sum(e["collisions"].values()) > 0 for n in names for e in episodes[n][mode]]
    tp = sum(r and d for r, d in zip(hit_real, hit_dream))
    fp = sum(d and not r for r, d in zip(hit_real, hit_dream))
    fn = sum(r and not d for r, d in zip(hit_real, hit_dream))
    return {
        "drivers": len(names),
        "rank_driving_score": _finite(spearman(real, dream)) if len(names) > 1 else None,
        "rank_driving_score_episodes": _finite(spearman(ep_real, ep_dream)) if ep_real else None,
        "collision_precision": tp / (tp + fp) if tp + fp else None,
        "collision_recall": tp / (tp + fn) if tp + fn else None,
        "collisions_real": sum(hit_real),
        "collisions_dream": sum(hit_dream),
    }


def _finite(x: float) -> float | None:
    return None if x != x else x
