"""Ego-status MLP: the AD-MLP sanity baseline (Zhai et al. 2023, "Rethinking the open-loop evaluation
of end-to-end autonomous driving in nuScenes", arXiv 2305.10430).

It sees no camera at all: only the ego's own recent motion (speed, acceleration, yaw rate, steering
angle and odometry over the last `history` frames) and the navigation goal. Zhai et al. showed that
such a blind MLP matches camera-based planners on nuScenes open-loop L2, because the future of a
car is mostly its past. Any camera network here must beat it where it counts: closed loop, where
a blind car runs into the lead car, the red light and the chickens.

Inputs, per sample:
    history x [speed, accel, yaw_rate, steer, odom dx, odom dy, odom dyaw]  (oldest first)
    + route points (10 x 2) + distance to turn + one-hot turn command (3) + speed limit
each divided by a fixed scale (below) so the MLP sees numbers of order one.
The MLP is AD-MLP's: a few wide ReLU layers; the head is the shared `DrivingHead`.

Streaming: `act` keeps the last `history` frames of ego features as its state, (B, history, 7);
on `first` the history is filled with the current frame, the same padding as `Clip` uses.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn

from e2edrive.core.constants import TurnCommand
from e2edrive.core.types import Action, Labels, NavGoal, Observation
from e2edrive.model.base import DrivingLossWeights, DrivingPolicy, driving_loss
from e2edrive.model.dave2 import DrivingHead
from e2edrive.model.output import DrivingOutput

# Scales of [speed m/s, accel m/s^2, yaw_rate rad/s, steer rad, odom dx m, dy m, dyaw rad]:
# typical magnitudes, so each feature is of order one (dx per 0.1 s step at 20 m/s is 2 m).
EGO_SCALE = (10.0, 3.0, 0.5, 0.3, 1.0, 0.1, 0.05)
EGO_FEATURES = len(EGO_SCALE)
ROUTE_SCALE = 25.0  # m: route points reach 50 m ahead
TURN_DIST_SCALE = 100.0  # m: dist_to_turn is capped at 200 m
SPEED_LIMIT_SCALE = 10.0  # m/s
NUM_TURN_COMMANDS = len(TurnCommand)


@dataclass
class EgoMLPConfig:
    history: int = 4
    """frames of ego status the MLP sees, current included (4 frames = 0.3 s of past at 10 Hz)"""
    hidden: tuple[int, ...] = (512, 512, 512)
    """widths of the hidden layers (AD-MLP: an MLP of 512-wide layers)"""
    route_points: int = 10
    """route points in NavGoal.route_points"""
    loss: DrivingLossWeights = field(default_factory=DrivingLossWeights)
    """weights of the plan, control and speed terms"""


class EgoMLP(DrivingPolicy):
    """Blind baseline: ego-status history + navigation goal -> [steer, accel], plan, target speed."""

    name = "ego_mlp"
    config_class = EgoMLPConfig

    def __init__(self, config: EgoMLPConfig | None = None):
        super().__init__()
        self.config = c = config or EgoMLPConfig()
        if c.history < 1:
            raise ValueError(f"EgoMLP history must be >= 1 frame, got {c.history}")
        self.register_buffer("ego_scale", torch.tensor(EGO_SCALE), persistent=False)
        n_in = c.history * EGO_FEATURES + c.route_points * 2 + 1 + NUM_TURN_COMMANDS + 1
        layers: list[nn.Module] = []
        for width in c.hidden:
            layers += [nn.Linear(n_in, width), nn.ReLU()]
            n_in = width
        self.mlp = nn.Sequential(*layers)
        self.head = DrivingHead(n_in)

    def ego_features(self, obs: Observation) -> torch.Tensor:
        """Observation tensors (..., ) -> (..., 7) scaled ego features; works on (B,) and (B, T)."""
        ego = torch.cat([obs.ego_status(), obs.odom], -1)  # (..., 7)
        return ego / self.ego_scale

    def nav_features(self, nav: NavGoal) -> torch.Tensor:
        """Navigation goal of one frame (B, ...) -> (B, 2 * route_points + 5)."""
        route = nav.route_points.flatten(1) / ROUTE_SCALE  # (B, 20)
        turn = F.one_hot(nav.turn_command.long(), NUM_TURN_COMMANDS).to(route.dtype)  # (B, 3)
        dist = (nav.dist_to_turn / TURN_DIST_SCALE).unsqueeze(-1)  # (B, 1)
        limit = (nav.speed_limit / SPEED_LIMIT_SCALE).unsqueeze(-1)  # (B, 1)
        return torch.cat([route, dist, turn, limit], -1)

    def predict(self, history: torch.Tensor, nav: torch.Tensor) -> DrivingOutput:
        """history (B, history, 7), nav (B, 25) -> DrivingOutput."""
        return self.head(self.mlp(torch.cat([history.flatten(1), nav], -1)))

    def forward(self, obs: Observation) -> DrivingOutput:  # obs tensors (B, T, ...)
        ego = self.ego_features(obs)  # (B, T, 7)
        T, H = ego.shape[1], self.config.history
        if T < H:  # a short clip: repeat its oldest frame, as Clip pads before an episode start
            ego = torch.cat([ego[:, :1].expand(-1, H - T, -1), ego], 1)
        nav = obs.nav  # the goal at the clip's last frame: (B, T, ...) -> (B, ...)
        last = NavGoal(
            nav.route_points[:, -1], nav.dist_to_turn[:, -1], nav.turn_command[:, -1], nav.speed_limit[:, -1]
        )
        return self.predict(ego[:, -H:], self.nav_features(last))

    def init_state(self, batch: int, device: torch.device | str) -> torch.Tensor:
        """(B, history, 7) zeros; the first step (obs.first True) overwrites it."""
        return torch.zeros(batch, self.config.history, EGO_FEATURES, device=device)

    def act(
        self, obs: Observation, state: torch.Tensor | None = None
    ) -> tuple[Action, torch.Tensor, DrivingOutput]:
        """One control step; obs tensors (B, ...). state (B, history, 7) from init_state or the last act."""
        if state is None:
            state = self.init_state(obs.batch_size, obs.speed.device)
        ego = self.ego_features(obs)  # (B, 7)
        shifted = torch.cat([state[:, 1:], ego.unsqueeze(1)], 1)  # (B, history, 7)
        restart = ego.unsqueeze(1).expand_as(state)  # (B, history, 7)
        state = torch.where(obs.first.view(-1, 1, 1), restart, shifted)  # no branch: exportable
        out = self.predict(state, self.nav_features(obs.nav))
        return Action.from_tensor(out.action).validated(clip=True), state, out

    def loss(self, out: DrivingOutput, labels: Labels) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        parts = driving_loss(out, labels, self.config.loss)
        return sum(parts.values()), parts
