"""Map geometry for the scene: barrier segments along the road edges and lane-line polylines
(lane lines, centre line, road edges, and the crossing roads' lines) in the world frame.
Computed once per reset, batched, on the map's device."""

from __future__ import annotations

import torch

from e2edrive.sim.map.roadmap import ARM_LENGTH, MAX_ARMS, RoadMap, frenet_to_world
from e2edrive.sim.map.spec import CROSS_HALF_LENGTH, LANE_WIDTH, ROAD_LENGTH, SHOULDER, STOP_LINE_SETBACK

BARRIER_SPACING = 5.0  # m per barrier segment
N_BARRIER = 2 * int(ROAD_LENGTH / BARRIER_SPACING)  # both edges
LINE_POINTS = 151  # points per lane-line polyline (every 2 m along the route)
MAX_LINES = 13  # 2 edges + centre + 4 dividers + 6 crossing-road lines (one intersection, or 2 arms)


def barrier_segments(rmap: RoadMap) -> tuple[torch.Tensor, torch.Tensor]:
    """Concrete barriers SHOULDER metres outside each road edge, in BARRIER_SPACING segments,
    interrupted where a crossing road meets the route. -> (B, M, 4) (x0, y0, x1, y1), (B, M) valid."""
    B, dev = rmap.batch_size, rmap.device
    n = N_BARRIER // 2
    s0 = torch.arange(n, device=dev, dtype=torch.float32) * BARRIER_SPACING
    s = torch.stack([s0, s0 + BARRIER_SPACING], -1).expand(B, n, 2)  # (B, n, 2)
    segs, valid = [], []
    for side in (-1.0, 1.0):
        w = rmap.width_right if side < 0 else rmap.width_left
        d = (side * (w + SHOULDER)).view(B, 1, 1).expand(B, n, 2)
        xy, _ = frenet_to_world(rmap, s, d)  # (B, n, 2, 2)
        segs.append(xy.reshape(B, n, 4))
        ok = torch.ones(B, n, dtype=torch.bool, device=dev)
        for i in range(rmap.inter_s.shape[1]):
            gap = rmap.inter_half[:, i : i + 1] + 1.0
            hit = (s[..., 1] > rmap.inter_s[:, i : i + 1] - gap) & (
                s[..., 0] < rmap.inter_s[:, i : i + 1] + gap
            )
            # a turning or T junction: open from the stop line to past the exit's crosswalk
            lo = rmap.inter_s[:, i : i + 1] - rmap.inter_entry[:, i : i + 1] - STOP_LINE_SETBACK - 1.0
            hi = rmap.inter_s[:, i : i + 1] + rmap.inter_exit[:, i : i + 1] + STOP_LINE_SETBACK + 1.0
            hit_j = (s[..., 1] > lo) & (s[..., 0] < hi)
            hit = torch.where(rmap.inter_band[:, i : i + 1], hit, hit_j)
            ok = ok & ~(hit & rmap.inter_valid[:, i : i + 1])
        valid.append(ok)
    return torch.cat(segs, 1), torch.cat(valid, 1)


def lane_polylines(rmap: RoadMap) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """World polylines of every marking: -> lines (B, L, P, 2), type (B, L) (0 lane line,
    1 centre line, 2 road edge), valid (B, L)."""
    B, dev = rmap.batch_size, rmap.device
    P = LINE_POINTS
    s = torch.linspace(0.0, ROAD_LENGTH, P, device=dev).expand(B, P)
    lines = torch.zeros(B, MAX_LINES, P, 2, device=dev)
    ltype = torch.zeros(B, MAX_LINES, dtype=torch.long, device=dev)
    valid = torch.zeros(B, MAX_LINES, dtype=torch.bool, device=dev)
    # (d of the line, type, valid) for the route's lines
    entries = [
        (-rmap.width_right, 2, None),
        (rmap.width_left, 2, None),
        (torch.zeros_like(rmap.width_left), 1, None),
    ]
    for k in (1, 2):
        entries.append((-k * LANE_WIDTH * torch.ones_like(rmap.width_right), 0, rmap.lanes_fwd > k))
        entries.append((k * LANE_WIDTH * torch.ones_like(rmap.width_left), 0, rmap.lanes_back > k))
    for li, (d, kind, ok) in enumerate(entries):
        xy, _ = frenet_to_world(rmap, s, d.view(B, 1).expand(B, P))
        lines[:, li] = xy
        ltype[:, li] = kind
        valid[:, li] = True if ok is None else ok
    # crossing road of the (first) intersection: both edges and its centre line, on each side
    li = len(entries)
    u = torch.linspace(0.0, 1.0, P, device=dev)
    for side in (-1.0, 1.0):
        w_side = rmap.width_right if side < 0 else rmap.width_left
        d = side * (w_side.view(B, 1) + SHOULDER + u * (CROSS_HALF_LENGTH - w_side.view(B, 1)))  # (B, P)
        for off, kind in ((-1.0, 2), (1.0, 2), (0.0, 1)):
            s_line = rmap.inter_s[:, :1] + off * rmap.inter_half[:, :1]
            xy, _ = frenet_to_world(rmap, s_line.expand(B, P), d)
            lines[:, li] = xy
            ltype[:, li] = kind
            valid[:, li] = rmap.inter_valid[:, 0] & rmap.inter_band[:, 0]
            li += 1
    # arms of turning and T junctions (world rectangles): edges and centre line beyond the box
    li = len(entries)
    for k in range(MAX_ARMS):
        ax, ay, yaw, half = (rmap.arm[:, k, j].view(B, 1) for j in range(4))
        along = half + u * (ARM_LENGTH - half)  # (B, P)
        c, sn = torch.cos(yaw), torch.sin(yaw)
        for side, kind in ((-1.0, 2), (1.0, 2), (0.0, 1)):
            across = side * half
            xy = torch.stack([ax + along * c - across * sn, ay + along * sn + across * c], -1)
            use = rmap.arm_valid[:, k]
            lines[:, li] = torch.where(use[:, None, None], xy, lines[:, li])
            ltype[:, li] = torch.where(use, torch.full_like(ltype[:, li], kind), ltype[:, li])
            valid[:, li] = valid[:, li] | use
            li += 1
    return lines, ltype, valid
