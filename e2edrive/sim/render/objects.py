"""Ray casting against upright boxes: cull per camera tile, then the slab method.

Culling: each box's 8 corners are projected into each camera; the screen rectangle they span
(the whole image when a corner is behind the near plane, so culling stays conservative) is
tested against every tile, and each tile keeps its `max_per_tile` nearest overlapping boxes.
Only those candidates are intersected with the tile's pixels, so the cost is
B x N_cam x P x max_per_tile instead of B x N_cam x P x K.

Shortcut (documented): if more than `max_per_tile` boxes overlap one tile, the farthest are
dropped for that tile. They are nearly always hidden behind the nearer ones (the cap orders by
nearest corner depth); the default cap is generous for the scenes the scenarios build.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from e2edrive.sim.render.boxes import SolidBoxes, box_corners
from e2edrive.sim.render.camera_rays import CameraRays

NEAR = 0.05  # m, near plane: boxes closer than this to a camera are not drawn
FAR = 1e30  # stand-in depth of a miss inside the keyed reduction (finite, so arithmetic masks work)
BOX_BITS = 20  # box index bits of the reduction key (up to ~1M boxes)
# Corner pairs joined by the 12 edges of a box (box_corners order: bottom 0-3, top 4-7).
_EDGES = ((0, 1, 2, 3, 4, 5, 6, 7, 0, 1, 2, 3), (1, 2, 3, 0, 5, 6, 7, 4, 4, 5, 6, 7))
FAR_KEY = int(torch.tensor(FAR, dtype=torch.float32).view(torch.int32)) << BOX_BITS


def cull_boxes(
    rays: CameraRays, boxes: SolidBoxes, width: int, height: int, max_per_tile: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """Candidate boxes per tile, nearest first.

    -> idx (B, N_cam, T, Kt) long box indices, near (B, N_cam, T, Kt) depth of the box's nearest
    corner (inf: no candidate).
    """
    corners = box_corners(boxes)  # (B, K, 8, 3)
    R, tr = rays.T_cam_from_ego[:, :3, :3], rays.T_cam_from_ego[:, :3, 3]  # (N, 3, 3), (N, 3)
    p = torch.einsum("nij,bkcj->bnkci", R, corners) + tr[None, :, None, None, :]  # (B, N, K, 8, 3)
    # Clip against the near plane: the screen footprint of the box in front of it is spanned by
    # the corners in front and the points where the 12 edges cross the plane (a box reaching
    # beside or behind the camera, like a long barrier alongside, then covers only what it must).
    ea, eb = p[..., _EDGES[0], :], p[..., _EDGES[1], :]  # (B, N, K, 12, 3)
    za, zb = ea[..., 2], eb[..., 2]
    f = ((NEAR - za) / torch.where((zb - za).abs() < 1e-9, 1e-9, zb - za)).clamp(0, 1)
    cross = ea + f[..., None] * (eb - ea)
    pts = torch.cat([p, cross], -2)  # (B, N, K, 20, 3)
    use = torch.cat([p[..., 2] >= NEAR, (za - NEAR) * (zb - NEAR) < 0], -1)
    z = p[..., 2]
    fx, fy = rays.K[:, 0, 0].view(1, -1, 1, 1), rays.K[:, 1, 1].view(1, -1, 1, 1)
    cx, cy = rays.K[:, 0, 2].view(1, -1, 1, 1), rays.K[:, 1, 2].view(1, -1, 1, 1)
    zc = pts[..., 2].clamp(min=NEAR)
    u, v = fx * pts[..., 0] / zc + cx, fy * pts[..., 1] / zc + cy  # (B, N, K, 20)
    big = torch.tensor(1e9, device=z.device)
    u0 = torch.where(use, u, big).amin(-1)
    u1 = torch.where(use, u, -big).amax(-1)
    v0 = torch.where(use, v, big).amin(-1)
    v1 = torch.where(use, v, -big).amax(-1)
    visible = boxes.valid[:, None] & use.any(-1) & (u1 >= 0) & (u0 <= width) & (v1 >= 0) & (v0 <= height)
    key = z.amin(-1).clamp(min=0.0)  # (B, N, K) nearest corner depth orders candidates

    rect = rays.tile_rect  # (T, 4)
    overlap = (
        (u1[..., None] >= rect[:, 0])
        & (u0[..., None] <= rect[:, 2])
        & (v1[..., None] >= rect[:, 1])
        & (v0[..., None] <= rect[:, 3])
        & visible[..., None]
    )  # (B,N,K,T)
    inf = torch.tensor(float("inf"), device=z.device)
    tile_key = torch.where(overlap, key[..., None], inf).transpose(-1, -2)  # (B, N, T, K)
    kt = min(max_per_tile, tile_key.shape[-1])
    cand_key, idx = torch.topk(tile_key, kt, dim=-1, largest=False, sorted=False)
    return idx, cand_key


@dataclass
class _Pairs:
    """(tile, candidate box) pairs: the box in its own frame as seen from the tile's camera."""

    tile: torch.Tensor  # (Q,) index into (B, N, T)
    cam_tile: torch.Tensor  # (Q,) index into (N, T)
    box: torch.Tensor  # (Q,) index into K
    near: torch.Tensor  # (Q,) nearest-corner depth (culling key)
    c: torch.Tensor  # (Q,) cos, sin of the box yaw
    s: torch.Tensor
    olx: torch.Tensor  # (Q,) camera centre in the box frame
    oly: torch.Tensor
    half: torch.Tensor  # (Q, 2)
    z_lo: torch.Tensor  # (Q,) box bottom and top relative to the camera height
    z_hi: torch.Tensor


