"""Ego kinematics: a kinematic bicycle about the rear axle, batched over B environments.

The ego frame's origin is the rear-axle centre (core.constants), so the bicycle model has its
simplest form there: the rear axle moves along the heading, never sideways, and the heading turns
at v tan(delta) / L. Over one physics sub-step the steering angle is held at its mid-step value,
so the path is an exact circular arc (or a straight line); we integrate that arc in closed form
instead of with Euler, which makes turning radii and stopping distances match their closed forms
to float precision and keeps the error independent of the sub-step for constant inputs.

What the model leaves out, on purpose: tyre slip (no understeer at high lateral acceleration),
load transfer, drag and powertrain lag. The acceleration command is executed exactly, except that
the car never reverses: braking at standstill holds it still.
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace

import torch

from e2edrive.core.constants import DT, EGO_BOX_CENTER_X, EGO_WHEELBASE, MAX_STEER, MAX_STEER_RATE
from e2edrive.core.geometry import wrap_angle
from e2edrive.core.types import Action


@dataclass
class EgoState:
    """Ego vehicle state, world frame. Every field is (B,) float32.

    x, y:     m, rear-axle centre (the ego-frame origin)
    yaw:      rad, heading, wrapped to [-pi, pi)
    speed:    m/s along the heading, >= 0 (no reverse)
    steer:    rad, actual front-wheel angle (lags the command under the rate limit)
    accel:    m/s^2, executed longitudinal acceleration over the last step ((v_end - v_start) / dt,
              so 0 while braking at standstill)
    yaw_rate: rad/s at the end of the last step, v tan(steer) / L (what a gyro reads at that instant)
    """

    x: torch.Tensor
    y: torch.Tensor
    yaw: torch.Tensor
    speed: torch.Tensor
    steer: torch.Tensor
    accel: torch.Tensor
    yaw_rate: torch.Tensor

    @staticmethod
    def from_pose(
        pose: torch.Tensor,
        speed: torch.Tensor | float = 0.0,
        steer: torch.Tensor | float = 0.0,
        wheelbase: float = EGO_WHEELBASE,
    ) -> EgoState:
        """A state at rest-or-cruising: pose (B, 3) rear-axle (x, y, yaw), speed and steer (B,) or scalar."""
        pose = pose.float()
        zeros = torch.zeros_like(pose[:, 0])
        speed_t = zeros + torch.as_tensor(speed, dtype=zeros.dtype, device=zeros.device)
        steer_t = zeros + torch.as_tensor(steer, dtype=zeros.dtype, device=zeros.device)
        if (speed_t < 0).any():
            raise ValueError("EgoState speed must be >= 0 (the ego does not reverse)")
        if (steer_t.abs() > MAX_STEER).any():
            raise ValueError(f"EgoState steer must be within +-{MAX_STEER} rad")
        return EgoState(
            pose[:, 0],
            pose[:, 1],
            wrap_angle(pose[:, 2]),
            speed_t,
            steer_t,
            zeros.clone(),
            speed_t * torch.tan(steer_t) / wheelbase,
        )

    @property
    def batch_size(self) -> int:
        return self.x.shape[0]

    def pose(self) -> torch.Tensor:
        """(B, 3) rear-axle (x, y, yaw), world frame."""
        return torch.stack([self.x, self.y, self.yaw], -1)

    def box_pose(self) -> torch.Tensor:
        """(B, 3) pose of the centre of the ego's bounding box (EGO_BOX_CENTER_X ahead of the rear axle):
        what collision checks (sim.collision) take."""
        c, s = torch.cos(self.yaw), torch.sin(self.yaw)
        return torch.stack([self.x + EGO_BOX_CENTER_X * c, self.y + EGO_BOX_CENTER_X * s, self.yaw], -1)

    def velocity(self) -> torch.Tensor:
        """(B, 2) world-frame velocity of the rear axle (along the heading)."""
        return torch.stack([self.speed * torch.cos(self.yaw), self.speed * torch.sin(self.yaw)], -1)

    def box_velocity(self) -> torch.Tensor:
        """(B, 2) world-frame velocity of the box centre: rear-axle velocity + yaw_rate x offset."""
        c, s = torch.cos(self.yaw), torch.sin(self.yaw)
        w = self.yaw_rate * EGO_BOX_CENTER_X
        return torch.stack([self.speed * c - w * s, self.speed * s + w * c], -1)

    def to(self, device) -> EgoState:
        return replace(self, **{f.name: getattr(self, f.name).to(device) for f in fields(self)})

    def where(self, mask: torch.Tensor, other: EgoState) -> EgoState:
        """Per-environment select: self where mask (B,) is True, other elsewhere (used on reset)."""
        return replace(
            self,
            **{
                f.name: torch.where(mask, getattr(self, f.name), getattr(other, f.name)) for f in fields(self)
            },
        )


def arc_step(
    x: torch.Tensor, y: torch.Tensor, yaw: torch.Tensor, ds: torch.Tensor, dyaw: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Move along a circular arc of length ds that turns by dyaw (constant curvature), any shape.

    The chord has length ds sin(dyaw/2) / (dyaw/2) and points along yaw + dyaw/2; torch.sinc keeps
    this exact and smooth through dyaw = 0 (a straight line). Returns (x, y, yaw) with yaw wrapped.
    """
    half = 0.5 * dyaw
    chord = ds * torch.sinc(half / torch.pi)  # torch.sinc(u) = sin(pi u) / (pi u)
    mid = yaw + half
    return x + chord * torch.cos(mid), y + chord * torch.sin(mid), wrap_angle(yaw + dyaw)


