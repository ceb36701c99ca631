"""`OnlineConfig`: every knob of a DAgger / online-imitation run (train.online has the algorithm).

Kept apart from train.online, which loads torch, so that `e2edrive dagger --help` answers at once.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal


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
    lateral_takeover: Literal["target", "left_lane"] = "target"
    """which lateral states are unsafe. target: the ego is beyond lane_takeover from the expert's
    line, so the expert takes over at the instant it pulls out (to pass the geese, to go around the
    puddle or the debris) and the policy does not follow. left_lane: beyond lane_takeover from the
    expert's line AND from its own lane's centre, so a policy that keeps its lane there drives on
    and its stall or drive-through is recorded with the expert's labels (TTC and red-light
    takeovers still guard it). Opt-in: paired in session 12, left_lane gained `basic` +5.9 and
    `corner` +6 of 56 with history_grad off, and cost `basic` 10.0 (83.3 against 93.3, `corner` 10
    against 9) with the quickstart's training (BENCHMARKS.md)"""
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
    tensorboard: bool = False
    """TensorBoard event files in OUT/run/tensorboard, one step axis across the rounds (the
    optimisation step; needs the tensorboard extra)"""
