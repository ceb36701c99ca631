"""Filling a `StepRecord` (data.triggers) from what a rollout has at hand, one call per step.

Every rollout that records (collect, DAgger) builds its records here, so the triggers read the
same quantities whoever drives: the executed acceleration, the step's infractions and time to
collision, the hazards on the route (from the frame's labels), the route's light now and at the
previous step, camera faults (black or frozen frames), the shadow driver's disagreement, and,
when a network acts or watches, whether its occupancy head sees the planned path blocked.
"""

from __future__ import annotations

import torch

from e2edrive.core.env import StepInfractions
from e2edrive.core.types import Labels, Observation
from e2edrive.data.shadow import Disagreement
from e2edrive.data.triggers import StepRecord, camera_faults, hazard_distance, path_blocked
from e2edrive.model.output import DrivingOutput

FROZEN_MIN_SPEED = 0.5  # m/s: below it an unchanged frame is what a still scene looks like
_INFRACTION_FLAGS = (
    "collision_vehicle",
    "collision_pedestrian_animal",
    "collision_static",
    "off_road",
    "red_light_run",
)


class StepRecorder:
    """Keeps what a record needs from the previous step (light state, images) per environment."""

    def __init__(self) -> None:
        self.prev_light: torch.Tensor | None = None  # (B,) long
        self.prev_images: torch.Tensor | None = None  # (B, N, 3, H, W) uint8

    def record(
        self,
        obs: Observation,
        labels: Labels,
        accel: torch.Tensor,
        infractions: StepInfractions | None = None,
        intervention: torch.Tensor | None = None,
        shadow: Disagreement | None = None,
        net_out: DrivingOutput | None = None,
    ) -> StepRecord:
        """The StepRecord of this step. accel (B,): the executed acceleration, m/s^2; infractions:
        what the world measured for this step (ttc included); net_out: a network's output at this
        frame (acting or in shadow), for the head-inconsistency trigger."""
        B, dev = obs.batch_size, obs.speed.device
        light = labels.traffic_light.to(dev).long()
        prev = self.prev_light if self.prev_light is not None else torch.full_like(light, -1)
        prev = torch.where(obs.first.to(dev), torch.full_like(light, -1), prev)  # a new episode: unknown
        given = {
            "accel": accel.to(dev).float(),
            "hazard_dist": hazard_distance(
                labels.boxes, labels.box_class, labels.box_valid, obs.nav.route_points
            ),
            "traffic_light": light,
            "prev_traffic_light": prev,
        }
        if labels.oncoming_gap is not None:
            given["oncoming_gap"] = labels.oncoming_gap.to(dev).float()
        if infractions is not None:
            hit = torch.zeros(B, dtype=torch.bool, device=dev)
            for name in _INFRACTION_FLAGS:
                hit |= getattr(infractions, name).to(dev).bool()
            given["infraction"] = hit
            given["ttc"] = infractions.ttc.to(dev).float()
        if intervention is not None:
            given["intervention"] = intervention.to(dev).bool()
        if shadow is not None:
            given.update({k: v.to(dev) for k, v in shadow.record_fields().items()})
        if net_out is not None and net_out.occupancy is not None:
            given["path_blocked"] = path_blocked(net_out.occupancy.float(), net_out.plan[..., :2]).to(dev)
            given["planner_accel"] = net_out.action[:, 1].float().to(dev)
        if obs.images.shape[1] > 0:
            prev_images = self.prev_images
            if prev_images is not None and prev_images.shape != obs.images.shape:
                prev_images = None
            black, frozen = camera_faults(obs.images, prev_images)
            # A renderer draws a still scene identically, so a frame equal to the last one means a
            # frozen camera only while the ego moves; a new episode has nothing to be frozen against.
            moving = obs.speed.to(dev) > FROZEN_MIN_SPEED
            given["camera_black"], given["camera_frozen"] = black, frozen & moving & ~obs.first.to(dev)
            self.prev_images = obs.images.clone()
        self.prev_light = light
        return StepRecord.empty(B, dev, **given)
