"""Seeing versus deciding: does the network see the hard cases' objects at all?

For each ground-truth object of a hard-case class on held-out frames, the object head "sees" it if
its heatmap for that class exceeds HEAT_THRESHOLD in the 3x3 cells around the box centre, and the
occupancy head "sees" it if any voxel column under the box footprint is occupied with probability
above OCC_THRESHOLD. Recall is counted per class and distance band from the ego (0-15, 15-30,
30-48 m: the BEV grid ends 48 m ahead). Beside the closed-loop pass rate, it tells whether a
corner failure comes from perception (the object was not seen) or from planning (seen, not acted on).

Groups: pedestrian, chicken, goose, debris (UNKNOWN class), and the spinning car, taken as every
vehicle in `spinout_ahead` episodes (the labels do not mark which vehicle spins; the spinning car is
the one ahead, so the band 0-30 m is mostly it). A shortcut, said here and in the report.

Recall alone flatters a head that fires everywhere, so beside it one more row, FREE_PATH, counts the
heads' false alarms where a false alarm costs a stop: the cells straight ahead whose centre lies
within PATH_HALF_WIDTH of the ego's axis and which the ground truth (pooled to the model's grid)
leaves empty. For that row "objects" is the number of such free cells, and each head's count is how
many of them it calls occupied (occupancy above OCC_THRESHOLD) or an object centre (any class above
HEAT_THRESHOLD, counted only where no true centre lies in the 3x3 cells around). The path is the
straight line ahead, not the route: on a curve its far cells leave the lane (a shortcut).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from e2edrive.core.constants import LABEL_GRID, ObjectClass

BANDS = ((0.0, 15.0), (15.0, 30.0), (30.0, 48.0))  # m from the ego's rear axle
HEAT_THRESHOLD = 0.3  # object-centre heatmap (sigmoid); CenterNet-style peaks rarely reach 0.5 early
OCC_THRESHOLD = 0.5
FREE_PATH = "free path (false alarms)"
PATH_HALF_WIDTH = 1.5  # m: cells whose centre is this close to the ego's axis are on its path
GROUPS = {
    "pedestrian": ObjectClass.PEDESTRIAN,
    "chicken": ObjectClass.CHICKEN,
    "goose": ObjectClass.GOOSE,
    "debris": ObjectClass.UNKNOWN,
    "spinout_car": ObjectClass.VEHICLE,
}


def _cells(xy: torch.Tensor, X: int, Y: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(ix, iy, inside) of ego-frame points (..., 2) on an X x Y grid over LABEL_GRID's extent."""
    g = LABEL_GRID
    fx = (xy[..., 0] - g.x_min) / (g.x_max - g.x_min) * X
    fy = (xy[..., 1] - g.y_min) / (g.y_max - g.y_min) * Y
    inside = (fx >= 0) & (fx < X) & (fy >= 0) & (fy < Y)
    return fx.long().clamp(0, X - 1), fy.long().clamp(0, Y - 1), inside


def _seen_by_heatmap(heat: torch.Tensor, cls: torch.Tensor, ix, iy) -> torch.Tensor:
    """heat (B, C, X, Y) probabilities; cls, ix, iy (B, M) -> (B, M) bool over the 3x3 neighbourhood."""
    B, C, X, Y = heat.shape
    pooled = torch.nn.functional.max_pool2d(heat, 3, stride=1, padding=1)  # (B, C, X, Y)
    b = torch.arange(B, device=heat.device)[:, None].expand_as(cls)
    return pooled[b, cls.clamp(0, C - 1), ix, iy] > HEAT_THRESHOLD


def _free_path_alarms(out, targets, grid) -> dict[str, tuple[int, int, int]]:
    """out: DrivingOutput (B, ...), targets: HeadTargets on the model's grid -> per band (free path
    cells, object-head alarms on them, occupancy-head alarms on them), summed over the batch."""
    from e2edrive.model.bev import bev_cell_centres

    centres = bev_cell_centres(grid).to(out.occupancy.device)  # (X, Y, 2)
    xc, yc = centres[:, 0, 0], centres[0, :, 1]
    on_path = (yc.abs() < PATH_HALF_WIDTH)[None, :] & (xc > 0)[:, None]  # (X, Y)
    free = on_path & ~targets.occupancy.bool().any(1)  # (B, X, Y)
    no_centre = F.max_pool2d(targets.heatmap.amax(1, keepdim=True), 3, 1, 1)[:, 0] < 0.5
    occ_alarm = (out.occupancy.sigmoid() > OCC_THRESHOLD).any(1)
    heat_alarm = (out.obj_heatmap.sigmoid() > HEAT_THRESHOLD).any(1) & no_centre
    rows = {}
    for a, b in BANDS:
        m = free & ((xc >= a) & (xc < b))[None, :, None]
        rows[f"{a:g}-{b:g}"] = (int(m.sum()), int((m & heat_alarm).sum()), int((m & occ_alarm).sum()))
    return rows


