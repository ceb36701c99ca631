"""Synthetic clips and a probe policy: a dataset and a network with no simulator behind them.

`train --data synthetic:N` trains on N synthetic clips, which is what the smoke tests, the
torchrun test and `bench/train_speed.py` use: the clips have the real shapes (8 cameras at the
default rig resolution, full label grids), so speed measured on them is the speed on real data,
and the expert action is a fixed function of the ego status so that a network can learn it.

`ProbePolicy` is the smallest `DrivingPolicy` that sees images and ego status and has dropout
(to prove the RNG is restored on resume). It is a test double, not a driving network.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import torch
from torch import nn

from e2edrive.core.constants import (
    LABEL_GRID,
    LANE_POLYLINE_POINTS,
    MAX_BOXES,
    MAX_LANE_POLYLINES,
    PLAN_STEPS,
)
from e2edrive.core.rig import CameraRig, make_rig
from e2edrive.core.types import Clip, Labels, NavGoal, Observation, _map_tensors
from e2edrive.model.base import DrivingLossWeights, DrivingPolicy, driving_loss
from e2edrive.model.output import DrivingOutput

SYNTHETIC_SCENARIO = "synthetic"


def _clip(i: int, history: int, rig: CameraRig, label_grids: bool) -> Clip:
    """Sample i: deterministic in i. Tensors are (1, T, ...) for obs and (1, ...) for labels."""
    g = torch.Generator().manual_seed(1_000_003 * i + 7)
    T, N, H, W = history, rig.num_cameras, rig.height, rig.width

    def r(*shape: int) -> torch.Tensor:
        return torch.rand(*shape, generator=g)

    speed = 15 * r(1, T)
    steer = 0.2 * (r(1, T) - 0.5)
    obs = Observation(
        images=(255 * r(1, T, N, 3, H, W)).to(torch.uint8),
        rig=rig,
        speed=speed,
        accel=2 * (r(1, T) - 0.5),
        yaw_rate=speed * torch.tan(steer) / 2.9,
        steer=steer,
        odom=torch.stack([speed * 0.1, torch.zeros_like(speed), speed * torch.tan(steer) / 2.9 * 0.1], -1),
        nav=NavGoal(
            route_points=torch.cumsum(torch.full((1, T, 10, 2), 5.0) * torch.tensor([1.0, 0.0]), 2),
            dist_to_turn=200 * r(1, T),
            turn_command=torch.randint(0, 3, (1, T), generator=g),
            speed_limit=torch.full((1, T), 15.0),
        ),
        first=torch.zeros(1, T, dtype=torch.bool),
        camera_valid=torch.ones(1, T, N, dtype=torch.bool),
    )
    # The "expert": close the gap to the speed limit and straighten the wheel (learnable from ego status).
    v, s = speed[:, -1], steer[:, -1]
    target_accel = (0.2 * (15.0 - v)).clamp(-8.0, 3.0)
    t = torch.arange(1, PLAN_STEPS + 1) * 0.2
    plan = torch.stack([v[:, None] * t, torch.zeros(1, PLAN_STEPS), torch.zeros(1, PLAN_STEPS)], -1)
    nx, ny, nz = LABEL_GRID.nx, LABEL_GRID.ny, LABEL_GRID.nz
    gx, gy = (nx, ny) if label_grids else (1, 1)
    labels = Labels(
        occupancy=(r(1, nz, gx, gy) > 0.9).to(torch.uint8),
        flow=torch.zeros(1, 2, gx, gy),
        boxes=torch.zeros(1, MAX_BOXES, 9),
        box_class=torch.zeros(1, MAX_BOXES, dtype=torch.long),
        box_valid=torch.zeros(1, MAX_BOXES, dtype=torch.bool),
        lanes=torch.zeros(1, 2, gx, gy, dtype=torch.uint8),
        lane_polylines=torch.zeros(1, MAX_LANE_POLYLINES, LANE_POLYLINE_POINTS, 2),
        lane_polyline_type=torch.zeros(1, MAX_LANE_POLYLINES, dtype=torch.long),
        lane_polyline_valid=torch.zeros(1, MAX_LANE_POLYLINES, dtype=torch.bool),
        drivable=torch.ones(1, gx, gy, dtype=torch.uint8),
        traffic_light=torch.zeros(1, dtype=torch.long),
        depth=(50 * r(1, N, H, W) if label_grids else torch.ones(1, N, 1, 1)),
        semantics=torch.zeros(1, N, H if label_grids else 1, W if label_grids else 1, dtype=torch.uint8),
        expert_plan=plan,
        expert_speed=torch.full((1,), 15.0),
        expert_action=torch.stack([-s, target_accel], -1),
        reason=torch.zeros(1, dtype=torch.long),
    )
    return Clip(obs, labels, torch.tensor([[i // 20, i % 20, i // 20]]))


class SyntheticClips(torch.utils.data.Dataset):
    """N deterministic synthetic clips; item i is a `Clip` with batch dimension 1.

    label_grids=False shrinks the BEV/camera label grids to 1x1 for networks that do not read
    them (the probe, the baselines), keeping tests fast.
    """

    def __init__(self, n: int, history: int = 2, rig: CameraRig | None = None, label_grids: bool = True):
        if n <= 0:
            raise ValueError(f"synthetic dataset needs n > 0 clips, got {n}")
        self.n, self.history, self.label_grids = n, history, label_grids
        self.rig = rig or make_rig()

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, i: int) -> Clip:
        if not 0 <= i < self.n:
            raise IndexError(f"clip {i} out of range [0, {self.n})")
        return _clip(i, self.history, self.rig, self.label_grids)

    def seed_pairs(self) -> list[tuple[str, int]]:
        """(scenario, seed) of every episode the clips come from (20 clips per synthetic episode)."""
        return [(SYNTHETIC_SCENARIO, s) for s in range((self.n + 19) // 20)]

    @staticmethod
    def collate(items: list[Clip]) -> Clip:
        return cat_clips(items)


def cat_clips(items: list[Clip]) -> Clip:
    """Concatenate clips that carry a batch dimension along B (the rig is shared)."""
    obs = _cat_dataclass([c.obs for c in items])
    return Clip(
        replace(obs, rig=items[0].obs.rig),
        _cat_dataclass([c.labels for c in items]),
        torch.cat([c.meta for c in items], 0),
    )


def _cat_dataclass(objs: list):
    """Concatenate every tensor field of a list of (nested) dataclasses along dim 0."""
    head = objs[0]
    changes = {}
    for name in head.__dataclass_fields__:
        v = getattr(head, name)
        if isinstance(v, torch.Tensor):
            changes[name] = torch.cat([getattr(o, name) for o in objs], 0)
        elif hasattr(v, "__dataclass_fields__") and not isinstance(v, CameraRig):
            changes[name] = _cat_dataclass([getattr(o, name) for o in objs])
    return replace(head, **changes)


@dataclass
class ProbeConfig:
    hidden: int = 32
    """width of the hidden layer"""
    dropout: float = 0.1
    """dropout after the hidden layer (exercises the RNG in resume tests)"""


class ProbePolicy(DrivingPolicy):
    """Ego status + mean image intensity of the last frame -> action, plan, speed."""

    name = "probe"

    def __init__(self, config: ProbeConfig | None = None):
        super().__init__()
        self.config = c = config or ProbeConfig()
        self.net = nn.Sequential(
            nn.Linear(5, c.hidden),
            nn.ReLU(),
            nn.Dropout(c.dropout),
            nn.Linear(c.hidden, 2 + PLAN_STEPS * 3 + 1),
        )
        self.weights = DrivingLossWeights()

    def forward(self, obs: Observation) -> DrivingOutput:  # obs tensors (B, T, ...)
        last = _map_tensors(obs, lambda t: t[:, -1])
        img = last.images.float().mean((1, 2, 3, 4)) / 255.0  # (B,)
        ego = last.ego_status()  # (B, 4)
        ego = ego / ego.new_tensor([10.0, 3.0, 0.5, 0.3])  # (B, 4) of order one
        y = self.net(torch.cat([ego, img[:, None]], -1))  # (B, 33)
        B = y.shape[0]
        return DrivingOutput(
            action=y[:, :2] * y.new_tensor([0.6, 3.0]),
            plan=y[:, 2 : 2 + PLAN_STEPS * 3].view(B, PLAN_STEPS, 3) * 10.0,
            speed=y[:, -1] * 10.0,
        )

    def loss(self, out: DrivingOutput, labels: Labels) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        parts = driving_loss(out, labels, self.weights)
        return sum(parts.values()), parts
