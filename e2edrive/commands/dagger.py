"""`e2edrive dagger`: online imitation / DAgger with expert takeovers.

The algorithm and its safety driver are in e2edrive.train.online; this verb wires the rooms
together for each round: the closed-loop runner (eval) drives the DaggerDriver in the World (sim),
the Recorder (data) aggregates its frames, and the trainer (train) trains on the aggregate.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

from e2edrive.train.online_config import OnlineConfig

if TYPE_CHECKING:  # torch loads when the verb runs, not for --help
    import torch


def rollout_round(
    policy, data, pairs, beta: float, cfg: OnlineConfig, rig, renderer, gen: torch.Generator, round_: int = 0
):
    """Roll `policy` out on (scenario, seed) `pairs` (beta mixture, takeovers) and append every frame,
    labelled by the expert, to the dataset at `data` -> (frame statistics, EpisodeResults)."""
    from e2edrive.data.recorder import Recorder
    from e2edrive.eval.runner import run_closed_loop
    from e2edrive.train.online import DaggerDriver

    with Recorder(data, rig, creation={"command": "dagger", "round": round_}) as rec:
        driver = DaggerDriver(policy, rec, renderer, beta, cfg, gen)
        results = run_closed_loop(
            driver,
            pairs,
            min(cfg.num_envs, len(pairs)),
            cfg.device,
            rig,
            desc=f"dagger round {round_} (beta {beta:.2f})",
            max_steps=cfg.max_episode_steps,
        )
    return driver.stats, results


def run_dagger(cfg: OnlineConfig) -> list[dict]:
    """Run every round; returns one log row per round (frames, interventions, losses)."""
    import torch

    from e2edrive.core.rig import make_rig
    from e2edrive.eval.drivers import load_policy
    from e2edrive.eval.suites import TRAIN_SEED_LIMIT, suite_scenarios
    from e2edrive.sim.render import Renderer
    from e2edrive.train.config import TrainConfig
    from e2edrive.train.loop import train
    from e2edrive.train.models import build_model

    scenarios = suite_scenarios(cfg.scenarios)
    last_seed = cfg.first_seed + cfg.rounds * cfg.episodes_per_round
    if cfg.first_seed < 0 or last_seed > TRAIN_SEED_LIMIT:
        raise ValueError(
            f"DAgger seeds [{cfg.first_seed}, {last_seed}) leave the training range [0, {TRAIN_SEED_LIMIT})"
        )
    out = Path(cfg.out)
    data, run = (Path(cfg.data) if cfg.data else out / "data"), out / "run"
    rig = make_rig()
    policy = (
        load_policy(cfg.init, rig=rig, device=cfg.device) if cfg.init else build_model(cfg.model, cfg.preset)
    )
    renderer = Renderer(rig, cfg.device)
    gen = torch.Generator().manual_seed(cfg.seed)
    log = []
    for r in range(cfg.rounds):
        beta = cfg.beta * cfg.beta_decay**r
        seeds = range(
            cfg.first_seed + r * cfg.episodes_per_round, cfg.first_seed + (r + 1) * cfg.episodes_per_round
        )
        pairs = [(scenarios[k % len(scenarios)], s) for k, s in enumerate(seeds)]
        stats, results = rollout_round(policy, data, pairs, beta, cfg, rig, renderer, gen, round_=r)
        tcfg = TrainConfig(
            data=str(data),
            out=str(run),
            model=policy.name,
            preset=cfg.preset,
            epochs=10**6,
            batch_size=cfg.batch_size,
            lr=cfg.lr,
            warmup_steps=10,
            seed=cfg.seed,
            max_steps=(r + 1) * cfg.train_steps,
            resume=r > 0,
            device=cfg.device,
            checkpoint_every=cfg.train_steps,
            tensorboard=cfg.tensorboard,
        )
        state = train(tcfg, model=policy if r == 0 else None)
        policy = load_policy(run, rig=rig, device=cfg.device)
        row = {
            "round": r,
            "beta": beta,
            **stats,
            "step": state.step,
            "driving_score": sum(x.driving_score for x in results) / len(results),
        }
        log.append(row)
        with open(out / "dagger_log.jsonl", "a") as f:
            f.write(json.dumps(row) + "\n")
        print(f"round {r}: {row}", flush=True)
    return log


def main(argv: list[str]) -> int:
    """`e2edrive dagger ...` (the algorithm is described in e2edrive.train.online)."""
    import tyro

    cfg = tyro.cli(OnlineConfig, args=argv, prog="e2edrive dagger", description=__doc__)
    run_dagger(cfg)
    return 0