def travel(v0: torch.Tensor, a: torch.Tensor, h: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Distance and end speed after h seconds at constant acceleration a from speed v0 >= 0, stopping
    at zero speed instead of reversing: the distance is then v0^2 / (2 |a|). Shapes broadcast."""
    braking = a < 0
    t_stop = v0 / torch.where(braking, -a, torch.ones_like(a))  # time to standstill when braking
    t_move = torch.where(braking, torch.clamp(t_stop, max=h), torch.full_like(v0, h))
    ds = v0 * t_move + 0.5 * a * t_move * t_move
    v1 = torch.clamp(v0 + a * h, min=0.0)
    return ds.clamp(min=0.0), v1


def step_ego(
    state: EgoState,
    action: Action,
    dt: float = DT,
    substeps: int = 4,
    wheelbase: float = EGO_WHEELBASE,
    max_steer_rate: float = MAX_STEER_RATE,
) -> EgoState:
    """Advance the ego by dt seconds under action (steer (B,) rad command, accel (B,) m/s^2).

    The action is validated with Action.validated(clip=True): NaN or inf raises ValueError naming the
    environments; values outside the actuator range are clipped (the simulator's documented
    behaviour, as a real actuator saturates). Within each of `substeps` sub-steps of h = dt/substeps:
    the wheel angle moves towards the command by at most max_steer_rate h; the speed follows accel
    exactly and stops at zero; the rear axle follows the exact arc of curvature tan(steer_mid) / L.
    """
    if substeps < 1 or dt <= 0:
        raise ValueError(f"step_ego needs dt > 0 and substeps >= 1, got dt={dt}, substeps={substeps}")
    B = state.batch_size
    if action.steer.shape != (B,) or action.accel.shape != (B,):
        raise ValueError(
            f"action steer/accel must be shaped ({B},) like the state, got "
            f"{tuple(action.steer.shape)} and {tuple(action.accel.shape)}"
        )
    act = action.validated(clip=True)
    cmd_steer = act.steer.to(state.x)
    accel = act.accel.to(state.x)
    h = dt / substeps
    max_dsteer = max_steer_rate * h

    x, y, yaw, v, steer = state.x, state.y, state.yaw, state.speed, state.steer
    v_start = v
    for _ in range(substeps):
        steer_next = steer + torch.clamp(cmd_steer - steer, -max_dsteer, max_dsteer)
        kappa = torch.tan(0.5 * (steer + steer_next)) / wheelbase  # (B,) 1/m, held over the sub-step
        ds, v = travel(v, accel, h)
        x, y, yaw = arc_step(x, y, yaw, ds, kappa * ds)
        steer = steer_next
    return EgoState(
        x=x,
        y=y,
        yaw=yaw,
        speed=v,
        steer=steer,
        accel=(v - v_start) / dt,
        yaw_rate=v * torch.tan(steer) / wheelbase,
    )
