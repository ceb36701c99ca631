"""Ground truth (core.types.Labels on core.constants.LABEL_GRID) -> head targets on the model grid.

The model grid must be the label grid cropped and coarsened by integer factors (same cell
boundaries), so pooling is exact: occupancy and lanes are max-pooled (a 0.4 m chicken or a 15 cm
line must survive a 2 m cell), drivable is a majority vote, flow is the mean over occupied
columns, object centres become CenterNet Gaussians with box/velocity regression at the centre cell.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from e2edrive.core.constants import LABEL_GRID, NUM_OBJECT_CLASSES, BevGrid
from e2edrive.core.types import Labels


@dataclass
class HeadTargets:
    """Targets on the model grid (X, Y) = (nx, ny); float unless said.

    occupancy (B, nz, X, Y) {0,1}; flow (B, 2, X, Y) m/s with flow_mask (B, X, Y) bool;
    heatmap (B, K, X, Y) in [0, 1], 1 exactly at object centres; box (B, 8, X, Y) and
    velocity (B, 2, X, Y) valid where center_mask (B, X, Y) bool; lanes (B, 2, X, Y) {0,1};
    drivable (B, X, Y) {0,1}; depth (B, N, h, w) m with depth_mask (B, N, h, w) bool.
    """

    occupancy: torch.Tensor
    flow: torch.Tensor
    flow_mask: torch.Tensor
    heatmap: torch.Tensor
    box: torch.Tensor
    velocity: torch.Tensor
    center_mask: torch.Tensor
    lanes: torch.Tensor
    drivable: torch.Tensor
    depth: torch.Tensor
    depth_mask: torch.Tensor


def _ratio(a: float, b: float, what: str) -> int:
    r = a / b
    if abs(r - round(r)) > 1e-6 or round(r) < 1:
        raise ValueError(f"{what}: {a} / {b} = {r} is not a positive integer")
    return round(r)


def grid_crop_and_factor(label: BevGrid, model: BevGrid) -> tuple[slice, slice, slice, int, int]:
    """Slices of the label grid that the model grid covers, and the horizontal/vertical pooling factors."""
    f = _ratio(model.res, label.res, "model BEV res / label res")
    fz = _ratio(model.z_res, label.z_res, "model z_res / label z_res")
    sl = []
    for lo_m, hi_m, lo_l, hi_l, res in (
        (model.x_min, model.x_max, label.x_min, label.x_max, label.res),
        (model.y_min, model.y_max, label.y_min, label.y_max, label.res),
        (model.z_min, model.z_max, label.z_min, label.z_max, label.z_res),
    ):
        if lo_m < lo_l - 1e-6 or hi_m > hi_l + 1e-6:
            raise ValueError(f"model grid [{lo_m}, {hi_m}) exceeds the label grid [{lo_l}, {hi_l})")
        start = (lo_m - lo_l) / res
        if abs(start - round(start)) > 1e-6:
            raise ValueError(f"model grid edge {lo_m} is not on a label cell boundary (res {res})")
        sl.append(slice(round(start), round(start) + round((hi_m - lo_m) / res)))
    return sl[0], sl[1], sl[2], f, fz


def object_targets(labels: Labels, grid: BevGrid) -> tuple[torch.Tensor, ...]:
    """CenterNet targets: heatmap (B, K, X, Y), box (B, 8, X, Y), velocity (B, 2, X, Y), mask (B, X, Y).

    Gaussian sigma = max(0.5 cell, sqrt(l w) / 4): a car (4.5 x 1.9 m) spreads over ~1 cell at 2 m,
    a chicken stays a single peak. When two objects share a centre cell one of them keeps the
    regression target (the heatmap keeps both).
    """
    boxes, cls, valid = labels.boxes, labels.box_class, labels.box_valid
    B, M = cls.shape
    X, Y = grid.nx, grid.ny
    dev, dt = boxes.device, boxes.dtype
    ix = torch.floor((boxes[..., 0] - grid.x_min) / grid.res).long()  # (B, M)
    iy = torch.floor((boxes[..., 1] - grid.y_min) / grid.res).long()
    inside = valid & (ix >= 0) & (ix < X) & (iy >= 0) & (iy < Y)
    sigma = torch.clamp((boxes[..., 3] * boxes[..., 4]).clamp(min=0).sqrt() / 4 / grid.res, min=0.5)  # (B, M)
    gi = torch.arange(X, device=dev, dtype=dt).view(1, 1, X, 1)
    gj = torch.arange(Y, device=dev, dtype=dt).view(1, 1, 1, Y)
    d2 = (gi - ix.to(dt).view(B, M, 1, 1)) ** 2 + (gj - iy.to(dt).view(B, M, 1, 1)) ** 2
    g = torch.exp(-d2 / (2 * sigma.view(B, M, 1, 1) ** 2)) * inside.view(B, M, 1, 1).to(dt)  # (B, M, X, Y)
    onehot = F.one_hot(cls.clamp(0, NUM_OBJECT_CLASSES - 1), NUM_OBJECT_CLASSES).to(dt)  # (B, M, K)
    heatmap = (g.unsqueeze(2) * onehot.view(B, M, -1, 1, 1)).amax(1)  # (B, K, X, Y)

    cx = grid.x_min + (ix.to(dt) + 0.5) * grid.res
    cy = grid.y_min + (iy.to(dt) + 0.5) * grid.res
    reg = torch.stack(
        [
            boxes[..., 0] - cx,
            boxes[..., 1] - cy,
            boxes[..., 2],
            boxes[..., 3].clamp(min=1e-2).log(),
            boxes[..., 4].clamp(min=1e-2).log(),
            boxes[..., 5].clamp(min=1e-2).log(),
            torch.sin(boxes[..., 6]),
            torch.cos(boxes[..., 6]),
            boxes[..., 7],
            boxes[..., 8],
        ],
        -1,
    )  # (B, M, 10)
    # Objects outside the grid are written to a spare slot X*Y that is dropped afterwards.
    flat = torch.where(inside, ix * Y + iy, torch.full_like(ix, X * Y))  # (B, M)
    buf = torch.zeros(B, X * Y + 1, 10, device=dev, dtype=dt)
    buf.scatter_(1, flat.unsqueeze(-1).expand(-1, -1, 10), reg)
    mask = torch.zeros(B, X * Y + 1, device=dev, dtype=torch.bool)
    mask.scatter_(1, flat, inside)
    buf = buf[:, : X * Y].transpose(1, 2).reshape(B, 10, X, Y)
    return heatmap, buf[:, :8], buf[:, 8:], mask[:, : X * Y].reshape(B, X, Y)


def make_targets(
    labels: Labels, grid: BevGrid, depth_hw: tuple[int, int], label_grid: BevGrid = LABEL_GRID
) -> HeadTargets:
    """All head targets for a model whose BEV is `grid` and whose depth maps are depth_hw (h, w)."""
    sx, sy, sz, f, fz = grid_crop_and_factor(label_grid, grid)
    if labels.occupancy.shape[-3:] != (label_grid.nz, label_grid.nx, label_grid.ny):
        raise ValueError(
            f"labels.occupancy has shape {tuple(labels.occupancy.shape)}, expected "
            f"(B, {label_grid.nz}, {label_grid.nx}, {label_grid.ny}) for the label grid"
        )
    occ_full = labels.occupancy[:, sz, sx, sy].float()  # (B, nz_l, nx_l, ny_l) cropped
    occ = F.max_pool3d(occ_full.unsqueeze(1), (fz, f, f)).squeeze(1)  # (B, nz, X, Y)

    col = occ_full.amax(1, keepdim=True)  # (B, 1, nx_l, ny_l) occupied columns
    flow = labels.flow[:, :, sx, sy].float()
    count = F.avg_pool2d(col, f) * f * f  # (B, 1, X, Y) occupied label columns per model cell
    flow = F.avg_pool2d(flow * col, f) * f * f / count.clamp(min=1)  # (B, 2, X, Y) mean over occupied
    flow_mask = count.squeeze(1) > 0

    lanes = F.max_pool2d(labels.lanes[:, :, sx, sy].float(), f)
    drivable = (F.avg_pool2d(labels.drivable[:, sx, sy].float().unsqueeze(1), f).squeeze(1) >= 0.5).float()

    heatmap, box, velocity, center = object_targets(labels, grid)

    depth = labels.depth.float()
    B, N, H, W = depth.shape
    h, w = depth_hw
    if H % h or W % w:
        raise ValueError(f"label depth {H}x{W} is not an integer multiple of the model's depth map {h}x{w}")
    ok = torch.isfinite(depth) & (depth > 0)
    d = F.avg_pool2d(torch.where(ok, depth, torch.zeros_like(depth)).flatten(0, 1), (H // h, W // w))
    n_ok = F.avg_pool2d(ok.float().flatten(0, 1), (H // h, W // w))
    depth_t = (d / n_ok.clamp(min=1e-6)).view(B, N, h, w)  # mean depth over valid pixels of each patch
    return HeadTargets(
        occ,
        flow,
        flow_mask,
        heatmap,
        box,
        velocity,
        center,
        lanes,
        drivable,
        depth_t,
        n_ok.view(B, N, h, w) > 0,
    )
