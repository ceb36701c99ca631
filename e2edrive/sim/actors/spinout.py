"""The spin-out car: one optional slot per environment whose vehicle turns into a 2D rigid body
(sim.rigid_body) at its spin time. The rear tyres lose grip (ice, oil), the car gets a yaw kick
and the driver's panic steering towards `spin_dir` makes it rotate and slide across the lane into
the barrier, from which it bounces back with restitution. Nothing is scripted after the trigger:
the path is whatever the physics gives, which is why the expert must predict a zone, not a line.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import torch

from e2edrive.sim.rigid_body import RigidBodyParams, RigidBodyState, lose_traction, step_rigid_body

SPIN_YAW_KICK = 0.9  # rad/s added at loss of traction
SPIN_MU_REAR = 0.12  # rear grip after the loss (wet ice)
SPIN_STEER = 0.12  # rad, panic steering towards spin_dir
SPIN_BRAKE = -2.0  # m/s^2, the spinning driver's braking
SPIN_SUBSTEPS = 4  # 16 m/s moves 0.4 m per sub-step, under half the car's width (rigid_body's rule)


@dataclass
class SpinState:
    """Per-environment spin-out slot.

    slot:        (B,) long actor index of the car that will spin, -1 if none
    body:        RigidBodyState (B,) (meaningful where active)
    params:      RigidBodyParams with (B,) tensors
    active:      (B,) bool, the car is out of control now
    impacts:     (B,) long, barrier impacts so far
    first_impact_t: (B,) s, time of the first impact (inf before)
    """

    slot: torch.Tensor
    body: RigidBodyState
    params: RigidBodyParams
    active: torch.Tensor
    impacts: torch.Tensor
    first_impact_t: torch.Tensor

    @staticmethod
    def empty(slot: torch.Tensor) -> SpinState:
        z = torch.zeros(slot.shape[0], device=slot.device)
        body = RigidBodyState(z, z, z, z, z, z)
        params = RigidBodyParams(
            mu_rear=torch.full_like(z, 0.9), wheels_locked=torch.zeros_like(z, dtype=torch.bool)
        )
        return SpinState(
            slot,
            body,
            params,
            torch.zeros_like(z, dtype=torch.bool),
            torch.zeros_like(slot),
            torch.full_like(z, float("inf")),
        )

    def select(self, mask: torch.Tensor, other: SpinState) -> SpinState:
        """other where mask (B,) is True."""

        def w(a, b):
            return torch.where(mask, b, a)

        body = RigidBodyState(
            *(
                w(getattr(self.body, f), getattr(other.body, f))
                for f in ("x", "y", "yaw", "vx", "vy", "yaw_rate")
            )
        )
        params = replace(
            self.params,
            mu_rear=w(self.params.mu_rear, other.params.mu_rear),
            wheels_locked=w(self.params.wheels_locked, other.params.wheels_locked),
        )
        return SpinState(
            w(self.slot, other.slot),
            body,
            params,
            w(self.active, other.active),
            w(self.impacts, other.impacts),
            w(self.first_impact_t, other.first_impact_t),
        )


def start_spin(
    spin: SpinState, start: torch.Tensor, pose: torch.Tensor, speed: torch.Tensor, direction: torch.Tensor
) -> SpinState:
    """Turn the slot's car into a rigid body where start (B,) is True; pose (B, 3) world box
    centre, speed (B,), direction (B,) +1 spins left."""
    fresh = RigidBodyState.from_pose(pose, speed)
    body = RigidBodyState(
        *(
            torch.where(start, getattr(fresh, f), getattr(spin.body, f))
            for f in ("x", "y", "yaw", "vx", "vy", "yaw_rate")
        )
    )
    body, params = lose_traction(
        body, spin.params, start, yaw_kick=SPIN_YAW_KICK * direction, mu_rear=SPIN_MU_REAR, lock_wheels=False
    )
    return replace(spin, body=body, params=params, active=spin.active | start)


def advance_spin(
    spin: SpinState,
    barriers: torch.Tensor,
    barrier_valid: torch.Tensor,
    t_next: torch.Tensor,
    direction: torch.Tensor,
    dt: float,
) -> SpinState:
    """Step the rigid bodies (all envs at once; only active ones are kept) and count impacts."""
    steer = SPIN_STEER * direction
    # brake only while rolling forward (a brake is not a reverse gear), fading out below 0.5 m/s
    v_long = spin.body.vx * torch.cos(spin.body.yaw) + spin.body.vy * torch.sin(spin.body.yaw)
    brake = SPIN_BRAKE * (v_long / 0.5).clamp(0.0, 1.0)
    body, impact = step_rigid_body(
        spin.body, spin.params, barriers, dt, SPIN_SUBSTEPS, barrier_valid, steer=steer, accel=brake
    )
    body = RigidBodyState(
        *(
            torch.where(spin.active, getattr(body, f), getattr(spin.body, f))
            for f in ("x", "y", "yaw", "vx", "vy", "yaw_rate")
        )
    )
    impact = impact & spin.active
    first = torch.where(impact & torch.isinf(spin.first_impact_t), t_next, spin.first_impact_t)
    return replace(spin, body=body, impacts=spin.impacts + impact.long(), first_impact_t=first)
