"""A synthetic, self-consistent Clip for tests and benchmarks of networks (no simulator needed).

Not a driving scene: images are seeded noise (each sample distinguishable, so a network can
overfit a batch), and the labels are consistent with one another: random boxes on the label
grid make the occupancy, flow and object targets; a straight road makes lanes and drivable space;
the expert plan is a constant-speed, constant-yaw-rate arc; the reason sentence follows the class.
"""

from __future__ import annotations

import math

import torch

from e2edrive.core.constants import (
    LABEL_GRID,
    LANE_POLYLINE_POINTS,
    MAX_BOXES,
    MAX_LANE_POLYLINES,
    NUM_OBJECT_CLASSES,
    PLAN_DT,
    PLAN_STEPS,
    BevGrid,
)
from e2edrive.core.reasons import NUM_REASONS
from e2edrive.core.rig import CameraRig, make_rig
from e2edrive.core.types import Clip, Labels, NavGoal, Observation


def _cells(grid: BevGrid) -> tuple[torch.Tensor, torch.Tensor]:
    x = grid.x_min + (torch.arange(grid.nx) + 0.5) * grid.res
    y = grid.y_min + (torch.arange(grid.ny) + 0.5) * grid.res
    return torch.meshgrid(x, y, indexing="ij")  # (nx, ny) each


def synthetic_clip(
    batch: int = 2,
    frames: int = 2,
    rig: CameraRig | None = None,
    seed: int = 0,
    n_boxes: int = 4,
    device: torch.device | str = "cpu",
) -> Clip:
    """Clip with obs tensors (B, T, ...) and labels of the last frame."""
    rig = rig or make_rig()
    g = torch.Generator().manual_seed(seed)
    B, T, N, H, W = batch, frames, rig.num_cameras, rig.height, rig.width

    def u(*shape, lo=0.0, hi=1.0):
        return lo + (hi - lo) * torch.rand(*shape, generator=g)

    speed = u(B, T, lo=0.0, hi=12.0)
    yaw_rate = u(B, T, lo=-0.2, hi=0.2)
    first = torch.zeros(B, T, dtype=torch.bool)
    first[:, 0] = True
    obs = Observation(
        images=torch.randint(0, 256, (B, T, N, 3, H, W), generator=g, dtype=torch.uint8),
        rig=rig,
        speed=speed,
        accel=u(B, T, lo=-2, hi=2),
        yaw_rate=yaw_rate,
        steer=u(B, T, lo=-0.1, hi=0.1),
        odom=torch.stack([speed * 0.1, torch.zeros(B, T), yaw_rate * 0.1], -1),
        nav=NavGoal(
            route_points=torch.stack(
                [torch.arange(1, 11).float().expand(B, T, 10) * 5, torch.zeros(B, T, 10)], -1
            ),
            dist_to_turn=u(B, T, lo=0, hi=200),
            turn_command=torch.randint(0, 3, (B, T), generator=g),
            speed_limit=torch.full((B, T), 13.9),
        ),
        first=first,
        camera_valid=torch.ones(B, T, N, dtype=torch.bool),
    )

    G = LABEL_GRID
    M = MAX_BOXES
    boxes = torch.zeros(B, M, 9)
    valid = torch.zeros(B, M, dtype=torch.bool)
    valid[:, :n_boxes] = True
    boxes[..., 0] = u(B, M, lo=G.x_min + 4, hi=G.x_max - 4)
    boxes[..., 1] = u(B, M, lo=G.y_min + 4, hi=G.y_max - 4)
    size = torch.stack([u(B, M, lo=0.5, hi=5.0), u(B, M, lo=0.4, hi=2.0), u(B, M, lo=0.4, hi=2.0)], -1)
    boxes[..., 3:6] = size
    boxes[..., 2] = size[..., 2] / 2
    boxes[..., 6] = u(B, M, lo=-math.pi, hi=math.pi)
    boxes[..., 7:9] = u(B, M, 2, lo=-5, hi=5)
    box_class = torch.randint(0, NUM_OBJECT_CLASSES, (B, M), generator=g)

    cx, cy = _cells(G)  # (nx, ny)
    occ = torch.zeros(B, G.nz, G.nx, G.ny, dtype=torch.uint8)
    flow = torch.zeros(B, 2, G.nx, G.ny)
    zc = G.z_min + (torch.arange(G.nz) + 0.5) * G.z_res
    for b in range(B):
        for m in range(n_boxes):
            x, y, _, length, width, height, yaw = boxes[b, m, :7].tolist()
            c, s = math.cos(yaw), math.sin(yaw)
            lx = c * (cx - x) + s * (cy - y)
            ly = -s * (cx - x) + c * (cy - y)
            foot = (lx.abs() <= length / 2) & (ly.abs() <= width / 2)  # (nx, ny)
            occ[b] |= (foot.unsqueeze(0) & (zc <= height).view(-1, 1, 1)).to(torch.uint8)
            flow[b, :, foot] = boxes[b, m, 7:9].view(2, 1)
    lanes = torch.zeros(B, 2, G.nx, G.ny, dtype=torch.uint8)
    for y_line in (-1.75, 1.75):
        lanes[:, 0] |= ((cy - y_line).abs() < G.res / 2).to(torch.uint8)
    for y_edge in (-5.25, 5.25):
        lanes[:, 1] |= ((cy - y_edge).abs() < G.res / 2).to(torch.uint8)
    drivable = (cy.abs() < 5.25).to(torch.uint8).expand(B, -1, -1).clone()

    v, w = speed[:, -1], yaw_rate[:, -1]
    tt = torch.arange(1, PLAN_STEPS + 1).float() * PLAN_DT  # (S,)
    yaw = w.unsqueeze(1) * tt
    # Arc of constant speed and yaw rate: x = v sin(w t) / w, y = v (1 - cos(w t)) / w.
    safe_w = torch.where(w.abs() < 1e-4, torch.full_like(w, 1e-4), w).unsqueeze(1)
    plan = torch.stack(
        [v.unsqueeze(1) * torch.sin(yaw) / safe_w, v.unsqueeze(1) * (1 - torch.cos(yaw)) / safe_w, yaw], -1
    )
    labels = Labels(
        occupancy=occ,
        flow=flow,
        boxes=boxes,
        box_class=box_class,
        box_valid=valid,
        lanes=lanes,
        lane_polylines=torch.zeros(B, MAX_LANE_POLYLINES, LANE_POLYLINE_POINTS, 2),
        lane_polyline_type=torch.zeros(B, MAX_LANE_POLYLINES, dtype=torch.long),
        lane_polyline_valid=torch.zeros(B, MAX_LANE_POLYLINES, dtype=torch.bool),
        drivable=drivable,
        traffic_light=torch.randint(0, 4, (B,), generator=g),
        depth=u(B, N, H, W, lo=2.0, hi=80.0),
        semantics=torch.zeros(B, N, H, W, dtype=torch.uint8),
        expert_plan=plan,
        expert_speed=v + 1.0,
        expert_action=torch.stack([u(B, lo=-0.3, hi=0.3), u(B, lo=-3.0, hi=2.0)], -1),
        reason=torch.randint(0, NUM_REASONS, (B,), generator=g),
        oncoming_gap=u(B, lo=10.0, hi=140.0),
    )
    meta = torch.stack([torch.arange(B), torch.full((B,), T - 1), torch.full((B,), seed)], -1)
    return Clip(obs, labels, meta).to(device)
