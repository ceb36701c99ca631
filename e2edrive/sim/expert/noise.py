"""Noise injection (DART-style data augmentation): the executed action is perturbed so the car
drifts off the expert's path, while the recorded label stays the expert's corrective action.
The perturbation is a pure function of (episode, step), like the rest of the episode."""

from __future__ import annotations

import torch

from e2edrive.core.constants import MAX_ACCEL, MAX_STEER, MIN_ACCEL
from e2edrive.core.types import Action
from e2edrive.sim.expert.style import hash_normal


def perturb_action(
    action: Action, world, steer_std: float = 0.05, accel_std: float = 0.5, period: int = 20, duty: int = 6
) -> Action:
    """Action with bursts of noise: for `duty` steps out of every `period` (phase per episode) a
    constant offset drawn per burst is added to steer (rad) and accel (m/s^2), then clipped."""
    step = world.steps
    phase = (world.episode_keys & 0xFFFF) % period
    burst = (step + phase) // period
    on = ((step + phase) % period) < duty
    ds = steer_std * hash_normal(world.episode_keys, burst, 11)
    da = accel_std * hash_normal(world.episode_keys, burst, 12)
    steer = torch.where(on, action.steer + ds, action.steer).clamp(-MAX_STEER, MAX_STEER)
    accel = torch.where(on, action.accel + da, action.accel).clamp(MIN_ACCEL, MAX_ACCEL)
    return Action(steer, accel)
