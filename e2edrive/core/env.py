"""The contract between a batched environment and whoever drives it.

    BatchedEnv       what the simulator (sim.World) and a learned world model implement alike:
                     reset, step, observation, per-environment resets, episode results
    StepOutput       what one step returns, (B,) each
    StepInfractions  what the metrics see at one step, (B,) each
    Driver           turns an Observation into an Action, batched; a driver that reads ground
                     truth (the expert, the DAgger safety driver) says so with `needs_privileged`
                     and is given the environment's privileged view explicitly

A driver never holds the environment: the closed-loop runner passes it the Observation and, only
to privileged drivers, the view the environment chooses to expose (sim.World.privileged()). That
is what lets a world model stand in for the simulator under every non-privileged driver.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any, Protocol, runtime_checkable

import torch

from e2edrive.core.rig import CameraRig
from e2edrive.core.types import Action, Observation


@dataclass
class StepInfractions:
    """What happened to the ego in one control step, batched over B environments (any device).

    collision_vehicle:           (B,) bool, ego box overlaps a vehicle
    collision_pedestrian_animal: (B,) bool, ego box overlaps a pedestrian, chicken or goose
    collision_static:            (B,) bool, ego touches a barrier, debris or another static object
    off_road:                    (B,) bool, a corner of the ego box is outside the drivable area
    red_light_run:               (B,) bool, ego crossed a stop line whose light is red
    ttc:                         (B,) s, time to collision with the nearest actor; inf if none
    progress:                    (B,) m driven along the route during this step
    accel_lon, accel_lat:        (B,) m/s^2, ego frame
    yaw_rate:                    (B,) rad/s
    jerk_lon:                    (B,) m/s^3 or None: then estimated from accel_lon
    jerk:                        (B,) m/s^3 rate of change of |accel| or None: then estimated
    yaw_accel:                   (B,) rad/s^2 or None: then estimated from yaw_rate
    """

    collision_vehicle: torch.Tensor
    collision_pedestrian_animal: torch.Tensor
    collision_static: torch.Tensor
    off_road: torch.Tensor
    red_light_run: torch.Tensor
    ttc: torch.Tensor
    progress: torch.Tensor
    accel_lon: torch.Tensor
    accel_lat: torch.Tensor
    yaw_rate: torch.Tensor
    jerk_lon: torch.Tensor | None = None
    jerk: torch.Tensor | None = None
    yaw_accel: torch.Tensor | None = None

    def check(self, batch_size: int, device: torch.device | None = None) -> None:
        """Raise with the field's name if a tensor is not (B,) on `device`; metadata only, no sync.
        Values must be finite (ttc may be +inf); that is checked once, when results are read."""
        for f in fields(self):
            v = getattr(self, f.name)
            if v is None:
                continue
            if not isinstance(v, torch.Tensor):
                raise TypeError(f"StepInfractions.{f.name} must be a torch.Tensor, got {type(v).__name__}")
            if tuple(v.shape) != (batch_size,):
                raise ValueError(
                    f"StepInfractions.{f.name} has shape {tuple(v.shape)}, expected ({batch_size},)"
                )
            if device is not None and v.device != device:
                raise ValueError(f"StepInfractions.{f.name} is on {v.device}, the metrics are on {device}")


@dataclass
class StepOutput:
    """Result of one BatchedEnv.step, (B,) each.

    reward: float; terminated: episode ended by the environment (route done, collision, far off
    road); truncated: time limit; done: terminated | truncated (sticky until reset_envs);
    infractions: what the metrics saw this step.
    """

    reward: torch.Tensor
    terminated: torch.Tensor
    truncated: torch.Tensor
    done: torch.Tensor
    infractions: StepInfractions


@runtime_checkable
class BatchedEnv(Protocol):
    """B environments stepped together; environment b drives episode (scenario, seed).

    Finished environments keep being stepped (their metrics freeze) until `reset_envs` starts
    their next episode: the caller streams episodes through the B slots. Every tensor is on
    `device` with leading dimension B = num_envs.
    """

    rig: CameraRig
    device: torch.device

    @property
    def num_envs(self) -> int: ...

    def reset(self, scenarios: list[str] | None = None, seeds: list[int] | None = None) -> Observation:
        """Start new episodes everywhere (default: the same (scenario, seed) pairs again)."""
        ...

    def step(self, action: Action) -> StepOutput:
        """Advance every environment by one control step (DT)."""
        ...

    def observation(self, images: torch.Tensor | None = None) -> Observation:
        """What a driver sees now; images (B, N_cam, 3, H, W) uint8 from a renderer, or none."""
        ...

    def reset_envs(self, mask: torch.Tensor | list[int], pairs: list[tuple[str, int]]) -> None:
        """Start episodes `pairs` in the environments of mask (B,) bool or an index list, in order."""
        ...

    def episode_results(self) -> list:
        """The EpisodeResult (sim.metrics) of every environment's current episode."""
        ...


class Driver:
    """Base of every driver: Observation in, Action out, batched over B environments.

    needs_images:     the runner renders camera images into the Observation for it
    needs_privileged: it reads ground truth; `act` then receives the environment's privileged
                      view (sim.World.privileged()), and None is an error
    """

    name = "driver"
    needs_images = False
    needs_privileged = False

    def reset(self, batch: int, device: torch.device) -> None:
        """Called once before the first step; per-episode resets come through `obs.first`."""

    def act(
        self, obs: Observation, privileged: Any = None
    ) -> tuple[Action, torch.Tensor | None, list[str] | None]:
        """(action (B,), plan_xy (B, P, 2) ego frame or None, reason texts or None)."""
        raise NotImplementedError

    def observe(self, step_output: StepOutput) -> None:
        """Sees the StepOutput after each step (infractions, TTC); most drivers ignore it."""

    def episode_end(self, env: int, scenario: str, seed: int, result) -> None:
        """Env `env` finished (scenario, seed) with EpisodeResult `result`, before it is reset."""
