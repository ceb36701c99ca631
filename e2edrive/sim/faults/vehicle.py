"""Faults of the car rather than the cameras: a late actuator and a noisy wheel-speed sensor."""

from __future__ import annotations

from dataclasses import replace

import torch

from e2edrive.core.env import Driver
from e2edrive.core.types import Action, Observation
from e2edrive.sim.faults.base import Fault, FaultContext, normal

SPEED_NOISE_STD = (0.3, 1.0, 2.5)  # m/s, per-step noise on the measured speed


class SpeedNoise(Fault):
    """The speed the driver reads is off by Gaussian noise, fresh every step; never negative."""

    name = "speed_noise"

    def apply(self, obs: Observation, ctx: FaultContext) -> Observation:
        noise = normal(ctx.key, ctx.step, 8, ()) * SPEED_NOISE_STD[self.severity - 1]  # (B,)
        return replace(obs, speed=(obs.speed + noise.to(obs.speed.dtype)).clamp(min=0.0))


class ActionLatency(Fault):
    """The action reaches the wheels severity (1, 2 or 3) control steps late."""

    name = "action_latency"

    def wrap(self, driver: Driver) -> Driver:
        return LatencyDriver(driver, self.severity)


class LatencyDriver(Driver):
    """Applies the action `inner` chose `delay` steps ago. Before an episode has that much history,
    the car holds its wheel angle and does not accelerate: nothing had been commanded yet."""

    def __init__(self, inner: Driver, delay: int):
        if delay < 1:
            raise ValueError(f"latency must be >= 1 step, got {delay}")
        self.inner, self.delay = inner, delay
        self.name = inner.name
        self.needs_images = inner.needs_images
        self.needs_privileged = inner.needs_privileged
        self.queue: torch.Tensor | None = None  # (delay, B, 2) [steer, accel], oldest first

    def reset(self, batch: int, device: torch.device) -> None:
        self.inner.reset(batch, device)
        self.queue = None

    def act(self, obs, privileged=None):
        action, plan, reasons = self.inner.act(obs, privileged)
        a = action.as_tensor()  # (B, 2)
        idle = torch.stack([obs.steer.to(a.dtype), torch.zeros_like(a[:, 1])], -1)  # (B, 2)
        if self.queue is None:
            self.queue = idle[None].repeat(self.delay, 1, 1)
        queue = torch.where(obs.first.view(1, -1, 1), idle[None], self.queue)  # new episodes start empty
        self.queue = torch.cat([queue[1:], a[None]])
        return Action.from_tensor(queue[0]), plan, reasons

    def observe(self, step_output) -> None:
        self.inner.observe(step_output)

    def episode_end(self, env, scenario, seed, result) -> None:
        self.inner.episode_end(env, scenario, seed, result)
