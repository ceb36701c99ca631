"""Losses of the perception heads: focal terms for sparse binary maps, masked L1 for regression."""

from __future__ import annotations

import torch
import torch.nn.functional as F


def sigmoid_focal(
    logits: torch.Tensor, target: torch.Tensor, gamma: float = 2.0, alpha: float = 0.25
) -> torch.Tensor:
    """Mean focal loss (Lin et al. 2017) of binary targets: most voxels are empty, and plain BCE
    would spend the model on them."""
    p = torch.sigmoid(logits)
    ce = F.binary_cross_entropy_with_logits(logits, target, reduction="none")
    p_t = p * target + (1 - p) * (1 - target)
    a_t = alpha * target + (1 - alpha) * (1 - target)
    return (a_t * (1 - p_t) ** gamma * ce).mean() * 4  # x4: alpha 0.25 would otherwise shrink it


def centernet_focal(
    logits: torch.Tensor, heatmap: torch.Tensor, alpha: float = 2.0, beta: float = 4.0
) -> torch.Tensor:
    """CenterNet's penalty-reduced focal loss on Gaussian heatmaps, normalised by the number of centres."""
    p = torch.sigmoid(logits).clamp(1e-4, 1 - 1e-4)
    pos = (heatmap >= 1 - 1e-6).to(logits.dtype)
    log_p = F.logsigmoid(logits)
    log_1mp = F.logsigmoid(-logits)
    pos_loss = -((1 - p) ** alpha) * log_p * pos
    neg_loss = -((1 - heatmap) ** beta) * p**alpha * log_1mp * (1 - pos)
    return (pos_loss.sum() + neg_loss.sum()) / pos.sum().clamp(min=1)


def masked_l1(pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean |pred - target| over masked cells. pred/target (B, C, ...), mask (B, ...) bool;
    zero (with a gradient path) when the mask is empty."""
    m = mask.unsqueeze(1).to(pred.dtype)
    return ((pred - target).abs() * m).sum() / (m.sum() * pred.shape[1]).clamp(min=1)
