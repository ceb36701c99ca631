"""Ground-truth labels of one frame from a `Scene` (and its render), in the ego frame.

Choices, stated once:
- Occupancy: a voxel of LABEL_GRID (x -16..48 m, y -24..24 m, z 0..4 m; 0.5 m cells) is
  occupied when it *overlaps* a solid box (objects, barriers, traffic-light housings and poles;
  the same boxes the renderer draws, render/boxes.py): exact separating-axis test of the
  oriented footprint against the square cell, open intervals in z. Overlap rather than
  "cell centre inside" so a 0.4 m chicken or a piece of debris never falls between centres.
- Flow: absolute velocity of the actor covering a column, rotated into the ego frame (the ego's
  own motion is *not* subtracted: a parked car has zero flow). Columns covered by several
  actors get their mean; static things have zero flow.
- Boxes: valid objects within MAX_BOX_RANGE of the ego origin, nearest centre first.
- Lanes and drivable space: the ground raster supersampled SUB x SUB per BEV cell, so 15 cm
  lines register in 0.5 m cells. Lane channel: any LANE_MARKING or CENTER_LINE sample; road
  edge: a cell holding both drivable and non-drivable samples; drivable: at least half.
- Polylines: Scene.lane_lines in the ego frame, clipped to the grid's xy extent (one span, from
  where the line enters to where it last leaves; DENSE samples find the crossing segments, a
  Liang-Barsky clip of those places the ends exactly), resampled
  to LANE_POLYLINE_POINTS equally spaced points, nearest MAX_LANE_POLYLINES first. The span
  between the first and the last inside point is kept whole even if the line leaves the grid
  in between (a U-shaped line).
- Expert fields: zeros unless given; the world overwrites them with the expert's output.
"""

from __future__ import annotations

import functools

import torch

from e2edrive.core.constants import (
    DRIVABLE_MATERIALS,
    LABEL_GRID,
    LANE_POLYLINE_POINTS,
    MAX_BOXES,
    MAX_LANE_POLYLINES,
    PLAN_STEPS,
    BevGrid,
    Semantic,
)
from e2edrive.core.geometry import to_local_points
from e2edrive.core.types import Labels
from e2edrive.sim.render.boxes import SolidBoxes, scene_boxes
from e2edrive.sim.render.renderer import RenderOutput
from e2edrive.sim.scene import GroundRaster, Scene

MAX_BOX_RANGE = 80.0  # m, objects farther than this from the ego are not labelled
SUB = 4  # ground samples per BEV cell side for lanes / drivable
# Environments sampled together on CPU: their temporaries (~3 MB) stay in the allocator's heap
# and in cache; 16 at once need 12 MB buffers that are freshly page-faulted on every call.
GROUND_CHUNK = 4
DENSE = 256  # samples along a lane polyline to locate its clip points
MIN_POLYLINE_LENGTH = 1.0  # m, shorter clipped pieces are dropped


