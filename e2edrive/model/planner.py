"""Planner: learned plan queries, conditioned on the navigation goal, the ego status and
perception outputs (the light head's probabilities), attend to the BEV (temporal features plus the
occupancy the heads predict) and decode 10 waypoints at 5 Hz, a target speed and the two controls,
bounded to the actuator range. Beside the attention, the decoder reads the BEV position by
position (`summary`) and, when given, a direct read of forward cameras (`camera_context`).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from e2edrive.core.constants import MAX_ACCEL, MAX_STEER, MIN_ACCEL, PLAN_STEPS, TurnCommand

NAV_FEATURES = 10 * 2 + 1 + len(TurnCommand) + 1  # route points, distance to turn, command, speed limit
EGO_NAMES = ("speed", "accel", "yaw_rate", "steer")  # Observation.ego_status order
EGO_FEATURES = len(EGO_NAMES)
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


def route_points_of(nav_ego: torch.Tensor) -> torch.Tensor:
    """The ego-frame route points (B, 10, 2), m, back from nav_ego_features' first slice."""
    return nav_ego[:, :20].reshape(-1, 10, 2) * ROUTE_SCALE


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

    def __init__(
        self,
        channels: int,
        queries: int,
        layers: int,
        heads: int,
        ego_inputs: tuple[str, ...] = EGO_NAMES,
        bev_hw: tuple[int, int] | None = None,
        summary_channels: int = 0,
        extra_features: int = 0,
        camera_read: bool = False,
    ):
        super().__init__()
        self.extra_features = extra_features  # perception outputs the goal also reads (light state)
        # A position-specific read of the whole BEV (conv, flatten, linear): "occupied 12 m ahead in
        # my lane" is one weight, where attention must first learn to find the place. It speeds up
        # learning a lot in the small-data regime of a laptop run (BENCHMARKS.md).
        self.summary = None
        if summary_channels > 0:
            if bev_hw is None:
                raise ValueError("summary_channels > 0 needs the BEV size bev_hw")
            h, w = (bev_hw[0] + 1) // 2, (bev_hw[1] + 1) // 2
            self.summary = nn.Sequential(
                nn.Conv2d(channels, summary_channels, 3, stride=2, padding=1),
                nn.ReLU(inplace=True),
                nn.Flatten(),
                nn.Linear(summary_channels * h * w, channels),
                nn.ReLU(inplace=True),
            )
        # 1 for the navigation features and the ego fields read, 0 for the ego fields left out
        mask = torch.ones(NAV_FEATURES + EGO_FEATURES)
        for i, name in enumerate(EGO_NAMES):
            mask[NAV_FEATURES + i] = float(name in ego_inputs)
        self.register_buffer("input_mask", mask, persistent=False)
        self.goal = nn.Sequential(
            nn.Linear(NAV_FEATURES + EGO_FEATURES + extra_features, channels),
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
            nn.Linear((2 + (summary_channels > 0) + camera_read) * channels, 2 * channels),
            nn.ReLU(inplace=True),
            nn.Linear(2 * channels, PLAN_STEPS * 3 + 1 + 2),
        )
        self.register_buffer("step_scale", torch.tensor(STEP_SCALE), persistent=False)

    def forward(
        self,
        bev_tokens: torch.Tensor,
        pos: torch.Tensor,
        nav_ego: torch.Tensor,
        bev: torch.Tensor | None = None,
        extra: torch.Tensor | None = None,
        camera_context: torch.Tensor | None = None,
    ):
        """bev (B, C, X, Y): the BEV map the tokens were flattened from (needed with a summary path);
        extra (B, extra_features): perception outputs conditioning the goal (e.g. light probabilities);
        camera_context (B, C): a direct read of the forward cameras' features (with camera_read)."""
        B = bev_tokens.shape[0]
        inputs = nav_ego * self.input_mask
        if self.extra_features:
            if extra is None or extra.shape[-1] != self.extra_features:
                raise ValueError(f"this planner reads {self.extra_features} extra features (B, E)")
            inputs = torch.cat([inputs, extra.to(inputs.dtype)], -1)
        goal = self.goal(inputs)  # (B, C)
        q = self.queries.unsqueeze(0) + goal.unsqueeze(1)  # (B, K, C)
        memory = bev_tokens + pos
        for layer in self.decoder:
            q = layer(q, memory)
        context = self.norm(q.mean(1))  # (B, C)
        parts = [context, goal]  # goal again: a shortcut for speed and route
        if self.summary is not None:
            if bev is None:
                raise ValueError("this planner reads the BEV map: pass bev (B, C, X, Y)")
            parts.append(self.summary(bev))
        if camera_context is not None:
            parts.append(camera_context)
        raw = self.out(torch.cat(parts, -1))
        steps = raw[:, : PLAN_STEPS * 3].view(B, PLAN_STEPS, 3) * self.step_scale
        plan = steps.cumsum(1)  # (B, PLAN_STEPS, 3) poses as summed increments: smooth by construction
        speed = F.softplus(raw[:, PLAN_STEPS * 3])  # (B,) m/s >= 0
        action = bound_controls(raw[:, PLAN_STEPS * 3 + 1 :])  # (B, 2)
        return plan, speed, action, context
