"""Online imitation and DAgger, straight from the batched simulator.

Each round:
  1. roll out  the current policy in the World, mixed with the expert (Ross et al. 2011, DAgger):
               in every env and step the expert's action is executed with probability beta_i
               (beta_i = beta * beta_decay^i), the policy's otherwise. The expert labels every
               visited state on the fly (plan, speed, corrective action, reason), whoever drives.
  2. take over when the policy's state becomes unsafe, like a safety driver:
                 time to collision < ttc_takeover (1.5 s)
                 lateral offset from the expert's target line > lane_takeover (1 m)
                 a red light ahead (the expert is stopping for it) and the policy brakes at least
                 1 m/s^2 less than the expert
               the expert's action is executed; the frame is an intervention: recorded with
               flags=["intervention"], intervention=True and priority 1, as a fleet would upload it.
  3. aggregate the frames into one dataset (D <- D u D_i, through data.Recorder), and
  4. train    the policy on the aggregate for `train_steps` more steps (train.loop.train,
               resumed each round, so optimizer state carries over).

beta=1, beta_decay=1 is plain online imitation (the expert always drives: behaviour cloning fed by
the simulator rather than a fixed dataset); beta=0 is pure DAgger with interventions only.
Training seeds come from the training range [0, 100000) and are stored in the checkpoint.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import torch

from e2edrive.core.constants import LABEL_GRID
from e2edrive.core.reasons import Reason
from e2edrive.core.types import Action
from e2edrive.eval.drivers import Driver


@dataclass
class OnlineConfig:
    out: str = "runs/dagger"
    """run directory: data/ (aggregated dataset), run/ (trainer checkpoint), dagger_log.jsonl"""
    init: str | None = None
    """checkpoint to start from (a run directory); default: a fresh network"""
    data: str | None = None
    """dataset the rounds aggregate into (D <- D u D_i), e.g. the expert data --init was trained
    on; it grows in place. Default: OUT/data, starting empty"""
    model: str = "driving"
    """network to train: driving | dave2 | ego_mlp"""
    preset: str = "tiny"
    """preset of the driving network"""
    scenarios: str = "basic"
    """scenarios to drive (suite name or comma-separated names)"""
    first_seed: int = 0
    """episodes use training seeds first_seed, first_seed + 1, ... (must stay below 100,000)"""
    rounds: int = 4
    """DAgger iterations (roll out, aggregate, train)"""
    episodes_per_round: int = 6
    """episodes rolled out per round"""
    num_envs: int = 6
    """environments simulated together"""
    beta: float = 0.5
    """probability that the expert's action is executed in round 0"""
    beta_decay: float = 0.5
    """beta_i = beta * beta_decay^i"""
    ttc_takeover: float = 1.5
    """s, the expert takes over below this time to collision"""
    lane_takeover: float = 1.0
    """m, the expert takes over beyond this lateral offset from its target line"""
    max_episode_steps: int = 0
    """cut episodes after this many steps (0: the scenario's own length); for smoke tests"""
    train_steps: int = 100
    """optimisation steps per round"""
    batch_size: int = 8
    """training batch size"""
    lr: float = 1e-3
    """AdamW learning rate"""
    device: str = "cpu"
    """cpu | cuda"""
    seed: int = 0
    """seed of the beta coin flips and of training"""


class DaggerDriver(Driver):
    """Executes the policy or the expert (beta mixture, safety takeovers) and records every frame
    with the expert's labels into `recorder`."""

    needs_images = False  # it renders itself: labels need depth and semantics too

    def __init__(
        self, policy, recorder, renderer, beta: float, cfg: OnlineConfig, generator: torch.Generator
    ):
        self.policy, self.recorder, self.renderer = policy.eval(), recorder, renderer
        self.beta, self.cfg, self.gen = beta, cfg, generator
        self.name = "dagger"
        self.stats = {"frames": 0, "expert_frames": 0, "interventions": 0}

    def reset(self, batch: int, device: torch.device) -> None:
        self.policy.to(device)
        self.state = self.policy.init_state(batch, device)
        self.ttc = torch.full((batch,), float("inf"), device=device)

    def observe(self, step_output) -> None:
        self.ttc = step_output.infractions.ttc

    def episode_end(self, env: int, scenario: str, seed: int, result) -> None:
        self.recorder.end_episode(
            env, scenario, seed, tags=["driver=dagger", f"beta={self.beta:g}"], info=result.to_dict()
        )

    @torch.no_grad()
    def act(self, world, obs):
        from e2edrive.sim.labels import make_labels

        scene = world.scene()
        render = self.renderer.render(scene)
        obs = world.observation(render.rgb)
        a_pi, self.state, out = self.policy.act(obs, self.state)
        e = world.expert()
        ttc = torch.where(obs.first, torch.full_like(self.ttc, float("inf")), self.ttc)
        unsafe = takeover(ttc, world.ego_d, e.target_d, e.reason, a_pi.accel, e.action.accel, self.cfg)
        coin = torch.rand(obs.batch_size, generator=self.gen).to(unsafe.device) < self.beta
        use_expert = coin | unsafe
        action = Action(
            torch.where(use_expert, e.action.steer, a_pi.steer),
            torch.where(use_expert, e.action.accel, a_pi.accel),
        )
        labels = make_labels(
            scene,
            render,
            LABEL_GRID,
            expert_plan=e.plan,
            expert_speed=e.target_speed,
            expert_action=e.action.as_tensor(),
            reason=e.reason,
        )
        live = ~world.done.cpu()
        flags = [["intervention"] if u else [] for u in unsafe.tolist()]
        self.recorder.add_step(
            obs,
            labels,
            action,
            world.ego.pose(),
            intervention=unsafe,
            priority=unsafe.float(),
            flags=flags,
            active=live,
        )
        n = int(live.sum())
        self.stats["frames"] += n
        self.stats["expert_frames"] += int((use_expert.cpu() & live).sum())
        self.stats["interventions"] += int((unsafe.cpu() & live).sum())
        return action, out.plan[..., :2], None


def takeover(ttc, ego_d, target_d, reason, policy_accel, expert_accel, cfg: OnlineConfig) -> torch.Tensor:
    """(B,) bool: the policy's state is unsafe and the expert must drive (module docstring)."""
    unsafe = ttc < cfg.ttc_takeover
    if target_d is not None:
        unsafe |= (ego_d - target_d).abs() > cfg.lane_takeover
    red = reason == int(Reason.STOP_RED_LIGHT)
    unsafe |= red & (policy_accel > expert_accel + 1.0)
    return unsafe


def rollout_round(
    policy, data, pairs, beta: float, cfg: OnlineConfig, rig, renderer, gen: torch.Generator, round_: int = 0
):
    """Roll `policy` out on (scenario, seed) `pairs` (beta mixture, takeovers) and append every frame,
    labelled by the expert, to the dataset at `data` -> (frame statistics, EpisodeResults)."""
    from e2edrive.data.recorder import Recorder
    from e2edrive.eval.runner import run_closed_loop

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
    """`e2edrive dagger ...` (the CLI verb module can delegate here)."""
    import tyro

    cfg = tyro.cli(OnlineConfig, args=argv, prog="e2edrive dagger", description=__doc__)
    run_dagger(cfg)
    return 0
