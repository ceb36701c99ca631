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

import torch

from e2edrive.core.constants import (
    DRIVABLE_MATERIALS,
    LABEL_GRID,
    LANE_POLYLINE_POINTS,
    MAX_BOXES,
    MAX_LANE_POLYLINES,
    NUM_SEMANTIC_CLASSES,
    PLAN_STEPS,
    BevGrid,
    Semantic,
)
from e2edrive.core.geometry import to_local_points
from e2edrive.core.types import Labels
from e2edrive.sim.render.boxes import SolidBoxes, scene_boxes
from e2edrive.sim.render.ground import ground_lookup
from e2edrive.sim.render.renderer import RenderOutput
from e2edrive.sim.scene import Scene

MAX_BOX_RANGE = 80.0  # m, objects farther than this from the ego are not labelled
SUB = 4  # ground samples per BEV cell side for lanes / drivable
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


def occupancy_and_flow(boxes: SolidBoxes, grid: BevGrid) -> tuple[torch.Tensor, torch.Tensor]:
    """-> occupancy (B, nz, nx, ny) uint8, flow (B, 2, nx, ny) float32 m/s (module docstring).

    Boxes whose bounding rectangle misses the grid (most barrier segments of a long road) are
    dropped first: the dense test costs B x K x nx x ny. Keeping the largest per-environment
    count of the rest costs one host sync.
    """
    B, K = boxes.yaw.shape
    c, s = torch.cos(boxes.yaw).abs(), torch.sin(boxes.yaw).abs()
    ex = c * boxes.half[..., 0] + s * boxes.half[..., 1]  # half extents of the bounding rectangle
    ey = s * boxes.half[..., 0] + c * boxes.half[..., 1]
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
    k = int(near.sum(1).max()) if K > 0 else 0
    if k == 0:
        dev = boxes.yaw.device
        return (
            torch.zeros(B, grid.nz, grid.nx, grid.ny, dtype=torch.uint8, device=dev),
            torch.zeros(B, 2, grid.nx, grid.ny, device=dev),
        )
    sel = torch.argsort((~near).to(torch.uint8), dim=1, stable=True)[:, :k]  # (B, k) grid boxes first
    over = (
        footprint_overlap(
            _select(boxes.center, sel),
            _select(boxes.yaw, sel),
            _select(boxes.half, sel),
            _select(near, sel),
            grid,
        )
        .float()
        .view(B, k, -1)
    )  # (B, k, nx*ny)
    z0, z1 = _select(boxes.z0, sel), _select(boxes.z1, sel)
    z_lo = grid.z_min + torch.arange(grid.nz, device=over.device, dtype=torch.float32) * grid.z_res
    z_in = (z1[..., None] > z_lo) & (z0[..., None] < z_lo + grid.z_res)  # (B, k, nz)
    occ = (z_in.float().transpose(1, 2) @ over) > 0  # (B, nz, nx*ny)
    actor = over * (sel < boxes.num_objects)[..., None]  # (B, k, nx*ny) columns of each actor
    total = _select(boxes.velocity, sel).transpose(1, 2) @ actor  # (B, 2, nx*ny)
    count = actor.sum(1, keepdim=True).clamp(min=1.0)
    shape = (B, grid.nx, grid.ny)
    return occ.to(torch.uint8).view(B, grid.nz, *shape[1:]), (total / count).view(B, 2, *shape[1:])


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


def ground_bev(scene: Scene, grid: BevGrid) -> tuple[torch.Tensor, torch.Tensor]:
    """-> lanes (B, 2, nx, ny) uint8 (lane lines, road edges), drivable (B, nx, ny) uint8."""
    B, dev = scene.batch_size, scene.ego_pose.device
    off = (torch.arange(SUB, device=dev, dtype=torch.float32) + 0.5) / SUB * grid.res
    xs = (grid.x_min + torch.arange(grid.nx, device=dev) * grid.res)[:, None] + off  # (nx, SUB)
    ys = (grid.y_min + torch.arange(grid.ny, device=dev) * grid.res)[:, None] + off
    pts = torch.stack(
        torch.meshgrid(xs.reshape(-1), ys.reshape(-1), indexing="ij"), -1
    )  # (nx*SUB, ny*SUB, 2)
    mat, _ = ground_lookup(scene.ground, scene.ego_pose.float(), pts.view(1, -1, 2))  # (B, 1, M)
    mat = mat.view(B, grid.nx, SUB, grid.ny, SUB)
    lane_table = torch.zeros(NUM_SEMANTIC_CLASSES, dtype=torch.bool, device=dev)
    lane_table[[int(Semantic.LANE_MARKING), int(Semantic.CENTER_LINE)]] = True
    drivable_table = torch.zeros(NUM_SEMANTIC_CLASSES, device=dev)
    drivable_table[[int(m) for m in DRIVABLE_MATERIALS]] = 1.0
    lane = lane_table[mat].any(4).any(2)
    frac = drivable_table[mat].mean((2, 4))  # (B, nx, ny) drivable share of the cell
    edge = (frac > 0) & (frac < 1)
    return torch.stack([lane, edge], 1).to(torch.uint8), (frac >= 0.5).to(torch.uint8)


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
    )
