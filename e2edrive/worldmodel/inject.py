"""Adversarial events injected into a dream: replace one agent's given boxes by a trajectory.

`cut_in_trajectory` is a pure function: a car that starts in the lane beside the ego, `gap` m
ahead of its front, and merges across the ego's path (lateral offset eased to 0 with a smoothstep)
while driving at the ego's speed plus `dv`. Coordinates are first built in the ego's frame at
the injection time (fixed, x forward, y left), then moved into the world frame by `ego_pose`.

`InjectedAgents` wraps an agent source of an `agent_conditioned` dream and writes that trajectory
into one agent slot of one environment each step (the slot of the nearest vehicle, else a free
one), so every model input and the dream's geometric collision check see the cutting car.
"""

from __future__ import annotations

import math

import torch

from e2edrive.core.constants import DT, EGO_LENGTH, EGO_REAR_OVERHANG, ObjectClass
from e2edrive.core.types import Action
from e2edrive.worldmodel.context import AgentBoxes, AgentSource

CUT_IN_SIZE = (4.6, 1.9, 1.5)  # m, length, width, height of the injected car


def cut_in_trajectory(
    ego_pose: torch.Tensor,
    ego_speed: float,
    steps: int,
    gap: float = 6.0,
    lateral: float = 3.5,
    dv: float = -2.0,
    t_start: float = 0.5,
    duration: float = 1.5,
    dt: float = DT,
) -> torch.Tensor:
    """(steps, 9) world-frame boxes [x, y, z, l, w, h, yaw, vx, vy] at t = dt, 2 dt, ..., of a car
    cutting in from `lateral` m to the left (negative: right) of the ego's path.

    ego_pose (3,) world pose of the ego's rear axle at t = 0; gap: m between the ego's front
    bumper and the car's centre at t = 0; dv: the car's speed minus the ego's (negative: slower,
    the gap closes); the lateral move takes `duration` s from `t_start`."""
    t = torch.arange(1, steps + 1, dtype=torch.float32) * dt
    v = max(0.0, ego_speed + dv)
    x0 = EGO_LENGTH - EGO_REAR_OVERHANG + gap
    x = x0 + v * t
    u = ((t - t_start) / duration).clamp(0, 1)
    y = lateral * (1 - u * u * (3 - 2 * u))  # smoothstep from lateral to 0
    vy = -lateral * 6 * u * (1 - u) / duration  # d/dt of y
    vx = torch.full_like(t, v)
    yaw = torch.atan2(vy, vx.clamp(min=1e-3))
    c, s = math.cos(float(ego_pose[2])), math.sin(float(ego_pose[2]))
    l, w, h = CUT_IN_SIZE
    return torch.stack(
        [
            float(ego_pose[0]) + c * x - s * y,
            float(ego_pose[1]) + s * x + c * y,
            torch.full_like(t, h / 2),
            torch.full_like(t, l),
            torch.full_like(t, w),
            torch.full_like(t, h),
            yaw + float(ego_pose[2]),
            c * vx - s * vy,
            s * vx + c * vy,
        ],
        -1,
    )


class InjectedAgents:
    """`source`'s boxes with environment `env`'s agent slot replaced by `trajectory` (steps, 9)
    world frame, one row per step (the last row holds once the trajectory ends)."""

    def __init__(self, source: AgentSource, trajectory: torch.Tensor, env: int = 0):
        self.source, self.trajectory, self.env = source, trajectory, env
        self.t = 0
        self.slot: int | None = None

    def barriers(self):
        return self.source.barriers()  # the injection leaves the map as the source gives it

    def next_boxes(self, action: Action) -> AgentBoxes:
        got = self.source.next_boxes(action)
        boxes, cls, valid = got.boxes.clone(), got.box_class.clone(), got.valid.clone()
        row = self.trajectory[min(self.t, len(self.trajectory) - 1)].to(boxes)
        self.t += 1
        if self.slot is None:  # chosen once, so the injected car keeps its token
            self.slot = pick_slot(boxes[self.env], cls[self.env], valid[self.env], row)
        boxes[self.env, self.slot] = row
        cls[self.env, self.slot] = int(ObjectClass.VEHICLE)
        valid[self.env, self.slot] = True
        return AgentBoxes(boxes, cls, valid)


def pick_slot(boxes: torch.Tensor, cls: torch.Tensor, valid: torch.Tensor, row: torch.Tensor) -> int:
    """The slot of the vehicle nearest to `row` (the injected car replaces it), else the first
    free slot, else the last slot. boxes (A, 9), cls (A,), valid (A,)."""
    vehicles = valid & (cls == int(ObjectClass.VEHICLE))
    if bool(vehicles.any()):
        d = torch.linalg.vector_norm(boxes[:, :2] - row[:2], dim=-1)
        return int(torch.where(vehicles, d, torch.full_like(d, math.inf)).argmin())
    free = (~valid).nonzero().flatten()
    return int(free[0]) if free.numel() else boxes.shape[0] - 1
