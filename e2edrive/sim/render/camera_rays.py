"""Per-camera ray tables, computed once per rig: the rig is fixed, so every pixel's ray in the
ego frame, its ground hit and its tile never change between frames.

Rays are scaled so that their camera-frame z is 1: a ray point o + t d then lies at depth t
along the optical axis, so the ray parameter *is* the depth label, with no division.

Pixels are stored tile by tile (tile-major order (tile row, tile column, row, column), `TH x TW`
pixels per tile) so that object culling can pick candidate boxes per tile; a permutation of
those four axes gives back the row-major image.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from e2edrive.core.geometry import se3_inverse
from e2edrive.core.rig import CameraRig


def _largest_divisor_at_most(n: int, cap: int) -> int:
    return max(d for d in range(1, min(n, cap) + 1) if n % d == 0)


@dataclass
class CameraRays:
    """Ray tables of a rig, tile-major.

    origin:      (N, 3) camera centres, ego frame
    dirs:        (N, P, 3) ray directions, ego frame, camera-frame z = 1 (t = depth)
    ray_norm:    (N, P) |dirs|, metres travelled per metre of depth (fog uses distance)
    ground_t:    (N, P) depth of the ray's hit of the ground plane z = 0 (inf if it never hits)
    ground_xy:   (N, P, 2) ego-frame ground hit (0 where it never hits)
    tile_rect:   (T, 4) (u0, v0, u1, v1) pixel-edge bounds of each tile
    T_cam_from_ego: (N, 4, 4)
    K:           (N, 3, 3)
    """

    origin: torch.Tensor
    dirs: torch.Tensor
    ray_norm: torch.Tensor
    ground_t: torch.Tensor
    ground_xy: torch.Tensor
    tile_rect: torch.Tensor
    T_cam_from_ego: torch.Tensor
    K: torch.Tensor
    tile_h: int
    tile_w: int

    @property
    def num_tiles(self) -> int:
        return self.tile_rect.shape[0]

    @property
    def tile_pixels(self) -> int:
        return self.tile_h * self.tile_w


def make_camera_rays(
    rig: CameraRig, device: torch.device | str, tile: tuple[int, int] = (8, 16)
) -> CameraRays:
    """Build the ray tables of `rig` on `device`; tiles of at most `tile` (h, w) pixels."""
    H, W = rig.height, rig.width
    th, tw = _largest_divisor_at_most(H, tile[0]), _largest_divisor_at_most(W, tile[1])
    nty, ntx = H // th, W // tw
    # Tile-major pixel coordinates: tile (ty, tx), then row, then column inside the tile.
    ty, tx, r, c = torch.meshgrid(
        torch.arange(nty), torch.arange(ntx), torch.arange(th), torch.arange(tw), indexing="ij"
    )
    rows, cols = (ty * th + r).reshape(-1), (tx * tw + c).reshape(-1)  # (P,)
    u, v = cols.double() + 0.5, rows.double() + 0.5  # pixel centres at +0.5 (core.rig)

    K = rig.K.double().cpu()  # (N, 3, 3)
    T = rig.T_ego_from_cam.double().cpu()  # (N, 4, 4)
    pix = torch.stack([u, v, torch.ones_like(u)], -1)  # (P, 3)
    d_cam = pix @ torch.linalg.inv(K).transpose(-1, -2)  # (N, P, 3), z = 1
    dirs = d_cam @ T[:, :3, :3].transpose(-1, -2)  # (N, P, 3) ego frame
    origin = T[:, :3, 3]  # (N, 3)

    down = dirs[..., 2] < -1e-9
    ground_t = torch.where(
        down, -origin[:, None, 2] / dirs[..., 2].clamp(max=-1e-9), torch.full_like(dirs[..., 2], float("inf"))
    )
    ground_xy = (
        origin[:, None, :2]
        + torch.where(down, ground_t, torch.zeros_like(ground_t))[..., None] * dirs[..., :2]
    )

    tiles_v0 = (torch.arange(nty) * th).repeat_interleave(ntx)
    tiles_u0 = (torch.arange(ntx) * tw).repeat(nty)
    tile_rect = torch.stack([tiles_u0, tiles_v0, tiles_u0 + tw, tiles_v0 + th], -1).double()

    f32 = dict(device=device, dtype=torch.float32)
    return CameraRays(
        origin=origin.to(**f32),
        dirs=dirs.to(**f32),
        ray_norm=dirs.norm(dim=-1).to(**f32),
        ground_t=ground_t.to(**f32),
        ground_xy=ground_xy.to(**f32),
        tile_rect=tile_rect.to(**f32),
        T_cam_from_ego=se3_inverse(T).to(**f32),
        K=K.to(**f32),
        tile_h=th,
        tile_w=tw,
    )
