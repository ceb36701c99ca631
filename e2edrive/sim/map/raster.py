"""Paint the top-down ground-material raster (`sim.scene.GroundRaster`) of a batch of maps.

Each material is painted as a layer of sample points taken densely (every PAINT_STEP m) in the
Frenet band that the material occupies, mapped to the world and scattered into the cells; later
layers overwrite earlier ones. Every layer writes one value, so duplicate cell hits are harmless
and the result is deterministic on every device. Built on demand (rendering, debugging, the
top-down video), never inside the stepping loop.
"""

from __future__ import annotations

import torch

from e2edrive.core.constants import Semantic
from e2edrive.sim.map.roadmap import ARM_LENGTH, RoadMap, frenet_to_world
from e2edrive.sim.map.spec import (
    CROSS_HALF_LENGTH,
    LANE_WIDTH,
    ROAD_LENGTH,
    SIDEWALK_WIDTH,
    STOP_LINE_SETBACK,
)
from e2edrive.sim.scene import GroundRaster

RASTER_RES = 0.25  # m per cell
PAINT_STEP = 0.1  # m between paint samples (< res / 2 so every cell of a band is hit)
SIDEWALK = SIDEWALK_WIDTH  # m of kerb/sidewalk beyond each road edge
DASH_PERIOD, DASH_ON = 12.0, 3.0  # m, dashed lane dividers


def _band(s0, s1, d0, d1, device, step=PAINT_STEP):
    s = torch.arange(s0, s1, step, device=device)
    d = torch.arange(d0, d1, step, device=device)
    S, D = torch.meshgrid(s, d, indexing="ij")
    return S.reshape(-1), D.reshape(-1)


def _paint(material, origin, rmap1, s, d, value):
    """Scatter one layer into material (Hr, Wr) for a single-map RoadMap view rmap1."""
    if s.numel() == 0:
        return
    xy, _ = frenet_to_world(rmap1, s.unsqueeze(0), d.unsqueeze(0))
    col = torch.floor((xy[0, :, 0] - origin[0]) / RASTER_RES).long()
    row = torch.floor((xy[0, :, 1] - origin[1]) / RASTER_RES).long()
    Hr, Wr = material.shape
    ok = (col >= 0) & (col < Wr) & (row >= 0) & (row < Hr)
    material[row[ok], col[ok]] = int(value)


def _paint_world(material, origin, xy, value):
    """Scatter world points xy (P, 2) into material (Hr, Wr)."""
    if xy.numel() == 0:
        return
    col = torch.floor((xy[:, 0] - origin[0]) / RASTER_RES).long()
    row = torch.floor((xy[:, 1] - origin[1]) / RASTER_RES).long()
    Hr, Wr = material.shape
    ok = (col >= 0) & (col < Wr) & (row >= 0) & (row < Hr)
    material[row[ok], col[ok]] = int(value)


def _arm_points(m: RoadMap, k: int, along, across) -> torch.Tensor:
    """World points (P, 2) of arm k's frame coordinates along, across (P,)."""
    ax, ay, yaw, _ = (float(v) for v in m.arm[0, k])
    c, sn = torch.cos(torch.tensor(yaw)), torch.sin(torch.tensor(yaw))
    return torch.stack([ax + along * c - across * sn, ay + along * sn + across * c], -1)


def single_map(rmap: RoadMap, b: int) -> RoadMap:
    """The one-map batch of environment b."""
    return RoadMap(*(getattr(rmap, f)[b : b + 1] for f in rmap.__dataclass_fields__))


