"""Temporal fusion: a convolutional GRU over the BEV, its memory warped by ego motion every step.

The state is a BEV feature map in the previous ego frame. Before it meets the new frame it is
resampled into the current ego frame with the odometry obs.odom = (dx, dy, dyaw), the current
pose in the previous frame: a cell centred at p (current frame) sat at R(dyaw) p + (dx, dy) in the
previous one. Cells that come from outside the previous grid start from zero. `first` resets the
state per batch element (a new episode). `forward` over a clip and `act` step by step run the
same `step`, so streaming and batched inference agree.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from e2edrive.core.constants import BevGrid
from e2edrive.model.bev import bev_cell_centres


def warp_bev(
    prev: torch.Tensor, odom: torch.Tensor, grid: BevGrid, centres: torch.Tensor | None = None
) -> torch.Tensor:
    """BEV features prev (B, C, nx, ny) in the previous ego frame -> current ego frame.

    odom (B, 3): (dx, dy, dyaw) of the current ego pose in the previous ego frame.
    centres: bev_cell_centres(grid) on prev's device, if the caller keeps them (saves a copy per step).
    """
    B = prev.shape[0]
    p = bev_cell_centres(grid).to(prev) if centres is None else centres  # (nx, ny, 2) current frame
    c, s = torch.cos(odom[:, 2]).view(B, 1, 1), torch.sin(odom[:, 2]).view(B, 1, 1)
    x_prev = c * p[..., 0] - s * p[..., 1] + odom[:, 0].view(B, 1, 1)  # (B, nx, ny)
    y_prev = s * p[..., 0] + c * p[..., 1] + odom[:, 1].view(B, 1, 1)
    # grid_sample: last grid coordinate indexes the width (our y axis), the first the height (x).
    gx = (y_prev - grid.y_min) / (grid.y_max - grid.y_min) * 2 - 1
    gy = (x_prev - grid.x_min) / (grid.x_max - grid.x_min) * 2 - 1
    return F.grid_sample(
        prev, torch.stack([gx, gy], -1), mode="bilinear", padding_mode="zeros", align_corners=False
    )


class ConvGRU(nn.Module):
    """h' = (1 - z) h + z tanh(W [x, r h]), gates from 1x1 convs after a depthwise 3x3.

    The warp already aligns memory and frame, so the gates need only a small neighbourhood; the
    separable form costs ~1/8 of full 3x3 gates, which matters on a laptop CPU.
    """

    def __init__(self, channels: int):
        super().__init__()
        self.mix = nn.Conv2d(2 * channels, 2 * channels, 3, padding=1, groups=2 * channels)
        self.gates = nn.Conv2d(2 * channels, 2 * channels, 1)
        self.cand_mix = nn.Conv2d(2 * channels, 2 * channels, 3, padding=1, groups=2 * channels)
        self.cand = nn.Conv2d(2 * channels, channels, 1)

    def forward(self, x: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
        z, r = torch.sigmoid(self.gates(self.mix(torch.cat([x, h], 1)))).chunk(2, 1)
        n = torch.tanh(self.cand(self.cand_mix(torch.cat([x, r * h], 1))))
        return (1 - z) * h + z * n


class TemporalFusion(nn.Module):
    """Streaming fusion of BEV frames: step(bev (B, C, X, Y), state, odom, first) -> (fused, state)."""

    def __init__(self, channels: int, grid: BevGrid):
        super().__init__()
        self.grid = grid
        self.register_buffer("centres", bev_cell_centres(grid), persistent=False)  # (nx, ny, 2)
        self.gru = ConvGRU(channels)
        self.out = nn.Conv2d(2 * channels, channels, 1)

    def init_state(self, batch: int, channels: int, device, dtype=torch.float32) -> torch.Tensor:
        return torch.zeros(batch, channels, self.grid.nx, self.grid.ny, device=device, dtype=dtype)

    def step(
        self, bev: torch.Tensor, h: torch.Tensor, odom: torch.Tensor, first: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        keep = (~first.bool()).to(h.dtype).view(-1, 1, 1, 1)
        h = warp_bev(h * keep, odom, self.grid, self.centres)
        h = self.gru(bev, h)  # (B, C, X, Y)
        # The current frame stays visible next to the memory: heads need both "now" and "history".
        return self.out(torch.cat([bev, h], 1)), h
