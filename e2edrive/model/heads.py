"""HydraNet perception heads on the shared BEV and camera features.

BEV heads (one shared 3x3 trunk, a 1x1 conv per task) on the fused BEV (B, C, X, Y):
occupancy (nz voxel logits per cell), flow (vx, vy m/s), object-centre heatmaps per class,
box regression, object velocity, lanes (lane lines, road edges) and drivable space.
Camera heads: per-camera depth from the encoder features, and the traffic-light state from the
cameras (lamps hang above the BEV's 4 m ceiling, so the light looks at images, not at the BEV).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

from e2edrive.core.constants import NUM_OBJECT_CLASSES, LightState

NUM_LIGHT_STATES = len(LightState)
BOX_CHANNELS = 8  # dx, dy (m from the cell centre), z, log l, log w, log h, sin yaw, cos yaw
DEPTH_INIT = 20.0  # m, a typical depth: the depth head starts there instead of at exp(0) = 1 m


@dataclass
class BevPredictions:
    """Raw BEV head outputs (shapes in DrivingOutput)."""

    occupancy: torch.Tensor
    flow: torch.Tensor
    obj_heatmap: torch.Tensor
    obj_box: torch.Tensor
    obj_velocity: torch.Tensor
    lanes: torch.Tensor
    drivable: torch.Tensor


class BevHeads(nn.Module):
    def __init__(self, channels: int, nz: int):
        super().__init__()
        self.trunk = nn.Sequential(
            nn.Conv2d(channels, channels, 3, padding=1), nn.GroupNorm(8, channels), nn.ReLU(inplace=True)
        )
        self.occupancy = nn.Conv2d(channels, nz, 1)
        self.flow = nn.Conv2d(channels, 2, 1)
        self.obj_heatmap = nn.Conv2d(channels, NUM_OBJECT_CLASSES, 1)
        self.obj_box = nn.Conv2d(channels, BOX_CHANNELS, 1)
        self.obj_velocity = nn.Conv2d(channels, 2, 1)
        self.lanes = nn.Conv2d(channels, 2, 1)
        self.drivable = nn.Conv2d(channels, 1, 1)
        # Rare positives: start at p = 0.1 (CenterNet's prior) so the first steps are not spent
        # unlearning a 50% guess on every empty cell.
        prior = -math.log((1 - 0.1) / 0.1)
        for head in (self.occupancy, self.obj_heatmap, self.lanes):
            nn.init.constant_(head.bias, prior)

    def forward(self, bev: torch.Tensor) -> BevPredictions:
        x = self.trunk(bev)
        return BevPredictions(
            occupancy=self.occupancy(x),  # (B, nz, X, Y)
            flow=self.flow(x),  # (B, 2, X, Y)
            obj_heatmap=self.obj_heatmap(x),  # (B, K, X, Y)
            obj_box=self.obj_box(x),  # (B, 8, X, Y)
            obj_velocity=self.obj_velocity(x),  # (B, 2, X, Y)
            lanes=self.lanes(x),  # (B, 2, X, Y)
            drivable=self.drivable(x).squeeze(1),  # (B, X, Y)
        )


class DepthHead(nn.Module):
    """Per-camera metric depth at the encoder's resolution: exp of a log-depth, clamped to [5 cm, 500 m]."""

    def __init__(self, channels: int):
        super().__init__()
        self.net = nn.Sequential(
            nn.Conv2d(channels, channels, 3, padding=1), nn.ReLU(inplace=True), nn.Conv2d(channels, 1, 1)
        )
        nn.init.constant_(self.net[-1].bias, math.log(DEPTH_INIT))

    def forward(self, feats: torch.Tensor) -> torch.Tensor:
        """feats (B, N, C, h, w) -> depth (B, N, h, w) metres."""
        B, N = feats.shape[:2]
        log_d = self.net(feats.flatten(0, 1)).view(B, N, *feats.shape[-2:])
        return torch.exp(log_d.clamp(math.log(0.05), math.log(500.0)))


class TrafficLightHead(nn.Module):
    """Light state from every camera's max-pooled features (a lamp is a few pixels: max, not mean)
    plus the BEV mean (where the ego is relative to an intersection)."""

    def __init__(self, channels: int, num_cameras: int):
        super().__init__()
        self.net = nn.Sequential(
            nn.Linear((num_cameras + 1) * channels, 2 * channels),
            nn.ReLU(inplace=True),
            nn.Linear(2 * channels, NUM_LIGHT_STATES),
        )

    def forward(self, feats: torch.Tensor, camera_valid: torch.Tensor, bev: torch.Tensor) -> torch.Tensor:
        """feats (B, N, C, h, w), camera_valid (B, N), bev (B, C, X, Y) -> logits (B, 4)."""
        cams = feats.amax((-2, -1)) * camera_valid.unsqueeze(-1).to(feats.dtype)  # (B, N, C)
        return self.net(torch.cat([cams.flatten(1), bev.mean((-2, -1))], 1))
