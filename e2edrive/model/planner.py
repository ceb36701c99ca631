"""Planner: learned plan queries, conditioned on the navigation goal and the ego status, attend to
the BEV (temporal features plus the occupancy the heads predict) and decode 10 waypoints at 5 Hz,
a target speed and the two controls, bounded to the actuator range.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from e2edrive.core.constants import MAX_ACCEL, MAX_STEER, MIN_ACCEL, PLAN_STEPS, TurnCommand

NAV_FEATURES = 10 * 2 + 1 + len(TurnCommand) + 1  # route points, distance to turn, command, speed limit
EGO_FEATURES = 4  # speed, accel, yaw rate, steer
# Scales that bring the inputs to order one (m, m, m/s, m/s^2, rad/s, rad).
ROUTE_SCALE, TURN_DIST_SCALE, SPEED_SCALE = 20.0, 50.0, 10.0
# Per-step pose increments of the plan are predicted in these units: 2 m per 0.2 s is 10 m/s.
STEP_SCALE = (2.0, 0.5, 0.1)  # m, m, rad


def nav_ego_features(
    route_points: torch.Tensor,
    dist_to_turn: torch.Tensor,
    turn_command: torch.Tensor,
    speed_limit: torch.Tensor,
    ego_status: torch.Tensor,
) -> torch.Tensor:
    """Navigation goal and ego status (shapes of core.types.NavGoal / Observation.ego_status) ->
    (B, NAV_FEATURES + EGO_FEATURES) normalised."""
    B = route_points.shape[0]
    cmd = F.one_hot(turn_command.long().clamp(0, len(TurnCommand) - 1), len(TurnCommand)).to(
        route_points.dtype
    )
    ego_scale = torch.tensor(
        [SPEED_SCALE, MAX_ACCEL, 1.0, MAX_STEER], device=ego_status.device, dtype=ego_status.dtype
    )
    return torch.cat(
        [
            route_points.reshape(B, -1) / ROUTE_SCALE,
            (dist_to_turn.clamp(max=200.0) / TURN_DIST_SCALE).unsqueeze(-1),
            cmd,
            (speed_limit / SPEED_SCALE).unsqueeze(-1),
            ego_status / ego_scale,
        ],
        -1,
    )


def bound_controls(raw: torch.Tensor) -> torch.Tensor:
    """raw (B, 2) -> [steer, accel] inside [-MAX_STEER, MAX_STEER] x [MIN_ACCEL, MAX_ACCEL].

    tanh with separate gains for throttle and brake keeps zero at zero and the full braking range.
    """
    t = torch.tanh(raw)
    steer = MAX_STEER * t[:, 0]
    accel = torch.where(t[:, 1] > 0, MAX_ACCEL * t[:, 1], -MIN_ACCEL * t[:, 1])
    return torch.stack([steer, accel], -1)


class Planner(nn.Module):
    """(BEV tokens (B, Q, C), their positions (1, Q, C), nav+ego (B, F)) ->
    plan (B, PLAN_STEPS, 3), speed (B,), action (B, 2), context (B, C) for the reason head."""

    def __init__(self, channels: int, queries: int, layers: int, heads: int):
        super().__init__()
        self.goal = nn.Sequential(
            nn.Linear(NAV_FEATURES + EGO_FEATURES, channels),
            nn.ReLU(inplace=True),
            nn.Linear(channels, channels),
        )
        self.queries = nn.Parameter(torch.randn(queries, channels) * 0.02)
        self.decoder = nn.ModuleList(
            nn.TransformerDecoderLayer(
                channels, heads, 2 * channels, dropout=0.0, batch_first=True, norm_first=True
            )
            for _ in range(layers)
        )
        self.norm = nn.LayerNorm(channels)
        self.out = nn.Sequential(
            nn.Linear(2 * channels, 2 * channels),
            nn.ReLU(inplace=True),
            nn.Linear(2 * channels, PLAN_STEPS * 3 + 1 + 2),
        )
        self.register_buffer("step_scale", torch.tensor(STEP_SCALE), persistent=False)

    def forward(self, bev_tokens: torch.Tensor, pos: torch.Tensor, nav_ego: torch.Tensor):
        B = bev_tokens.shape[0]
        goal = self.goal(nav_ego)  # (B, C)
        q = self.queries.unsqueeze(0) + goal.unsqueeze(1)  # (B, K, C)
        memory = bev_tokens + pos
        for layer in self.decoder:
            q = layer(q, memory)
        context = self.norm(q.mean(1))  # (B, C)
        raw = self.out(torch.cat([context, goal], -1))  # goal again: a shortcut for speed and route
        steps = raw[:, : PLAN_STEPS * 3].view(B, PLAN_STEPS, 3) * self.step_scale
        plan = steps.cumsum(1)  # (B, PLAN_STEPS, 3) poses as summed increments: smooth by construction
        speed = F.softplus(raw[:, PLAN_STEPS * 3])  # (B,) m/s >= 0
        action = bound_controls(raw[:, PLAN_STEPS * 3 + 1 :])  # (B, 2)
        return plan, speed, action, context
