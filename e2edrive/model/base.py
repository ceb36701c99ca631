"""The interface every driving network shares, so training, evaluation and export treat the full
network and the baselines alike.

    forward(obs)               -> DrivingOutput    obs tensors (B, T, ...): T frames, oldest first
    loss(output, labels)       -> (total, parts)   labels of the last frame
    act(obs, state)            -> (Action, state, DrivingOutput)   streaming, obs tensors (B, ...)
    init_state(batch, device)  -> state            whatever act() carries between steps
    config                     -> a dataclass; checkpoints store it as JSON beside the weights
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from e2edrive.core.constants import MAX_ACCEL, MAX_STEER
from e2edrive.core.types import Action, Labels, Observation
from e2edrive.model.output import DrivingOutput

# Scales that bring each driving target to order one before the loss.
ACTION_SCALE = (MAX_STEER, MAX_ACCEL)  # rad, m/s^2


@dataclass
class DrivingLossWeights:
    """Weights of the driving terms; the full network adds its heads' weights in its own config."""

    plan: float = 1.0
    """L1 on future poses (x, y in metres, yaw in radians)"""
    action: float = 1.0
    """L1 on [steer, accel] normalised by ACTION_SCALE"""
    speed: float = 0.1
    """L1 on target speed, m/s"""
    event: float = 2.0
    """per-sample weight 1 + event * |expert accel| / MAX_ACCEL on the three terms (normalised by the
    batch's total weight). Most frames are cruising; an L1 imitator then learns the median control
    and never brakes hard. Weighting the frames where the expert brakes or pulls away is the loss
    form of the data engine's rebalancing. 0 weights every frame alike"""


def driving_loss(out: DrivingOutput, labels: Labels, w: DrivingLossWeights) -> dict[str, torch.Tensor]:
    """Imitation terms shared by every network: plan, controls and target speed."""
    scale = torch.tensor(ACTION_SCALE, device=out.action.device, dtype=out.action.dtype)
    weight = 1.0 + w.event * labels.expert_action[:, 1].abs().to(out.action.dtype) / MAX_ACCEL  # (B,)
    weight = weight / weight.sum()

    def mean(err: torch.Tensor) -> torch.Tensor:  # (B, ...) -> weighted mean over the batch
        return (err.flatten(1).mean(1) * weight).sum()

    return {
        "plan": w.plan * mean((out.plan - labels.expert_plan).abs()),
        "action": w.action * mean(((out.action - labels.expert_action) / scale).abs()),
        "speed": w.speed * mean((out.speed - labels.expert_speed).abs().unsqueeze(1)),
    }


class DrivingPolicy(nn.Module):
    """Base class of every driving network. Subclasses set `name` (the registry key) and `config`."""

    name: str = "base"
    config: Any = None

    def forward(self, obs: Observation) -> DrivingOutput:  # obs tensors (B, T, ...)
        raise NotImplementedError

    def loss(self, out: DrivingOutput, labels: Labels) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        raise NotImplementedError

    def init_state(self, batch: int, device: torch.device | str) -> Any:
        return None

    def act(self, obs: Observation, state: Any = None) -> tuple[Action, Any, DrivingOutput]:
        """Default streaming step for memoryless networks: a one-frame clip."""
        clip = _as_clip(obs)
        out = self.forward(clip)
        return Action.from_tensor(out.action).validated(clip=True), state, out


def _as_clip(obs: Observation) -> Observation:
    """Observation (B, ...) -> (B, 1, ...)."""
    from e2edrive.core.types import _map_tensors

    clip = _map_tensors(obs, lambda t: t.unsqueeze(1))
    clip.rig = obs.rig
    return clip
