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

import torch

from e2edrive.sim.render.boxes import SolidBoxes, box_corners
from e2edrive.sim.render.camera_rays import CameraRays

NEAR = 0.05  # m, near plane: boxes closer than this to a camera are not drawn
FAR = 1e30  # stand-in depth of a miss inside the keyed reduction (finite, so arithmetic masks work)
BOX_BITS = 20  # box index bits of the reduction key (up to ~1M boxes)
FAR_KEY = int(torch.tensor(FAR, dtype=torch.float32).view(torch.int32)) << BOX_BITS


def cull_boxes(rays: CameraRays, boxes: SolidBoxes, width: int, height: int, max_per_tile: int
               ) -> tuple[torch.Tensor, torch.Tensor]:
    """Candidate boxes per tile, nearest first.

    -> idx (B, N_cam, T, Kt) long box indices, ok (B, N_cam, T, Kt) bool (False: no candidate).
    """
    corners = box_corners(boxes)  # (B, K, 8, 3)
    R, tr = rays.T_cam_from_ego[:, :3, :3], rays.T_cam_from_ego[:, :3, 3]  # (N, 3, 3), (N, 3)
    p = torch.einsum("nij,bkcj->bnkci", R, corners) + tr[None, :, None, None, :]  # (B, N, K, 8, 3)
    z = p[..., 2]
    fx, fy = rays.K[:, 0, 0].view(1, -1, 1, 1), rays.K[:, 1, 1].view(1, -1, 1, 1)
    cx, cy = rays.K[:, 0, 2].view(1, -1, 1, 1), rays.K[:, 1, 2].view(1, -1, 1, 1)
    zc = z.clamp(min=NEAR)
    u, v = fx * p[..., 0] / zc + cx, fy * p[..., 1] / zc + cy  # (B, N, K, 8)
    straddles = (z < NEAR).any(-1)  # part behind the camera: its projection is unbounded
    big = torch.tensor(1e9, device=z.device)
    u0 = torch.where(straddles, -big, u.amin(-1))
    u1 = torch.where(straddles, big, u.amax(-1))
    v0 = torch.where(straddles, -big, v.amin(-1))
    v1 = torch.where(straddles, big, v.amax(-1))
    visible = boxes.valid[:, None] & (z.amax(-1) > NEAR) & (u1 >= 0) & (u0 <= width) & (v1 >= 0) & (v0 <= height)
    key = z.amin(-1).clamp(min=0.0)  # (B, N, K) nearest corner depth orders candidates

    rect = rays.tile_rect  # (T, 4)
    overlap = ((u1[..., None] >= rect[:, 0]) & (u0[..., None] <= rect[:, 2])
               & (v1[..., None] >= rect[:, 1]) & (v0[..., None] <= rect[:, 3]) & visible[..., None])  # (B,N,K,T)
    inf = torch.tensor(float("inf"), device=z.device)
    tile_key = torch.where(overlap, key[..., None], inf).transpose(-1, -2)  # (B, N, T, K)
    kt = min(max_per_tile, tile_key.shape[-1])
    cand_key, idx = torch.topk(tile_key, kt, dim=-1, largest=False, sorted=False)
    return idx, torch.isfinite(cand_key)


def cast_boxes(rays: CameraRays, boxes: SolidBoxes, width: int, height: int, max_per_tile: int = 16,
               compact: bool = True) -> tuple[torch.Tensor, torch.Tensor]:
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
        return (torch.full((B, N, P), float("inf"), device=dev), torch.zeros(B, N, P, dtype=torch.long, device=dev))
    idx, ok = cull_boxes(rays, boxes, width, height, max_per_tile)  # (B, N, T, Kt)
    T, Pt, Kt, K = rays.num_tiles, rays.tile_pixels, idx.shape[-1], boxes.num_boxes

    pair = ok.reshape(-1).nonzero().squeeze(1) if compact else torch.arange(ok.numel(), device=dev)  # (Q,)
    tile = pair // Kt  # index into (B, N, T)
    cam_tile = tile % (N * T)  # index into (N, T)
    b = tile // (N * T)
    box = idx.reshape(-1)[pair]  # (Q,)
    flat_box = b * K + box
    center = boxes.center.reshape(B * K, 2)[flat_box]  # (Q, 2)
    yaw = boxes.yaw.reshape(-1)[flat_box]
    half = boxes.half.reshape(B * K, 2)[flat_box]
    z0, z1 = boxes.z0.reshape(-1)[flat_box], boxes.z1.reshape(-1)[flat_box]
    c, s = torch.cos(yaw), torch.sin(yaw)

    # Ray origin in each candidate's box frame (Q,); ray directions of the pair's tile (Q, Pt).
    o = rays.origin.repeat_interleave(T, 0)[cam_tile]  # (Q, 3)
    rel = o[:, :2] - center
    olx = c * rel[:, 0] + s * rel[:, 1]
    oly = -s * rel[:, 0] + c * rel[:, 1]
    d = rays.dirs.view(N * T, Pt, 3)
    dx, dy = d[..., 0][cam_tile], d[..., 1][cam_tile]  # (Q, Pt)
    inv_dz = torch.reciprocal(d[..., 2])[cam_tile]

    def slab(lo: torch.Tensor, hi: torch.Tensor, inv: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        t1, t2 = lo[:, None] * inv, hi[:, None] * inv
        return torch.minimum(t1, t2), torch.maximum(t1, t2)

    tn, tf = slab(-half[:, 0] - olx, half[:, 0] - olx, torch.reciprocal(c[:, None] * dx + s[:, None] * dy))
    tny, tfy = slab(-half[:, 1] - oly, half[:, 1] - oly, torch.reciprocal(c[:, None] * dy - s[:, None] * dx))
    tn, tf = torch.maximum(tn, tny), torch.minimum(tf, tfy)
    tny, tfy = slab(z0 - o[:, 2], z1 - o[:, 2], inv_dz)
    tn, tf = torch.maximum(tn, tny), torch.minimum(tf, tfy)
    # One int64 key per pair and pixel: the depth's float bits (monotonic for positive floats)
    # above the box index, so a single scatter-min finds the nearest hit and its box at once
    # (ties: the lower box index). Misses get depth FAR; masks are arithmetic, not torch.where,
    # which is several times slower on CPU.
    miss = (tn > tf) | (tn <= NEAR)
    if not compact:
        miss |= ~ok.reshape(-1)[pair, None]
    t_key = tn.clamp(min=0.0) + miss * FAR  # (Q, Pt) all positive
    key = (t_key.view(torch.int32).long() << BOX_BITS) | box[:, None]
    rows = tile[:, None].expand(-1, Pt)
    best = torch.full((B * N * T, Pt), FAR_KEY, dtype=torch.long, device=dev)
    best = best.scatter_reduce(0, rows, key, "amin")
    t_best = (best >> BOX_BITS).to(torch.int32).view(torch.float32)
    t_best = torch.where(t_best < FAR / 2, t_best, torch.inf)
    return t_best.view(B, N, P), (best & ((1 << BOX_BITS) - 1)).view(B, N, P)
