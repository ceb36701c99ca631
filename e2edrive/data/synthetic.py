"""Synthetic batched steps: random but reproducible Observation/Labels/Action for tests and the
recorder benchmark. Each environment's frame is a pure function of (key, t), so a test can rebuild
the exact frame it expects to read back.
"""

from __future__ import annotations

from dataclasses import fields

import torch

from e2edrive.core import constants as C
from e2edrive.core.rig import CameraRig
from e2edrive.core.types import Action, Labels, NavGoal, Observation


def _frame(key: int, t: int, rig: CameraRig, grid: C.BevGrid) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(key * 100_003 + t)
    N, H, W = rig.num_cameras, rig.height, rig.width

    def u(*shape, lo=0.0, hi=1.0):
        return lo + (hi - lo) * torch.rand(shape, generator=g)

    def bits(*shape):
        return (torch.rand(shape, generator=g) < 0.3).to(torch.uint8)

    return {
        "images": torch.randint(0, 256, (N, 3, H, W), generator=g, dtype=torch.uint8),
        "speed": u(lo=0, hi=30),
        "accel": u(lo=-8, hi=3),
        "yaw_rate": u(lo=-1, hi=1),
        "steer": u(lo=-0.6, hi=0.6),
        "odom": u(3, lo=-3, hi=3),
        "first": torch.tensor(t == 0),
        "camera_valid": torch.rand(N, generator=g) > 0.1,
        "route_points": u(10, 2, lo=-50, hi=50),
        "dist_to_turn": u(lo=0, hi=200),
        "turn_command": torch.randint(0, 3, (), generator=g),
        "speed_limit": u(lo=5, hi=30),
        "occupancy": bits(grid.nz, grid.nx, grid.ny),
        "flow": u(2, grid.nx, grid.ny, lo=-30, hi=30),
        "boxes": u(C.MAX_BOXES, 9, lo=-40, hi=40),
        "box_class": torch.randint(0, C.NUM_OBJECT_CLASSES, (C.MAX_BOXES,), generator=g),
        "box_valid": torch.rand(C.MAX_BOXES, generator=g) < 0.5,
        "lanes": bits(2, grid.nx, grid.ny),
        "lane_polylines": u(C.MAX_LANE_POLYLINES, C.LANE_POLYLINE_POINTS, 2, lo=-50, hi=50),
        "lane_polyline_type": torch.randint(0, 3, (C.MAX_LANE_POLYLINES,), generator=g),
        "lane_polyline_valid": torch.rand(C.MAX_LANE_POLYLINES, generator=g) < 0.5,
        "drivable": bits(grid.nx, grid.ny),
        "traffic_light": torch.randint(0, 4, (), generator=g),
        "depth": u(N, H, W, lo=0.5, hi=200),
        "semantics": torch.randint(0, C.NUM_SEMANTIC_CLASSES, (N, H, W), generator=g, dtype=torch.uint8),
        "expert_plan": u(C.PLAN_STEPS, 3, lo=-20, hi=20),
        "expert_speed": u(lo=0, hi=30),
        "expert_action": u(2, lo=-0.6, hi=0.6),
        "reason": torch.randint(0, 14, (), generator=g),
        "oncoming_gap": u(lo=0, hi=200),  # kept in the index, not the shard
        "ego_pose": u(3, lo=-100, hi=100),
        "action": u(2, lo=-0.6, hi=0.6),
    }


def synthetic_step(
    keys: list[int], ts: list[int], rig: CameraRig, grid: C.BevGrid = C.LABEL_GRID
) -> tuple[Observation, Labels, Action, torch.Tensor]:
    """A batch of B frames: environment b shows frame ts[b] of the synthetic episode keys[b].

    Returns (obs, labels, action, ego_pose (B, 3)).
    """
    frames = [_frame(k, t, rig, grid) for k, t in zip(keys, ts)]
    b = {name: torch.stack([f[name] for f in frames]) for name in frames[0]}
    nav = NavGoal(b["route_points"], b["dist_to_turn"], b["turn_command"], b["speed_limit"])
    obs = Observation(
        b["images"],
        rig,
        b["speed"],
        b["accel"],
        b["yaw_rate"],
        b["steer"],
        b["odom"],
        nav,
        b["first"],
        b["camera_valid"],
    )
    labels = Labels(**{f.name: b[f.name] for f in fields(Labels)})
    return obs, labels, Action.from_tensor(b["action"]), b["ego_pose"]


def record_synthetic_episode(
    recorder, key: int, length: int, scenario: str = "synthetic", tags: tuple[str, ...] = ()
) -> int:
    """Record one synthetic episode of `length` frames with seed `key`; return its episode id."""
    for t in range(length):
        obs, labels, action, pose = synthetic_step([key], [t], recorder.rig, recorder.grid)
        recorder.add_step(obs, labels, action, pose)
    return recorder.end_episode(0, scenario, key, tags)
