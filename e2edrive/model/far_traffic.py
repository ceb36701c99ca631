"""The oncoming lane beyond the BEV: how far ahead the nearest oncoming vehicle is.

Passing geese or debris through the oncoming lane needs that lane free for as long as the pass
takes: from standstill about 6 s, which an oncoming car at 13 m/s covers in 80 m. The BEV sees 48 m
ahead. In the long recipe's data, half of the expert's standstill frames behind geese with no
oncoming car inside the BEV are "wait" (a car 50-100 m out) and half are "go" (BENCHMARKS.md), so a
planner that reads the BEV alone cannot tell them apart and learns to wait forever.

The forward camera sees that far: a car at 80 m is about 5 x 4 pixels of front_main at 128 x 64,
near the horizon, left of centre. This head reads the planner's position-specific view of that
camera's feature map (DrivingModel.camera_read, (B, C)) and predicts, for each threshold d of
FAR_GAPS, P(oncoming gap < d): an ordinal read of the distance, trained on the expert's own
measurement (Labels.oncoming_gap, recorded in the dataset's index). Its probabilities condition
the planner's goal, as the light head's do, so the driving loss also reaches it.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

FAR_GAPS = (25.0, 50.0, 75.0, 100.0, 125.0)  # m: the thresholds of the ordinal read
FAR_FEATURES = len(FAR_GAPS)


class FarTrafficHead(nn.Module):
    """camera read (B, C) -> (B, FAR_FEATURES) logits of P(oncoming gap < d) per d in FAR_GAPS."""

    def __init__(self, channels: int):
        super().__init__()
        self.net = nn.Sequential(
            nn.Linear(channels, channels), nn.ReLU(inplace=True), nn.Linear(channels, FAR_FEATURES)
        )

    def forward(self, camera_read: torch.Tensor) -> torch.Tensor:
        return self.net(camera_read)


def far_targets(gap: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """gap (B,) m (inf: no oncoming vehicle; NaN: unknown) -> targets (B, K) in {0, 1} (gap < d),
    known (B,) bool."""
    d = torch.tensor(FAR_GAPS, device=gap.device, dtype=torch.float32)
    known = ~torch.isnan(gap)
    g = torch.where(known, gap.float(), torch.full_like(gap, float("inf"), dtype=torch.float32))
    return (g[:, None] < d).float(), known


def far_traffic_loss(logits: torch.Tensor, gap: torch.Tensor) -> torch.Tensor:
    """Binary cross-entropy of the ordinal read, mean over thresholds and the samples whose gap is
    known; 0 (with a gradient path) when none is."""
    target, known = far_targets(gap.to(logits.device))
    per = F.binary_cross_entropy_with_logits(logits.float(), target, reduction="none").mean(-1)  # (B,)
    w = known.float()
    return (per * w).sum() / w.sum().clamp(min=1.0)