def build_ground_raster(rmap: RoadMap) -> GroundRaster:
    """(B, Hr, Wr) material raster covering every map of the batch (padded with GRASS)."""
    B, dev = rmap.batch_size, rmap.device
    margin = max(float(rmap.width_right.max()), float(rmap.width_left.max())) + SIDEWALK + 2.0
    lo = rmap.ref[..., :2].amin(1) - margin  # (B, 2)
    hi = rmap.ref[..., :2].amax(1) + margin
    if bool(rmap.inter_valid.any()):  # crossing roads reach CROSS_HALF_LENGTH sideways
        reach = ARM_LENGTH if bool(rmap.arm_valid.any()) else CROSS_HALF_LENGTH  # arms reach further
        lo = lo - reach
        hi = hi + reach
    size = ((hi - lo) / RASTER_RES).ceil().long().amax(0)  # (2,) common (Wr, Hr)
    Wr, Hr = int(size[0]), int(size[1])
    material = torch.full((B, Hr, Wr), int(Semantic.GRASS), dtype=torch.uint8, device=dev)
    for b in range(B):
        _paint_one(material[b], lo[b], single_map(rmap, b))
    return GroundRaster(material=material, origin=lo.float(), res=RASTER_RES)


def _paint_one(mat: torch.Tensor, origin: torch.Tensor, m: RoadMap) -> None:
    dev = mat.device
    wr, wl = float(m.width_right[0]), float(m.width_left[0])
    if bool(m.inter_valid[0, 0]) and not bool(m.inter_band[0, 0]):
        _paint_junction(mat, origin, m)
        return
    has_int = bool(m.inter_valid[0, 0])
    s_int, half = float(m.inter_s[0, 0]), float(m.inter_half[0, 0])

    def outside_box(s):
        return ~((s - s_int).abs() <= half) if has_int else torch.ones_like(s, dtype=torch.bool)

    s, d = _band(0.0, ROAD_LENGTH, -wr - SIDEWALK, wl + SIDEWALK, dev)
    _paint(mat, origin, m, s, d, Semantic.KERB)
    if has_int:
        s, d = _band(
            s_int - half - SIDEWALK, s_int + half + SIDEWALK, -CROSS_HALF_LENGTH, CROSS_HALF_LENGTH, dev
        )
        _paint(mat, origin, m, s, d, Semantic.KERB)
        s, d = _band(s_int - half, s_int + half, -CROSS_HALF_LENGTH, CROSS_HALF_LENGTH, dev)
        _paint(mat, origin, m, s, d, Semantic.ROAD)
    s, d = _band(0.0, ROAD_LENGTH, -wr, wl, dev)
    _paint(mat, origin, m, s, d, Semantic.ROAD)
    if has_int:  # the intersection box has no route markings: repaint it as plain road
        s, d = _band(s_int - half, s_int + half, -wr, wl, dev)
        _paint(mat, origin, m, s, d, Semantic.ROAD)

    # solid edge lines and dashed dividers of the route
    lines = []
    for dc in (-wr + 0.2, wl - 0.2):
        lines.append((dc, False))
    for k in range(1, int(m.lanes_fwd[0])):
        lines.append((-k * LANE_WIDTH, True))
    for k in range(1, int(m.lanes_back[0])):
        lines.append((k * LANE_WIDTH, True))
    for dc, dashed in lines:
        s, d = _band(0.0, ROAD_LENGTH, dc - 0.075, dc + 0.075, dev, step=0.05)
        keep = outside_box(s)
        if dashed:
            keep = keep & (torch.remainder(s, DASH_PERIOD) < DASH_ON)
        _paint(mat, origin, m, s[keep], d[keep], Semantic.LANE_MARKING)
    s, d = _band(0.0, ROAD_LENGTH, -0.2, 0.2, dev, step=0.05)  # double yellow
    keep = outside_box(s) & (d.abs() > 0.05)
    _paint(mat, origin, m, s[keep], d[keep], Semantic.CENTER_LINE)

    if has_int:
        # crossing road's centre line (beyond the route's carriageway)
        s, d = _band(s_int - 0.2, s_int + 0.2, -CROSS_HALF_LENGTH, CROSS_HALF_LENGTH, dev, step=0.05)
        keep = ((d < -wr - SIDEWALK) | (d > wl + SIDEWALK)) & ((s - s_int).abs() > 0.05)
        _paint(mat, origin, m, s[keep], d[keep], Semantic.CENTER_LINE)
        # zebra crosswalks on both route approaches: 0.5 m stripes across the lanes
        for c in (s_int - half - 2.5, s_int + half + 2.5):
            s, d = _band(c - 1.5, c + 1.5, -wr, wl, dev)
            keep = torch.remainder(d, 1.0) < 0.5
            _paint(mat, origin, m, s[keep], d[keep], Semantic.CROSSWALK)
        # stop lines: the route's approach (d < 0) and the oncoming approach (d > 0)
        stop = s_int - half - STOP_LINE_SETBACK
        s, d = _band(stop - 0.4, stop, -wr, 0.0, dev, step=0.05)
        _paint(mat, origin, m, s, d, Semantic.STOP_LINE)
        stop_back = s_int + half + STOP_LINE_SETBACK
        s, d = _band(stop_back, stop_back + 0.4, 0.0, wl, dev, step=0.05)
        _paint(mat, origin, m, s, d, Semantic.STOP_LINE)

    for q in range(m.puddle.shape[1]):
        if not bool(m.puddle_valid[0, q]):
            continue
        ps, pd, hl, hw = (float(v) for v in m.puddle[0, q])
        s, d = _band(ps - hl, ps + hl, pd - hw, pd + hw, dev)
        keep = ((s - ps) / hl) ** 2 + ((d - pd) / hw) ** 2 <= 1.0
        _paint(mat, origin, m, s[keep], d[keep], Semantic.PUDDLE)