def cell_centers(grid: BevGrid, device) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(nx,), (ny,), (nz,) cell-centre coordinates of the grid."""
    f = dict(device=device, dtype=torch.float32)
    x = grid.x_min + (torch.arange(grid.nx, **f) + 0.5) * grid.res
    y = grid.y_min + (torch.arange(grid.ny, **f) + 0.5) * grid.res
    z = grid.z_min + (torch.arange(grid.nz, **f) + 0.5) * grid.z_res
    return x, y, z


def _select(x: torch.Tensor, sel: torch.Tensor) -> torch.Tensor:
    """x (B, K, ...) at box indices sel (B, K') -> (B, K', ...)."""
    return torch.gather(x, 1, sel.view(*sel.shape, *([1] * (x.dim() - 2))).expand(*sel.shape, *x.shape[2:]))


def footprint_overlap(
    center: torch.Tensor, yaw: torch.Tensor, half: torch.Tensor, valid: torch.Tensor, grid: BevGrid
) -> torch.Tensor:
    """(B, K, nx, ny) bool: a box footprint (centre (B, K, 2), yaw, half sizes (B, K, 2)) overlaps
    the open square cell: separating axes, the grid's two and the box's two."""
    xc, yc, _ = cell_centers(grid, yaw.device)
    r = grid.res / 2
    c, s = torch.cos(yaw), torch.sin(yaw)  # (B, K)
    ac, as_ = c.abs(), s.abs()
    hl, hw = half[..., 0], half[..., 1]
    dx = xc - center[..., 0:1]  # (B, K, nx)
    dy = yc - center[..., 1:2]  # (B, K, ny)
    on_x = dx.abs() < (ac * hl + as_ * hw + r)[..., None]  # grid axes
    on_y = dy.abs() < (as_ * hl + ac * hw + r)[..., None]
    cell_r = (r * (ac + as_))[..., None, None]  # the cell's half extent along a box axis
    u = (c[..., None] * dx)[..., :, None] + (s[..., None] * dy)[..., None, :]  # (B, K, nx, ny)
    v = (-s[..., None] * dx)[..., :, None] + (c[..., None] * dy)[..., None, :]
    on_u = u.abs() < hl[..., None, None] + cell_r
    on_v = v.abs() < hw[..., None, None] + cell_r
    return on_x[..., :, None] & on_y[..., None, :] & on_u & on_v & valid[..., None, None]


def _cell_ranges(
    lo: torch.Tensor, hi: torch.Tensor, g_min: float, res: float, n: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """Conservative index range [i0, i1] (clamped to [0, n - 1]) of the cells whose centre
    lies in the open interval (lo, hi): one cell of slack each side, the exact test follows."""
    i0 = torch.floor((lo - g_min) / res - 0.5).clamp(-1, n) - 1
    i1 = torch.ceil((hi - g_min) / res - 0.5).clamp(-1, n) + 1
    return i0.clamp(0, n - 1).long(), i1.clamp(0, n - 1).long()


def occupancy_and_flow(boxes: SolidBoxes, grid: BevGrid) -> tuple[torch.Tensor, torch.Tensor]:
    """-> occupancy (B, nz, nx, ny) uint8, flow (B, 2, nx, ny) float32 m/s (module docstring).

    Sparse: each box that reaches the grid proposes the cells of a conservative index window
    around its bounding rectangle (a few dozen cells for a car, against nx x ny = 12,288 for a
    dense test), each (box, cell) pair gets the exact separating-axis test of
    `footprint_overlap` (the same float operations, so the same result), and the overlapping
    pairs are scattered into the grid. The pair count costs one host sync.
    """
    B, K = boxes.yaw.shape
    dev = boxes.yaw.device
    nx, ny, nz = grid.nx, grid.ny, grid.nz
    occ = torch.zeros(B, nz, nx, ny, dtype=torch.uint8, device=dev)
    flow = torch.zeros(B, 2, nx, ny, device=dev)
    if K == 0:
        return occ, flow
    r = grid.res / 2
    c, s = torch.cos(boxes.yaw), torch.sin(boxes.yaw)  # (B, K)
    ac, as_ = c.abs(), s.abs()
    hl, hw = boxes.half[..., 0], boxes.half[..., 1]
    ex = ac * hl + as_ * hw  # half extents of the bounding rectangle (footprint_overlap's grid axes)
    ey = as_ * hl + ac * hw
    x, y = boxes.center[..., 0], boxes.center[..., 1]
    near = (
        boxes.valid
        & (x + ex > grid.x_min)
        & (x - ex < grid.x_max)
        & (y + ey > grid.y_min)
        & (y - ey < grid.y_max)
        & (boxes.z1 > grid.z_min)
        & (boxes.z0 < grid.z_max)
    )
    i0, i1 = _cell_ranges(x - ex - r, x + ex + r, grid.x_min, grid.res, nx)  # (B, K)
    j0, j1 = _cell_ranges(y - ey - r, y + ey + r, grid.y_min, grid.res, ny)
    nj = j1 - j0 + 1
    flat = ((i1 - i0 + 1) * nj * near).view(-1)  # (B K,) candidate cells per box
    box = torch.repeat_interleave(torch.arange(B * K, device=dev), flat)  # (Q,) flat (B, K) index; syncs
    if box.numel() == 0:
        return occ, flow
    # Per-box quantities gathered once per pair, as two tables (one indexing op each).
    ints = torch.stack([i0, j0, nj, flat.cumsum(0).view(B, K) - flat.view(B, K)], -1).view(B * K, 4)[box]
    cols = [x, y, c, s, ex + r, ey + r, hl, hw, r * (ac + as_), boxes.z0, boxes.z1]
    xq, yq, cq, sq, exq, eyq, hlq, hwq, cell_r, z0, z1 = torch.stack(cols, -1).view(B * K, -1)[box].unbind(1)
    local = torch.arange(box.numel(), device=dev) - ints[:, 3]
    i = ints[:, 0] + local // ints[:, 2]
    j = ints[:, 1] + local % ints[:, 2]

    xc, yc, _ = cell_centers(grid, dev)
    dx, dy = xc[i] - xq, yc[j] - yq
    u = cq * dx + sq * dy
    v = -sq * dx + cq * dy
    hit = (dx.abs() < exq) & (dy.abs() < eyq) & (u.abs() < hlq + cell_r) & (v.abs() < hwq + cell_r)
    hit = hit.nonzero().squeeze(1)
    box, z0, z1 = box[hit], z0[hit], z1[hit]
    b, cell = box // K, i[hit] * ny + j[hit]  # (Q',) env and cell (nx, ny) of each overlap
    z_lo = grid.z_min + torch.arange(nz, device=dev, dtype=torch.float32) * grid.z_res
    z_in = (z1[:, None] > z_lo) & (z0[:, None] < z_lo + grid.z_res)  # (Q', nz)
    q, z = z_in.nonzero().unbind(1)
    occ.view(-1)[(b[q] * nz + z) * (nx * ny) + cell[q]] = 1  # duplicates write the same 1

    actor = (box % K) < boxes.num_objects
    b, cell, vel = b[actor], cell[actor], boxes.velocity.reshape(-1, 2)[box[actor]]  # (A,), (A, 2)
    if cell.numel() > 0:
        at = (2 * b) * (nx * ny) + cell  # x component of flow (B, 2, nx ny); y one plane further
        total = torch.zeros(B * 2 * nx * ny, device=dev)
        total.index_add_(0, torch.cat([at, at + nx * ny]), torch.cat([vel[:, 0], vel[:, 1]]))
        n = torch.zeros(B * nx * ny, device=dev).index_add_(
            0, b * (nx * ny) + cell, torch.ones_like(vel[:, 0])
        )
        flow = (total.view(B, 2, nx * ny) / n.view(B, 1, nx * ny).clamp(min=1.0)).view(B, 2, nx, ny)
    return occ, flow


def object_boxes(scene: Scene, boxes: SolidBoxes) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """-> boxes (B, MAX_BOXES, 9), class (B, MAX_BOXES) long, valid (B, MAX_BOXES) bool, nearest first."""
    B, n = scene.obj_class.shape
    center, half = boxes.center[:, :n], boxes.half[:, :n]
    h = boxes.z1[:, :n] - boxes.z0[:, :n]
    rows = torch.cat(
        [center, (h / 2)[..., None], 2 * half, h[..., None], boxes.yaw[:, :n, None], boxes.velocity[:, :n]],
        -1,
    )  # (B, N, 9)
    dist = torch.linalg.vector_norm(center, dim=-1)
    keep = boxes.valid[:, :n] & (dist <= MAX_BOX_RANGE)
    order = torch.argsort(torch.where(keep, dist, torch.inf), dim=1, stable=True)[:, :MAX_BOXES]
    k = order.shape[1]
    out = torch.zeros(B, MAX_BOXES, 9, device=rows.device)
    cls = torch.zeros(B, MAX_BOXES, dtype=torch.long, device=rows.device)
    valid = torch.zeros(B, MAX_BOXES, dtype=torch.bool, device=rows.device)
    out[:, :k] = torch.gather(rows, 1, order[..., None].expand(B, k, 9))
    cls[:, :k] = torch.gather(scene.obj_class.long(), 1, order)
    valid[:, :k] = torch.gather(keep, 1, order)
    return out * valid[..., None], cls * valid, valid


LANE_WEIGHT = 1 << (SUB * SUB).bit_length()  # a power of 2 > SUB^2: drivable count = code sum & (LW - 1)


# Code per material value: 1 if drivable, + LANE_WEIGHT if a lane line (LANE_MARKING,
# CENTER_LINE). A cell's code sum over its SUB x SUB samples holds both counts.
_CODES = [
    int(m in DRIVABLE_MATERIALS) + LANE_WEIGHT * int(m in (Semantic.LANE_MARKING, Semantic.CENTER_LINE))
    for m in range(256)
]


@functools.lru_cache(maxsize=8)
def _code_table(device: torch.device) -> torch.Tensor:
    """(256,) uint8 `_CODES` on device (cached: read only)."""
    return torch.tensor(_CODES, dtype=torch.uint8, device=device)


def _sample_axes(grid: BevGrid, device) -> tuple[torch.Tensor, torch.Tensor]:
    """(nx SUB,), (ny SUB,) ego-frame x and y of the supersampling points (SUB per cell side)."""
    off = (torch.arange(SUB, device=device, dtype=torch.float32) + 0.5) / SUB * grid.res
    xs = ((grid.x_min + torch.arange(grid.nx, device=device) * grid.res)[:, None] + off).reshape(-1)
    ys = ((grid.y_min + torch.arange(grid.ny, device=device) * grid.res)[:, None] + off).reshape(-1)
    return xs, ys


def _sample_codes(
    raster: GroundRaster, ego_pose: torch.Tensor, xs: torch.Tensor, ys: torch.Tensor
) -> torch.Tensor:
    """(B, nx SUB, ny SUB) uint8 material code (`_code_table`) under the supersampled ego-grid
    points xs x ys (`_sample_axes`); the raster cells are those of render.ground.ground_lookup
    (GRASS outside).

    The points form a product grid (xs, ys), so the raster column c gx - s gy + a and row
    s gx + c gy + b are assembled from per-axis (B, nx SUB), (B, ny SUB) products with the same
    float operations in the same order (the same cells), two full-size passes each instead of
    five. Column and row are monotonic along each axis (rounding and floor included), so the 4
    corner samples bound every sample's cell: the codes of that window of the raster (GRASS
    where it leaves the raster) are gathered, not the raster, so no clamping or masking per
    sample. The window bounds cost one host sync.
    """
    B, Hr, Wr = raster.material.shape
    dev = ego_pose.device
    ego = ego_pose.float()
    inv = 1.0 / raster.res
    gx, gy = xs * inv, ys * inv  # in cells
    c, s = torch.cos(ego[:, 2])[:, None], torch.sin(ego[:, 2])[:, None]  # (B, 1)
    a = ((ego[:, 0] - raster.origin[:, 0]) * inv).view(B, 1, 1)
    b = ((ego[:, 1] - raster.origin[:, 1]) * inv).view(B, 1, 1)
    col = torch.sub((c * gx)[:, :, None], (s * gy)[:, None, :]).add_(a).floor_()  # (B, nx SUB, ny SUB)
    row = torch.add((s * gx)[:, :, None], (c * gy)[:, None, :]).add_(b).floor_()
    corners = (slice(None), [0, 0, -1, -1], [0, -1, 0, -1])
    cc, rc = col[corners], row[corners]  # (B, 4)
    lims = torch.stack([cc.amin(1), cc.amax(1), rc.amin(1), rc.amax(1)], 1)
    lims = lims.clamp(-(2.0**30), 2.0**30).long().tolist()  # one host sync
    w_win = max(c1 - c0 for c0, c1, _, _ in lims) + 1
    h_win = max(r1 - r0 for _, _, r0, r1 in lims) + 1
    table = _code_table(dev)
    grass = _CODES[int(Semantic.GRASS)]
    huge = max(abs(v) for lim in lims for v in lim) >= 2**24  # cells no longer exact in float32
    if h_win * w_win > 4 * col[0].numel() or B * h_win >= 2**24 or huge:
        # A raster much finer than the samples, an absurd batch or an ego thousands of km off
        # the raster: per-sample clamp and mask.
        outside = (col < 0) | (col > Wr - 1) | (row < 0) | (row > Hr - 1)
        idx = torch.add(col.clamp_(0, Wr - 1).long(), row.clamp_(0, Hr - 1).long(), alpha=Wr)
        mat = torch.gather(raster.material.reshape(B, -1), 1, idx.view(B, -1)).view(idx.shape)
        return table.index_select(0, mat.view(-1).int()).view(mat.shape).masked_fill_(outside, grass)
    # (B, h_win, w_win) codes of each env's window of the raster
    win = torch.full((B, h_win, w_win), grass, dtype=torch.uint8, device=dev)
    for k, (c0, c1, r0, r1) in enumerate(lims):
        ca, cb, ra, rb = max(c0, 0), min(c1, Wr - 1), max(r0, 0), min(r1, Hr - 1)
        if ca <= cb and ra <= rb:
            part = raster.material[k, ra : rb + 1, ca : cb + 1]
            codes = table.index_select(0, part.reshape(-1).int()).view(part.shape)
            win[k, ra - r0 : rb - r0 + 1, ca - c0 : cb - c0 + 1] = codes
    lo = torch.tensor(lims, device=dev, dtype=torch.float32)  # integers, exact
    shift = torch.arange(B, device=dev, dtype=torch.float32) * h_win  # env k's rows start at k h_win
    col.sub_(lo[:, 0].view(B, 1, 1))
    row.sub_((lo[:, 2] - shift).view(B, 1, 1))  # integer-valued floats below 2^24: exact
    if B * h_win * w_win < 2**24:  # the flat index is exact in float32: fewer big temporaries
        idx = col.add_(row, alpha=w_win).to(torch.int32)
    else:
        itype = torch.long if B * h_win * w_win >= 2**31 else torch.int32
        idx = torch.add(col.to(itype), row.to(itype), alpha=w_win)  # flat index into win
    return win.view(-1).index_select(0, idx.view(-1)).view(idx.shape)


def ground_bev(scene: Scene, grid: BevGrid) -> tuple[torch.Tensor, torch.Tensor]:
    """-> lanes (B, 2, nx, ny) uint8 (lane lines, road edges), drivable (B, nx, ny) uint8.

    Lane: any of the cell's SUB x SUB samples is a lane line; drivable: at least half of them;
    edge: some but not all (module docstring). Counted from the summed sample codes."""
    B, g = scene.batch_size, scene.ground
    step = GROUND_CHUNK if scene.ego_pose.device.type == "cpu" else B
    counts, (xs, ys) = [], _sample_axes(grid, scene.ego_pose.device)
    for i in range(0, B, step):
        part = GroundRaster(g.material[i : i + step], g.origin[i : i + step], g.res)
        code = _sample_codes(part, scene.ego_pose[i : i + step], xs, ys)  # (b, nx SUB, ny SUB) uint8
        n = code.view(-1, SUB, grid.ny, SUB).sum(-1, dtype=torch.int16).sum(1, dtype=torch.int16)
        counts.append(n.view(-1, grid.nx, grid.ny))
    n = torch.cat(counts)  # (B, nx, ny) code sums
    lane = n >= LANE_WEIGHT
    drive = n & (LANE_WEIGHT - 1)  # drivable samples of the cell, 0..SUB^2
    edge = (drive > 0) & (drive < SUB * SUB)
    return torch.stack([lane, edge], 1).to(torch.uint8), (2 * drive >= SUB * SUB).to(torch.uint8)


def _interp(s: torch.Tensor, pts: torch.Tensor, q: torch.Tensor) -> torch.Tensor:
    """Points at arc lengths q (..., Q) along polylines pts (..., P, 2) with cumulative lengths s (..., P)."""
    P = s.shape[-1]
    i = (torch.searchsorted(s.contiguous(), q.contiguous(), right=True) - 1).clamp(0, P - 2)
    s0, s1 = torch.gather(s, -1, i), torch.gather(s, -1, i + 1)
    p0 = torch.gather(pts, -2, i[..., None].expand(*i.shape, 2))
    p1 = torch.gather(pts, -2, (i + 1)[..., None].expand(*i.shape, 2))
    w = ((q - s0) / (s1 - s0).clamp(min=1e-9)).clamp(0, 1)[..., None]
    return p0 + w * (p1 - p0)


def _slab_range(p0: torch.Tensor, p1: torch.Tensor, grid: BevGrid) -> tuple[torch.Tensor, torch.Tensor]:
    """Liang-Barsky: the parameter range [t0, t1] of segments p0 -> p1 (..., 2) inside the grid's
    xy rectangle (unclipped to [0, 1]; empty when t0 > t1)."""
    d = p1 - p0
    lo = torch.tensor([grid.x_min, grid.y_min], device=p0.device)
    hi = torch.tensor([grid.x_max, grid.y_max], device=p0.device)
    inv = 1.0 / torch.where(d.abs() < 1e-9, torch.full_like(d, 1e-9), d)
    ta, tb = (lo - p0) * inv, (hi - p0) * inv
    return torch.minimum(ta, tb).amax(-1), torch.maximum(ta, tb).amin(-1)


def lane_polylines(scene: Scene, grid: BevGrid) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """-> points (B, MAX_LANE_POLYLINES, LANE_POLYLINE_POINTS, 2), type (B, L') long, valid (B, L') bool."""
    B, L, P, _ = scene.lane_lines.shape
    dev = scene.ego_pose.device
    pts = to_local_points(scene.ego_pose.float(), scene.lane_lines.float())  # (B, L, P, 2)
    seg = torch.linalg.vector_norm(pts[..., 1:, :] - pts[..., :-1, :], dim=-1)
    s = torch.cat([torch.zeros(B, L, 1, device=dev), seg.cumsum(-1)], -1)  # (B, L, P)
    total = s[..., -1:]
    sd = total * torch.linspace(0, 1, DENSE, device=dev)  # (B, L, DENSE)
    dense = _interp(s, pts, sd)
    inside = (
        (dense[..., 0] >= grid.x_min)
        & (dense[..., 0] <= grid.x_max)
        & (dense[..., 1] >= grid.y_min)
        & (dense[..., 1] <= grid.y_max)
    )
    first = inside.float().argmax(-1, keepdim=True)  # (B, L, 1) first dense sample inside
    last = DENSE - 1 - inside.flip(-1).float().argmax(-1, keepdim=True)

    def sample(i: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return torch.gather(sd, -1, i), torch.gather(dense, -2, i[..., None].expand(B, L, 1, 2))[..., 0, :]

    # Exact ends: clip the dense segment that crosses into (out of) the grid.
    (sa, pa), (sb, pb) = sample((first - 1).clamp(min=0)), sample(first)
    t_in = _slab_range(pa, pb, grid)[0].clamp(0, 1)[..., None]
    s_lo = torch.where(first > 0, sa + t_in * (sb - sa), sb)
    (sa, pa), (sb, pb) = sample(last), sample((last + 1).clamp(max=DENSE - 1))
    t_out = _slab_range(pa, pb, grid)[1].clamp(0, 1)[..., None]
    s_hi = torch.where(last < DENSE - 1, sa + t_out * (sb - sa), sa)
    q = s_lo + (s_hi - s_lo) * torch.linspace(0, 1, LANE_POLYLINE_POINTS, device=dev)
    out = _interp(s, pts, q)  # (B, L, LANE_POLYLINE_POINTS, 2)
    ok = scene.lane_line_valid & inside.any(-1) & ((s_hi - s_lo)[..., 0] >= MIN_POLYLINE_LENGTH)
    near = torch.where(inside, torch.linalg.vector_norm(dense, dim=-1), torch.inf).amin(-1)
    order = torch.argsort(torch.where(ok, near, torch.inf), dim=1, stable=True)[:, :MAX_LANE_POLYLINES]
    k = order.shape[1]
    res = torch.zeros(B, MAX_LANE_POLYLINES, LANE_POLYLINE_POINTS, 2, device=dev)
    typ = torch.zeros(B, MAX_LANE_POLYLINES, dtype=torch.long, device=dev)
    valid = torch.zeros(B, MAX_LANE_POLYLINES, dtype=torch.bool, device=dev)
    res[:, :k] = torch.gather(out, 1, order[..., None, None].expand(B, k, LANE_POLYLINE_POINTS, 2))
    typ[:, :k] = torch.gather(scene.lane_line_type.long(), 1, order)
    valid[:, :k] = torch.gather(ok, 1, order)
    return res * valid[..., None, None], typ * valid, valid


def make_labels(
    scene: Scene,
    render: RenderOutput | None = None,
    grid: BevGrid = LABEL_GRID,
    expert_plan: torch.Tensor | None = None,
    expert_speed: torch.Tensor | None = None,
    expert_action: torch.Tensor | None = None,
    reason: torch.Tensor | None = None,
    oncoming_gap: torch.Tensor | None = None,
) -> Labels:
    """Labels of the frame (module docstring). Without `render`, depth and semantics are empty
    (B, 0, 0, 0) tensors; expert fields not given are zeros for the world to overwrite."""
    B, dev = scene.batch_size, scene.ego_pose.device
    boxes = scene_boxes(scene)
    occupancy, flow = occupancy_and_flow(boxes, grid)
    box_rows, box_class, box_valid = object_boxes(scene, boxes)
    lanes, drivable = ground_bev(scene, grid)
    polylines, poly_type, poly_valid = lane_polylines(scene, grid)
    if render is not None:
        depth, semantics = render.depth, render.semantics
    else:
        depth = torch.zeros(B, 0, 0, 0, device=dev)
        semantics = torch.zeros(B, 0, 0, 0, dtype=torch.uint8, device=dev)
    return Labels(
        occupancy=occupancy,
        flow=flow,
        boxes=box_rows,
        box_class=box_class,
        box_valid=box_valid,
        lanes=lanes,
        lane_polylines=polylines,
        lane_polyline_type=poly_type,
        lane_polyline_valid=poly_valid,
        drivable=drivable,
        traffic_light=scene.ego_light.long(),
        depth=depth,
        semantics=semantics,
        expert_plan=expert_plan if expert_plan is not None else torch.zeros(B, PLAN_STEPS, 3, device=dev),
        expert_speed=expert_speed if expert_speed is not None else torch.zeros(B, device=dev),
        expert_action=expert_action if expert_action is not None else torch.zeros(B, 2, device=dev),
        reason=reason if reason is not None else torch.zeros(B, dtype=torch.long, device=dev),
        oncoming_gap=oncoming_gap,
    )
