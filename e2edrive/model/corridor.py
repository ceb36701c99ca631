"""The planner's read of what perception sees along the route: occupancy and objects by distance.

Geese, chickens, debris and a spinning car are seen by the heads (eval.perception measures it)
but, in the first whole-catalog quickstart, not acted on: the planner has to find them in a BEV of
thousands of cells. This read hands it, for points every 5 m along the route (NavGoal.route_points)
in the ego's lane and in the lane to its left (the oncoming lane of a two-way road, where geese and
debris are passed), the predicted occupancy (max over heights) and the strongest object-centre
heatmap (max over classes), each max-pooled over 3 cells along x (6 m at the tiny preset's 2 m cells)
so the 5 m spacing of the points leaves no gap, and not across (a 3.5 m lane must not see the
next one's obstacle). 2 maps x 2 lanes x 10 points = 40 features,
computed from the heads' own outputs, so the driving loss trains the heads through them.

Teacher forcing (DrivingConfig.corridor_teacher): in training, a share of the samples read the
corridor from the ground truth instead. Early in training the heads' maps are noise, so a planner
reading only them learns to ignore them, and a 30-minute run never unlearns that (run B of
BENCHMARKS.md). With the true maps beside, "blocked 15 m ahead in my lane -> brake" is learned
from a clean signal, as a privileged agent learns first in "Learning by Cheating" (Chen et al.
2019), while the other samples keep the planner used to the heads' imperfect maps it drives with.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from e2edrive.core.constants import BevGrid
from e2edrive.model.targets import make_targets

LANE_OFFSETS = (0.0, 3.5)  # m to the left of the route centreline: the ego's lane, the next one left
ROUTE_POINTS = 10  # NavGoal.route_points per environment
CORRIDOR_FEATURES = 2 * len(LANE_OFFSETS) * ROUTE_POINTS


def corridor_points(route: torch.Tensor, offsets: tuple[float, ...] = LANE_OFFSETS) -> torch.Tensor:
    """route (B, P, 2) ego-frame centreline points -> (B, L, P, 2): each point moved `offset` m along
    the route's left normal (from the polyline's local direction; the first point uses the ego's)."""
    ego = torch.zeros_like(route[:, :1])
    prev = torch.cat([ego, route[:, :-1]], 1)  # (B, P, 2) the point before each
    d = route - prev
    d = d / d.norm(dim=-1, keepdim=True).clamp_min(1e-6)
    normal = torch.stack([-d[..., 1], d[..., 0]], -1)  # (B, P, 2) left of the direction of travel
    off = torch.tensor(offsets, device=route.device, dtype=route.dtype).view(1, -1, 1, 1)
    return route[:, None] + off * normal[:, None]


def sample_bev(maps: torch.Tensor, pts: torch.Tensor, grid: BevGrid) -> torch.Tensor:
    """maps (B, K, X, Y) over grid's extent (axis X forward, Y left), pts (B, M, 2) ego frame ->
    (B, K, M) bilinear samples; points outside the grid read 0."""
    gx = (pts[..., 0] - grid.x_min) / (grid.x_max - grid.x_min) * 2 - 1  # along X (the H axis)
    gy = (pts[..., 1] - grid.y_min) / (grid.y_max - grid.y_min) * 2 - 1  # along Y (the W axis)
    g = torch.stack([gy, gx], -1).unsqueeze(1)  # (B, 1, M, 2), grid_sample's (w, h) order
    return F.grid_sample(maps, g.to(maps.dtype), align_corners=False, padding_mode="zeros")[:, :, 0]


def corridor_maps(occupancy: torch.Tensor, obj_heatmap: torch.Tensor) -> torch.Tensor:
    """occupancy (B, nz, X, Y), obj_heatmap (B, C, X, Y), probabilities -> (B, 2, X, Y): the
    occupied columns and the strongest object centre of each cell."""
    return torch.cat([occupancy.amax(1, keepdim=True), obj_heatmap.amax(1, keepdim=True)], 1)


def teacher_maps(labels, grid: BevGrid, depth_hw: tuple[int, int]) -> torch.Tensor:
    """The corridor maps of the ground truth (the heads' targets): (B, 2, X, Y) in [0, 1]."""
    t = make_targets(labels, grid, depth_hw)
    return corridor_maps(t.occupancy, t.heatmap)


def corridor_features(
    occupancy: torch.Tensor,
    obj_heatmap: torch.Tensor,
    route: torch.Tensor,
    grid: BevGrid,
    teacher: tuple[torch.Tensor, torch.Tensor] | None = None,
) -> torch.Tensor:
    """occupancy (B, nz, X, Y) logits, obj_heatmap (B, C, X, Y) logits, route (B, P, 2) ->
    (B, CORRIDOR_FEATURES) probabilities in [0, 1] (module docstring). teacher = (maps (B, 2, X, Y)
    from teacher_maps, use (B,) bool): those samples read the ground truth instead."""
    maps = corridor_maps(torch.sigmoid(occupancy), torch.sigmoid(obj_heatmap))  # (B, 2, X, Y)
    if teacher is not None:
        gt, use = teacher
        maps = torch.where(use.view(-1, 1, 1, 1), gt.to(maps.dtype), maps)
    maps = F.max_pool2d(maps, (3, 1), stride=1, padding=(1, 0))  # along x only
    pts = corridor_points(route)  # (B, L, P, 2)
    B, L, P, _ = pts.shape
    return sample_bev(maps, pts.reshape(B, L * P, 2), grid).reshape(B, -1)  # (B, 2 * L * P)