def _paint_junction(mat: torch.Tensor, origin: torch.Tensor, m: RoadMap) -> None:
    """A map whose route turns at, or passes, a T or turning junction: the route's Frenet band
    (its turn arc is the kerb corner's fillet on the inside) and the arms off the route as world
    rectangles; then markings, crosswalks and stop lines on every approach."""
    dev = mat.device
    wr, wl = float(m.width_right[0]), float(m.width_left[0])
    s_int = float(m.inter_s[0, 0])
    j0 = s_int - float(m.inter_entry[0, 0])  # the route enters the junction
    j1 = s_int + float(m.inter_exit[0, 0])  # and leaves it
    arms = [k for k in range(m.arm.shape[1]) if bool(m.arm_valid[0, k])]

    def arm_band(k, a0, a1, c0, c1, step=PAINT_STEP):
        a, c = _band(a0, a1, c0, c1, dev, step)
        return _arm_points(m, k, a, c), a, c

    # kerbs first, then every road surface over them
    s, d = _band(0.0, ROAD_LENGTH, -wr - SIDEWALK, wl + SIDEWALK, dev)
    _paint(mat, origin, m, s, d, Semantic.KERB)
    for k in arms:
        h = float(m.arm[0, k, 3])
        _paint_world(
            mat, origin, arm_band(k, -h - SIDEWALK, ARM_LENGTH, -h - SIDEWALK, h + SIDEWALK)[0], Semantic.KERB
        )
    s, d = _band(0.0, ROAD_LENGTH, -wr, wl, dev)
    _paint(mat, origin, m, s, d, Semantic.ROAD)
    for k in arms:
        h = float(m.arm[0, k, 3])
        _paint_world(mat, origin, arm_band(k, -h, ARM_LENGTH, -h, h)[0], Semantic.ROAD)
    _paint_corner(mat, origin, m)

    def outside_box(s):
        return (s < j0) | (s > j1)

    lines = [(-wr + 0.2, False), (wl - 0.2, False)]
    lines += [(-k * LANE_WIDTH, True) for k in range(1, int(m.lanes_fwd[0]))]
    lines += [(k * LANE_WIDTH, True) for k in range(1, int(m.lanes_back[0]))]
    for dc, dashed in lines:
        s, d = _band(0.0, ROAD_LENGTH, dc - 0.075, dc + 0.075, dev, step=0.05)
        keep = outside_box(s) & ~_on_arm_surface(m, arms, s, d)
        if dashed:
            keep = keep & (torch.remainder(s, DASH_PERIOD) < DASH_ON)
        _paint(mat, origin, m, s[keep], d[keep], Semantic.LANE_MARKING)
    s, d = _band(0.0, ROAD_LENGTH, -0.2, 0.2, dev, step=0.05)  # double yellow
    keep = outside_box(s) & (d.abs() > 0.05)
    _paint(mat, origin, m, s[keep], d[keep], Semantic.CENTER_LINE)

    # the route's crosswalks (approach and exit) and stop lines (ego approach, oncoming on the exit)
    stop = j0 - STOP_LINE_SETBACK
    for c in (j0 - 2.5, j1 + 2.5):
        s, d = _band(c - 1.5, c + 1.5, -wr, wl, dev)
        keep = torch.remainder(d, 1.0) < 0.5
        _paint(mat, origin, m, s[keep], d[keep], Semantic.CROSSWALK)
    s, d = _band(stop - 0.4, stop, -wr, 0.0, dev, step=0.05)
    _paint(mat, origin, m, s, d, Semantic.STOP_LINE)
    stop_back = j1 + STOP_LINE_SETBACK
    s, d = _band(stop_back, stop_back + 0.4, 0.0, wl, dev, step=0.05)
    _paint(mat, origin, m, s, d, Semantic.STOP_LINE)

    # each arm: centre line beyond its crosswalk, the crosswalk, the stop line of its incoming lane
    for k in arms:
        h = float(m.arm[0, k, 3])
        xy, a, c = arm_band(k, h + STOP_LINE_SETBACK, ARM_LENGTH, -0.2, 0.2, step=0.05)
        _paint_world(mat, origin, xy[c.abs() > 0.05], Semantic.CENTER_LINE)
        xy, a, c = arm_band(k, h + 1.0, h + 4.0, -h, h)
        _paint_world(mat, origin, xy[torch.remainder(c, 1.0) < 0.5], Semantic.CROSSWALK)
        xy, _, _ = arm_band(k, h + STOP_LINE_SETBACK, h + STOP_LINE_SETBACK + 0.4, 0.0, h, step=0.05)
        _paint_world(mat, origin, xy, Semantic.STOP_LINE)

    for q in range(m.puddle.shape[1]):
        if not bool(m.puddle_valid[0, q]):
            continue
        ps, pd, hl, hw = (float(v) for v in m.puddle[0, q])
        s, d = _band(ps - hl, ps + hl, pd - hw, pd + hw, dev)
        keep = ((s - ps) / hl) ** 2 + ((d - pd) / hw) ** 2 <= 1.0
        _paint(mat, origin, m, s[keep], d[keep], Semantic.PUDDLE)


