"""Camera features -> bird's-eye view: learned BEV queries with geometry-aware spatial cross-attention.

BEVFormer-style (Li et al. 2022), in plain torch: every BEV cell is a pillar with reference points
at a few heights; each point is projected into every camera with the rig's K and T_ego_from_cam,
and the cell's query samples the camera features around those projections (learned offsets and
attention weights, `F.grid_sample`). Points behind a camera or outside its image are masked; a
cell's result is the mean over the cameras that see it. Cameras with camera_valid=False (a
dropped frame, or training-time camera dropout) are masked out the same way.

The reference points depend only on the rig and the grid, so they are computed once and kept as
buffers: the per-step compute has no data-dependent control flow (export-friendly).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from e2edrive.core.constants import BevGrid
from e2edrive.core.rig import CameraRig, project_points


def bev_cell_centres(grid: BevGrid) -> torch.Tensor:
    """(nx, ny, 2) ego-frame xy of the cell centres, axis 0 forward (x), axis 1 left (y)."""
    x = grid.x_min + (torch.arange(grid.nx, dtype=torch.float32) + 0.5) * grid.res
    y = grid.y_min + (torch.arange(grid.ny, dtype=torch.float32) + 0.5) * grid.res
    return torch.stack(torch.meshgrid(x, y, indexing="ij"), -1)


def reference_points(
    rig: CameraRig, grid: BevGrid, heights: tuple[float, ...]
) -> tuple[torch.Tensor, torch.Tensor]:
    """Pillar points projected into each camera.

    Returns uv (N, Q, Z, 2) in pixels (u right, v down, pixel centres at +0.5) and valid (N, Q, Z)
    bool: in front of the camera and inside the image. Q = nx * ny cells in row-major (x, y) order.
    """
    xy = bev_cell_centres(grid).reshape(-1, 1, 2)  # (Q, 1, 2)
    z = torch.tensor(heights, dtype=torch.float32).view(1, -1, 1)  # (1, Z, 1)
    pts = torch.cat([xy.expand(-1, z.shape[1], -1), z.expand(xy.shape[0], -1, -1)], -1)  # (Q, Z, 3)
    Q, Z = pts.shape[:2]
    uv, depth = project_points(rig.to("cpu"), pts.reshape(Q * Z, 3))  # (N, Q*Z, 2), (N, Q*Z)
    inside = (uv[..., 0] >= 0) & (uv[..., 0] <= rig.width) & (uv[..., 1] >= 0) & (uv[..., 1] <= rig.height)
    valid = (depth > 0.1) & inside
    uv = torch.where(valid.unsqueeze(-1), uv, torch.zeros_like(uv))  # behind-camera uv is meaningless
    return uv.reshape(-1, Q, Z, 2), valid.reshape(-1, Q, Z)


class CameraPairs(nn.Module):
    """The (camera, BEV cell) pairs where a cell's pillar is seen by a camera, fixed by the rig.

    With the default rig a cell is seen by ~2 of the 8 cameras, so attending only over these pairs
    (BEVFormer's "rebatching", here as one flat list) does ~4x less work than every camera for
    every cell. Buffers: cam (P,), query (P,) long; px, py (P, Z) reference point in feature-map
    pixels; valid (P, Z) float.
    """

    def __init__(self, rig: CameraRig, grid: BevGrid, heights: tuple[float, ...], feat_hw: tuple[int, int]):
        super().__init__()
        uv, valid = reference_points(rig, grid, heights)  # (N, Q, Z, 2), (N, Q, Z)
        cam, query = valid.any(-1).nonzero(as_tuple=True)  # (P,), (P,)
        h, w = feat_hw
        scale = torch.tensor([w / rig.width, h / rig.height])
        pix = uv[cam, query] * scale - 0.5  # (P, Z, 2) feature-pixel index coordinates
        self.register_buffer("cam", cam, persistent=False)
        self.register_buffer("query", query, persistent=False)
        self.register_buffer("px", pix[..., 0].contiguous(), persistent=False)
        self.register_buffer("py", pix[..., 1].contiguous(), persistent=False)
        self.register_buffer("valid", valid[cam, query].float(), persistent=False)


class SpatialCrossAttention(nn.Module):
    """Deformable attention of BEV queries (B, Q, C) to multi-camera features (B, N, C, h, w).

    All cameras are laid side by side in one image (a zero column between neighbours) so that one
    grid_sample serves every (camera, cell) pair; samples are clamped to their own camera's slot.
    """

    def __init__(self, channels: int, heads: int, n_heights: int, n_points: int):
        super().__init__()
        self.heads, self.Z, self.P = heads, n_heights, n_points
        self.value = nn.Conv2d(channels, channels, 1)
        self.offsets = nn.Linear(channels, heads * n_heights * n_points * 2)  # in feature-map pixels
        self.weights = nn.Linear(channels, heads * n_heights * n_points)
        self.out = nn.Linear(channels, channels)
        nn.init.zeros_(self.offsets.weight)
        # Start from a small ring of offsets around each reference point, as BEVFormer does.
        angle = torch.arange(heads * n_heights * n_points, dtype=torch.float32) * 2.399  # golden angle
        ring = torch.stack([angle.cos(), angle.sin()], -1) * (n_points > 1)
        with torch.no_grad():
            self.offsets.bias.copy_(ring.flatten())
        nn.init.zeros_(self.weights.weight)
        nn.init.zeros_(self.weights.bias)

    def forward(
        self, query: torch.Tensor, feats: torch.Tensor, pairs: CameraPairs, camera_valid: torch.Tensor
    ) -> torch.Tensor:
        """query (B, Q, C), feats (B, N, C, h, w), camera_valid (B, N) bool -> (B, Q, C)."""
        B, Q, C = query.shape
        N, h, w = feats.shape[1], feats.shape[-2], feats.shape[-1]
        H, Z, P = self.heads, self.Z, self.P
        v = self.value(feats.flatten(0, 1)).view(B, N, C, h, w)
        v = F.pad(v, (1, 1))  # (B, N, C, h, w+2): a zero column on each side of every camera
        v = v.permute(0, 2, 3, 1, 4).reshape(B * H, C // H, h, N * (w + 2))  # cameras side by side
        off = self.offsets(query).view(B, Q, H, Z, P, 2)[:, pairs.query]  # (B, Pr, H, Z, P, 2)
        px = (pairs.px.view(1, -1, 1, Z, 1) + off[..., 0]).clamp(-1.0, float(w))  # stay in own slot
        py = pairs.py.view(1, -1, 1, Z, 1) + off[..., 1]
        px = px + (pairs.cam * (w + 2) + 1).view(1, -1, 1, 1, 1).to(px.dtype)
        gx = (px + 0.5) / (N * (w + 2)) * 2 - 1
        gy = (py + 0.5) / h * 2 - 1
        grid = torch.stack([gx, gy], -1).permute(0, 2, 1, 3, 4, 5).reshape(B * H, -1, Z * P, 2)
        sampled = F.grid_sample(v, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
        sampled = sampled.view(B, H, C // H, -1, Z * P)  # (B, H, C/H, Pr, Z*P)
        attn = self.weights(query).view(B, Q, H, Z * P).softmax(-1)[:, pairs.query]  # (B, Pr, H, Z*P)
        # A point behind the camera or off the image contributes nothing (BEVFormer does the same).
        seen = pairs.valid.view(1, -1, 1, Z, 1).expand(-1, -1, -1, -1, P).reshape(1, -1, 1, Z * P)
        cam_ok = camera_valid[:, pairs.cam].to(attn.dtype)  # (B, Pr)
        attn = attn * seen * cam_ok.view(B, -1, 1, 1)
        contrib = torch.einsum("bhcpk,bphk->bhcp", sampled, attn)  # (B, H, C/H, Pr)
        fused = contrib.new_zeros(B, C, Q).index_add_(2, pairs.query, contrib.reshape(B, C, -1))
        count = cam_ok.new_zeros(B, Q).index_add_(1, pairs.query, cam_ok).clamp(min=1)  # cameras per cell
        return self.out((fused / count.unsqueeze(1)).transpose(1, 2))  # (B, Q, C)


class BevLayer(nn.Module):
    """Pre-norm transformer layer: spatial cross-attention then an MLP, both residual."""

    def __init__(self, channels: int, heads: int, n_heights: int, n_points: int):
        super().__init__()
        self.norm1 = nn.LayerNorm(channels)
        self.sca = SpatialCrossAttention(channels, heads, n_heights, n_points)
        self.norm2 = nn.LayerNorm(channels)
        self.mlp = nn.Sequential(
            nn.Linear(channels, 2 * channels), nn.GELU(), nn.Linear(2 * channels, channels)
        )

    def forward(self, q, pos, feats, pairs, camera_valid):
        q = q + self.sca(self.norm1(q) + pos, feats, pairs, camera_valid)
        return q + self.mlp(self.norm2(q))


class ResBlock(nn.Module):
    """3x3 conv residual block with GroupNorm (batch-independent: training and streaming agree)."""

    def __init__(self, c: int):
        super().__init__()
        self.net = nn.Sequential(
            nn.Conv2d(c, c, 3, padding=1),
            nn.GroupNorm(8, c),
            nn.ReLU(inplace=True),
            nn.Conv2d(c, c, 3, padding=1),
            nn.GroupNorm(8, c),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(x + self.net(x))


class BevTransform(nn.Module):
    """Camera features (B, N, C, h, w) + camera_valid (B, N) -> BEV (B, C, nx, ny)."""

    def __init__(
        self,
        rig: CameraRig,
        grid: BevGrid,
        heights: tuple[float, ...],
        channels: int,
        layers: int,
        heads: int,
        points: int,
        convs: int,
        feat_hw: tuple[int, int],
    ):
        super().__init__()
        self.grid = grid
        self.pairs = CameraPairs(rig, grid, heights, feat_hw)
        Q = grid.nx * grid.ny
        self.queries = nn.Parameter(torch.randn(Q, channels) * 0.02)
        self.camera_embed = nn.Parameter(torch.randn(rig.num_cameras, channels) * 0.02)
        centres = bev_cell_centres(grid).reshape(Q, 2) / torch.tensor(
            [grid.x_max - grid.x_min, grid.y_max - grid.y_min]
        )
        self.register_buffer("cell_xy", centres, persistent=False)  # (Q, 2) normalised
        self.pos = nn.Sequential(nn.Linear(2, channels), nn.ReLU(), nn.Linear(channels, channels))
        self.layers = nn.ModuleList(BevLayer(channels, heads, len(heights), points) for _ in range(layers))
        self.convs = nn.Sequential(*(ResBlock(channels) for _ in range(convs)))

    def forward(self, feats: torch.Tensor, camera_valid: torch.Tensor) -> torch.Tensor:
        B, N, C = feats.shape[:3]
        feats = feats + self.camera_embed.view(1, N, C, 1, 1)  # which camera a feature came from
        pos = self.pos(self.cell_xy).unsqueeze(0)  # (1, Q, C)
        q = self.queries.unsqueeze(0).expand(B, -1, -1)  # (B, Q, C)
        for layer in self.layers:
            q = layer(q, pos, feats, self.pairs, camera_valid)
        bev = q.transpose(1, 2).reshape(B, C, self.grid.nx, self.grid.ny)  # (B, C, X, Y)
        return self.convs(bev)
