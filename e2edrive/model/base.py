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
from typing import Any, ClassVar

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

    # Added after checkpoints were written, with the value that computes what they computed.
    ADDED_FIELDS: ClassVar[dict] = {"keyframe": 0.0}

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
    keyframe: float = 4.0
    """adds keyframe * |expert accel - the observed accel| / MAX_ACCEL to the per-sample weight:
    the frames where the expert's control departs from the last one (pulling away after a wait,
    the first frame of braking). A copycat imitator that repeats its last control is right on
    every other frame, so these keyframes carry the decision; upweighting them is the remedy of
    Wen et al. 2021 ("keyframe-focused" imitation) with "repeat the last accel" as the copycat.
    Needs DrivingOutput.ego_accel; networks that leave it None get no keyframe term. 0: off. One
    paired fine-tune of the long recipe's policy (BENCHMARKS.md): spin-out 6/8 with it, 2/8 without;
    in the whole long recipe (with the far read) no measured gain: see BENCHMARKS.md, session 7"""


def driving_loss(out: DrivingOutput, labels: Labels, w: DrivingLossWeights) -> dict[str, torch.Tensor]:
    """Imitation terms shared by every network: plan, controls and target speed."""
    scale = torch.tensor(ACTION_SCALE, device=out.action.device, dtype=out.action.dtype)
    label_accel = labels.expert_action[:, 1].to(out.action.dtype)  # (B,)
    weight = 1.0 + w.event * label_accel.abs() / MAX_ACCEL  # (B,)
    if w.keyframe > 0 and out.ego_accel is not None:
        weight = weight + w.keyframe * (label_accel - out.ego_accel.to(label_accel.dtype)).abs() / MAX_ACCEL
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