def _paint_corner(mat: torch.Tensor, origin: torch.Tensor, m: RoadMap) -> None:
    """The rounded corner between the two arms off the route (roadmap.on_corner): its kerb, a
    SIDEWALK-wide ring inside the kerb's disc, then its road surface."""
    from e2edrive.sim.map.roadmap import CORNER_KERB_RADIUS, on_corner

    if not bool(m.arm_valid[0].all()):
        return
    h, r = float(m.arm[0, 0, 3]), CORNER_KERB_RADIUS
    a1, a2 = _band(h, h + r, h, h + r, mat.device)
    e1, e2 = (torch.stack([torch.cos(m.arm[0, k, 2]), torch.sin(m.arm[0, k, 2])]) for k in (0, 1))
    xy = m.arm[0, 0, :2] + a1[:, None] * e1 + a2[:, None] * e2  # (P, 2)
    road = on_corner(m, xy[None])[0]
    ring = ~road & ((a1 - h - r) ** 2 + (a2 - h - r) ** 2 >= (r - SIDEWALK) ** 2)
    _paint_world(mat, origin, xy[ring & on_corner(m, xy[None], margin=SIDEWALK)[0]], Semantic.KERB)
    _paint_world(mat, origin, xy[road], Semantic.ROAD)


def _on_arm_surface(m: RoadMap, arms: list[int], s: torch.Tensor, d: torch.Tensor) -> torch.Tensor:
    """(P,) the route's Frenet points (s, d) that lie on an arm (its edge lines stop there)."""
    from e2edrive.sim.map.roadmap import on_arms

    xy, _ = frenet_to_world(m, s.unsqueeze(0), d.unsqueeze(0))
    return on_arms(m, xy)[0] if arms else torch.zeros_like(s, dtype=torch.bool)
