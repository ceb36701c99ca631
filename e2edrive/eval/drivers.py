"""Drivers: anything that turns an Observation into an Action, batched over B envs (the base
class, core.env.Driver, is re-exported here).

    checkpoint         a trained network (DrivingModel, DAVE-2, ego MLP) streaming `act`
    expert             the privileged expert (sim.expert.driver; it reads ground truth through the
                       view the runner hands it: an upper bound, not a policy)
    dave2 / ego_only   checkpoints that must hold those baselines (the name is checked)
    constant_velocity  keeps its current speed with the wheel straight (the classic kinematic
                       baseline of motion forecasting)
    constant_yaw_rate  keeps its current speed and yaw rate (a constant-turn-rate model)

A driver says whether it needs camera images (`needs_images`); the runner renders them only for
those, so state-only drivers run at simulator speed. Only drivers that say `needs_privileged`
get the world's privileged view; every other driver sees the Observation alone.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from e2edrive.core.constants import EGO_WHEELBASE, MAX_STEER
from e2edrive.core.env import Driver
from e2edrive.core.types import Action
from e2edrive.model.output import DrivingOutput
from e2edrive.sim.expert.driver import ExpertDriver

__all__ = [
    "DRIVERS",
    "ConstantVelocityDriver",
    "Driver",
    "ExpertDriver",
    "PolicyDriver",
    "checkpoint_extra",
    "load_policy",
    "make_driver",
]


class ConstantVelocityDriver(Driver):
    """Holds the speed of the episode's first step; steers straight (or holds the yaw rate)."""

    def __init__(self, keep_yaw_rate: bool = False):
        self.keep_yaw_rate = keep_yaw_rate
        self.name = "constant_yaw_rate" if keep_yaw_rate else "constant_velocity"
        self.target_speed: torch.Tensor | None = None
        self.target_yaw_rate: torch.Tensor | None = None

    def reset(self, batch: int, device: torch.device) -> None:
        self.target_speed = self.target_yaw_rate = None

    def act(self, obs, privileged=None):
        if self.target_speed is None:
            self.target_speed, self.target_yaw_rate = obs.speed.clone(), obs.yaw_rate.clone()
        first = obs.first
        self.target_speed = torch.where(first, obs.speed, self.target_speed)
        self.target_yaw_rate = torch.where(first, obs.yaw_rate, self.target_yaw_rate)
        # A proportional speed hold (1 / s): "keeps its speed" even when drag-free dynamics drift.
        accel = 1.0 * (self.target_speed - obs.speed)
        if self.keep_yaw_rate:
            # yaw_rate = v tan(steer) / L for the kinematic bicycle about the rear axle.
            v = obs.speed.clamp(min=0.5)
            steer = torch.atan(self.target_yaw_rate * EGO_WHEELBASE / v).clamp(-MAX_STEER, MAX_STEER)
        else:
            steer = torch.zeros_like(obs.speed)
        return Action(steer, accel).validated(clip=True), None, None


class PolicyDriver(Driver):
    """A trained network, streaming: its recurrent state is carried across steps and reset per
    environment by `obs.first` (the networks handle that themselves)."""

    def __init__(self, model, label: str | None = None):
        self.model = model.eval()
        self.name = label or model.name
        # The ego-status MLP is blind by design; every other network reads cameras.
        self.needs_images = model.name != "ego_mlp"
        self.state: Any = None
        self.last_output: DrivingOutput | None = None  # the heads of the last step (shadow mode reads them)

    def reset(self, batch: int, device: torch.device) -> None:
        self.model.to(device)
        self.state = self.model.init_state(batch, device)

    @torch.no_grad()
    def act(self, obs, privileged=None):
        action, self.state, out = self.model.act(obs, self.state)
        self.last_output = out
        return action, out.plan[..., :2], out.reason_texts()


def load_policy(checkpoint: str | Path, expect_model: str | None = None, rig=None, device="cpu"):
    """The network of a run directory (RUN/checkpoint) or of a checkpoint directory, checked."""
    from e2edrive.model.checkpoint import load_checkpoint

    path = Path(checkpoint)
    if (path / "checkpoint").is_dir():
        path = path / "checkpoint"
    if not path.is_dir():
        raise FileNotFoundError(f"no checkpoint at {checkpoint} (a run directory or its checkpoint/)")
    return load_checkpoint(path, expect_model=expect_model, rig=rig, map_location=device)


def checkpoint_extra(checkpoint: str | Path) -> dict:
    """What the trainer stored beside the weights: step, train_seeds, train_config."""
    from e2edrive.model.checkpoint import read_checkpoint_config

    path = Path(checkpoint)
    if (path / "checkpoint").is_dir():
        path = path / "checkpoint"
    return read_checkpoint_config(path).get("extra", {})


# name -> (builder, whether it needs --checkpoint)
DRIVERS: dict[str, tuple[Any, bool]] = {
    "checkpoint": (lambda ckpt, rig, device: PolicyDriver(load_policy(ckpt, None, rig, device)), True),
    "expert": (lambda ckpt, rig, device: ExpertDriver(), False),
    "dave2": (lambda ckpt, rig, device: PolicyDriver(load_policy(ckpt, "dave2", rig, device), "dave2"), True),
    "ego_only": (
        lambda ckpt, rig, device: PolicyDriver(load_policy(ckpt, "ego_mlp", rig, device), "ego_only"),
        True,
    ),
    "constant_velocity": (lambda ckpt, rig, device: ConstantVelocityDriver(False), False),
    "constant_yaw_rate": (lambda ckpt, rig, device: ConstantVelocityDriver(True), False),
}


def make_driver(name: str, checkpoint: str | Path | None = None, rig=None, device="cpu") -> Driver:
    """Build a registered driver; checkpoint drivers need `checkpoint`, the others refuse one."""
    if name not in DRIVERS:
        raise KeyError(f"unknown driver {name!r}; drivers: {', '.join(DRIVERS)}")
    build, needs_ckpt = DRIVERS[name]
    if needs_ckpt and checkpoint is None:
        raise ValueError(f"driver {name!r} needs --checkpoint RUN (a trained {name} run)")
    if not needs_ckpt and checkpoint is not None:
        raise ValueError(f"driver {name!r} takes no checkpoint")
    return build(checkpoint, rig, device)