def _seen_by_occupancy(occ: torch.Tensor, boxes: torch.Tensor) -> torch.Tensor:
    """occ (B, nz, X, Y) probabilities; boxes (B, M, 9) -> (B, M): any column under the footprint
    (centre and the four half-extent points along the box axes) occupied."""
    B, _, X, Y = occ.shape
    col = (occ > OCC_THRESHOLD).any(1)  # (B, X, Y)
    c, s = torch.cos(boxes[..., 6]), torch.sin(boxes[..., 6])
    hl, hw = 0.5 * boxes[..., 3], 0.5 * boxes[..., 4]
    offsets = [(0.0, 0.0), (1.0, 0.0), (-1.0, 0.0), (0.0, 1.0), (0.0, -1.0)]
    seen = torch.zeros(boxes.shape[:2], dtype=torch.bool, device=occ.device)
    b = torch.arange(B, device=occ.device)[:, None].expand(boxes.shape[:2])
    for u, v in offsets:
        x = boxes[..., 0] + u * hl * c - v * hw * s
        y = boxes[..., 1] + u * hl * s + v * hw * c
        ix, iy, inside = _cells(torch.stack([x, y], -1), X, Y)
        seen |= col[b, ix, iy] & inside
    return seen


@torch.no_grad()
def hazard_recall(model, dataset, device="cpu", batch_size: int = 16, max_frames: int = 4000) -> dict:
    """{group: {band: {"objects", "object_head", "occupancy_head"}}} over the dataset's frames (at most
    max_frames, evenly spread), counts of ground-truth objects and of those each head saw; the group
    FREE_PATH counts free cells on the ego's path and each head's false alarms on them."""
    from e2edrive.eval.held_out import held_out_batches
    from e2edrive.model.targets import make_targets

    scen = dataset.index["scenario"].to_pylist()
    counts = {g: {f"{a:g}-{b:g}": [0, 0, 0] for a, b in BANDS} for g in (*GROUPS, FREE_PATH)}
    for idx, clip, out in held_out_batches(model, dataset, device, batch_size, max_frames):
        lab = clip.labels
        boxes, cls, valid = lab.boxes.float(), lab.box_class, lab.box_valid.bool()
        X, Y = out.obj_heatmap.shape[-2:]
        ix, iy, inside = _cells(boxes[..., :2], X, Y)
        by_heat = _seen_by_heatmap(out.obj_heatmap.sigmoid(), cls, ix, iy) & inside
        by_occ = _seen_by_occupancy(out.occupancy.sigmoid(), boxes)
        dist = boxes[..., :2].norm(dim=-1)
        targets = make_targets(lab, model.config.bev_grid, tuple(out.depth.shape[-2:]))
        for band, found in _free_path_alarms(out, targets, model.config.bev_grid).items():
            counts[FREE_PATH][band] = [c + f for c, f in zip(counts[FREE_PATH][band], found)]
        spin = torch.tensor([scen[j] == "spinout_ahead" for j in idx], device=device)[:, None]
        for group, c in GROUPS.items():
            member = valid & (cls == int(c)) & (boxes[..., 0] > 0)  # ahead of the rear axle
            if group == "spinout_car":
                member &= spin
            for a, b in BANDS:
                m = member & (dist >= a) & (dist < b)
                row = counts[group][f"{a:g}-{b:g}"]
                row[0] += int(m.sum())
                row[1] += int((m & by_heat).sum())
                row[2] += int((m & by_occ).sum())
    return {
        g: {band: {"objects": r[0], "object_head": r[1], "occupancy_head": r[2]} for band, r in bands.items()}
        for g, bands in counts.items()
    }


def recall_table(recall: dict) -> str:
    """Markdown: one row per group, per band 'objects: recall object head / occupancy head'; the
    FREE_PATH row reads 'free cells: false-alarm rate object head / occupancy head'."""
    bands = list(next(iter(recall.values())))
    rows = ["| object | " + " | ".join(f"{b} m (n: object / occupancy)" for b in bands) + " |"]
    rows.append("|---|" + "---|" * len(bands))
    for g, by_band in recall.items():
        cells = []
        for b in bands:
            r = by_band[b]
            if r["objects"] == 0:
                cells.append("-")
            else:
                n = r["objects"]
                cells.append(f"{n}: {r['object_head'] / n:.0%} / {r['occupancy_head'] / n:.0%}")
        rows.append(f"| {g} | " + " | ".join(cells) + " |")
    return "\n".join(rows)
