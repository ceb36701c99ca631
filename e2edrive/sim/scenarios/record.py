"""Per-environment tensors that accumulate what the pass rules need (EpisodeRecord), updated by
the World every step without host syncs; read back once per episode."""

from __future__ import annotations

import torch

from e2edrive.sim.scenarios.base import EpisodeRecord

_BOOL = (
    "collided",
    "at_fault",
    "route_done",
    "off_road",
    "spin_braked",
    "spin_impact",
    "puddle_touched",
    "chicken_violation",
    "ped_violation",
    "gap_violation",
    "crosswalk_violation",
)


class RecordAccumulator:
    def __init__(self, batch_size: int, device):
        self.B, self.device = batch_size, device
        for name in _BOOL:
            setattr(self, name, torch.zeros(batch_size, dtype=torch.bool, device=device))
        self.red_light_runs = torch.zeros(batch_size, dtype=torch.long, device=device)
        self.min_gap = torch.full((batch_size,), float("inf"), device=device)
        self.puddle_max_speed = torch.zeros(batch_size, device=device)
        self.parked_max_speed = torch.zeros(batch_size, device=device)
        self.route_completion = torch.zeros(batch_size, device=device)
        self.steps = torch.zeros(batch_size, dtype=torch.long, device=device)

    def reset(self, mask: torch.Tensor) -> None:
        for name in _BOOL + (
            "red_light_runs",
            "puddle_max_speed",
            "parked_max_speed",
            "route_completion",
            "steps",
        ):
            getattr(self, name).masked_fill_(mask, 0)
        self.min_gap.masked_fill_(mask, float("inf"))

    def update(
        self,
        active: torch.Tensor,
        *,
        collided,
        at_fault,
        route_done,
        route_completion,
        off_road,
        red_light_run,
        gap_ahead,
        spin_braked,
        spin_impact,
        puddle_wheel,
        speed,
        chicken_violation,
        ped_violation,
        gap_violation=None,
        crosswalk_violation=None,
        parked_speed=None,
    ) -> None:
        """Fold one step in where active (B,); every argument is (B,)."""
        for name, v in (
            ("collided", collided),
            ("at_fault", at_fault),
            ("route_done", route_done),
            ("off_road", off_road),
            ("spin_braked", spin_braked),
            ("spin_impact", spin_impact),
            ("puddle_touched", puddle_wheel),
            ("chicken_violation", chicken_violation),
            ("ped_violation", ped_violation),
            ("gap_violation", gap_violation),
            ("crosswalk_violation", crosswalk_violation),
        ):
            if v is None:
                continue
            setattr(self, name, getattr(self, name) | (v & active))
        self.red_light_runs += (red_light_run & active).long()
        self.min_gap = torch.where(active, torch.minimum(self.min_gap, gap_ahead), self.min_gap)
        over = puddle_wheel & active
        self.puddle_max_speed = torch.where(
            over, torch.maximum(self.puddle_max_speed, speed), self.puddle_max_speed
        )
        if parked_speed is not None:
            self.parked_max_speed = torch.where(
                active, torch.maximum(self.parked_max_speed, parked_speed), self.parked_max_speed
            )
        self.route_completion = torch.where(active, route_completion, self.route_completion)
        self.steps += active.long()

    def record(self, b: int) -> EpisodeRecord:
        return EpisodeRecord(
            collided=bool(self.collided[b]),
            at_fault=bool(self.at_fault[b]),
            route_done=bool(self.route_done[b]),
            route_completion=float(self.route_completion[b]),
            off_road=bool(self.off_road[b]),
            red_light_runs=int(self.red_light_runs[b]),
            min_gap=float(self.min_gap[b]),
            spin_braked=bool(self.spin_braked[b]),
            spin_impact=bool(self.spin_impact[b]),
            puddle_touched=bool(self.puddle_touched[b]),
            puddle_max_speed=float(self.puddle_max_speed[b]),
            chicken_violation=bool(self.chicken_violation[b]),
            ped_violation=bool(self.ped_violation[b]),
            steps=int(self.steps[b]),
            gap_violation=bool(self.gap_violation[b]),
            crosswalk_violation=bool(self.crosswalk_violation[b]),
            parked_max_speed=float(self.parked_max_speed[b]),
        )