def _make_pairs(
    rays: CameraRays, boxes: SolidBoxes, idx: torch.Tensor, near: torch.Tensor, pair: torch.Tensor
) -> _Pairs:
    N, T = rays.dirs.shape[0], rays.num_tiles
    B, K, Kt = boxes.yaw.shape[0], boxes.num_boxes, idx.shape[-1]
    tile = pair // Kt
    cam_tile = tile % (N * T)
    # index_select rather than x[i] throughout: the same values, several times faster on CPU.
    box = idx.reshape(-1).index_select(0, pair)
    fb = (tile // (N * T)) * K + box  # flat (B, K)
    fields = torch.stack(
        [
            boxes.center[..., 0],
            boxes.center[..., 1],
            boxes.yaw,
            boxes.half[..., 0],
            boxes.half[..., 1],
            boxes.z0,
            boxes.z1,
        ],
        -1,
    )  # (B, K, 7)
    cx, cy, yaw, hx, hy, z0, z1 = fields.view(B * K, 7).index_select(0, fb).unbind(1)
    c, s = torch.cos(yaw), torch.sin(yaw)
    o = rays.origin.index_select(0, cam_tile // T)  # (Q, 3)
    rx, ry = o[:, 0] - cx, o[:, 1] - cy
    return _Pairs(
        tile=tile,
        cam_tile=cam_tile,
        box=box,
        near=near.reshape(-1).index_select(0, pair),
        c=c,
        s=s,
        olx=c * rx + s * ry,
        oly=-s * rx + c * ry,
        half=torch.stack([hx, hy], -1),
        z_lo=z0 - o[:, 2],
        z_hi=z1 - o[:, 2],
    )


def _ray_box(
    p: _Pairs, dx: torch.Tensor, dy: torch.Tensor, inv_dz: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Slab method for each pair against R rays (Q, R) of its tile: entry and exit depths
    (a hit when entry <= exit)."""
    c, s = p.c[:, None], p.s[:, None]

    def slab(lo: torch.Tensor, hi: torch.Tensor, inv: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        t1, t2 = lo[:, None] * inv, hi[:, None] * inv
        return torch.minimum(t1, t2), torch.maximum(t1, t2)

    hx, hy = p.half[:, 0], p.half[:, 1]
    tn, tf = slab(-hx - p.olx, hx - p.olx, torch.reciprocal(c * dx + s * dy))
    tn2, tf2 = slab(-hy - p.oly, hy - p.oly, torch.reciprocal(c * dy - s * dx))
    tn, tf = torch.maximum(tn, tn2), torch.minimum(tf, tf2)
    tn2, tf2 = slab(p.z_lo, p.z_hi, inv_dz)
    return torch.maximum(tn, tn2), torch.minimum(tf, tf2)


def cast_boxes(
    rays: CameraRays, boxes: SolidBoxes, width: int, height: int, max_per_tile: int = 16, compact: bool = True
) -> tuple[torch.Tensor, torch.Tensor]:
    """Nearest box hit of every ray.

    -> t (B, N_cam, P) depth of the hit (inf where the ray misses every box),
       box (B, N_cam, P) long index into the box table (0 where it misses; check t).
    Pixels are tile-major (see camera_rays).

    The work is a list of (tile, candidate box) pairs, each tested against the tile's pixels and
    reduced per pixel with a scatter-min. compact=True keeps only the pairs culling accepted
    (one host sync for their count: free on CPU, where it saves most of the work);
    compact=False keeps every pair with the rejected ones masked (no sync: for accelerators).
    """
    B = boxes.yaw.shape[0]
    N, P = rays.dirs.shape[:2]
    dev = rays.dirs.device
    if boxes.num_boxes == 0:
        return (
            torch.full((B, N, P), float("inf"), device=dev),
            torch.zeros(B, N, P, dtype=torch.long, device=dev),
        )
    idx, near = cull_boxes(rays, boxes, width, height, max_per_tile)  # (B, N, T, Kt)
    ok = torch.isfinite(near)
    T, Pt = rays.num_tiles, rays.tile_pixels

    pair = ok.reshape(-1).nonzero().squeeze(1) if compact else torch.arange(ok.numel(), device=dev)  # (Q,)
    p = _make_pairs(rays, boxes, idx, near, pair)
    d = rays.dirs.view(N * T, Pt, 3)
    dx, dy = d[..., 0].index_select(0, p.cam_tile), d[..., 1].index_select(0, p.cam_tile)  # (Q, Pt)
    tn, tf = _ray_box(p, dx, dy, torch.reciprocal(d[..., 2]).index_select(0, p.cam_tile))
    # One int64 key per pair and pixel: the depth's float bits (monotonic for positive floats)
    # above the box index, so a single scatter-min finds the nearest hit and its box at once
    # (ties: the lower box index). Misses get depth FAR; masks are arithmetic, not torch.where,
    # which is several times slower on CPU.
    miss = (tn > tf) | (tn <= NEAR)
    if not compact:
        miss |= ~torch.isfinite(p.near)[:, None]
    t_key = tn.clamp(min=0.0) + miss * FAR  # (Q, Pt) all positive
    key = (t_key.view(torch.int32).long() << BOX_BITS) | p.box[:, None]
    # compact: reduce and decode only the tiles some pair touches (a fraction of them), then
    # place them in the full image; untouched tiles keep (inf, 0), what FAR_KEY decodes to.
    touched, row = torch.unique(p.tile, return_inverse=True) if compact else (None, p.tile)
    n_rows = touched.shape[0] if compact else B * N * T
    best = torch.full((n_rows, Pt), FAR_KEY, dtype=torch.long, device=dev)
    best = best.scatter_reduce(0, row[:, None].expand(-1, Pt), key, "amin")
    t_best = (best >> BOX_BITS).to(torch.int32).view(torch.float32)
    t_best = torch.where(t_best < FAR / 2, t_best, torch.inf)
    box_best = best & ((1 << BOX_BITS) - 1)
    if compact:
        t_best = torch.full((B * N * T, Pt), torch.inf, device=dev).index_copy_(0, touched, t_best)
        box_best = torch.zeros(B * N * T, Pt, dtype=torch.long, device=dev).index_copy_(0, touched, box_best)
    return t_best.view(B, N, P), box_best.view(B, N, P)
