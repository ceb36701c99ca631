"""Image fidelity of a world model's frames: PSNR of RGB, depth abs-rel, semantic mIoU.

Each function reduces over every dimension but the ones named in `keep` (e.g. keep the camera
axis to report per camera), so the same function gives a scalar or a per-camera vector.

    psnr           10 log10(255^2 / MSE) of uint8 (or 0..255 float) images, dB; identical -> inf
    depth_abs_rel  mean |pred - gt| / gt over pixels with gt > 0 (the KITTI depth "abs rel")
    miou           mean over classes of |pred = c and gt = c| / |pred = c or gt = c|, only classes
                   present in pred or gt (a class absent from both is not a success nor a failure)
"""

from __future__ import annotations

import math

import torch


def _reduce_dims(x: torch.Tensor, keep: tuple[int, ...]) -> list[int]:
    keep = tuple(k % x.dim() for k in keep)
    return [d for d in range(x.dim()) if d not in keep]


def psnr(pred: torch.Tensor, target: torch.Tensor, keep: tuple[int, ...] = ()) -> torch.Tensor:
    """PSNR in dB of images in 0..255 (uint8 or float), averaging the squared error over every
    dimension not in `keep` first (the usual definition: PSNR of the mean MSE, not mean PSNR)."""
    if pred.shape != target.shape:
        raise ValueError(f"psnr: shapes differ, {tuple(pred.shape)} vs {tuple(target.shape)}")
    err = (pred.double() - target.double()).pow(2)
    mse = err.mean(_reduce_dims(err, keep)) if _reduce_dims(err, keep) else err
    return (10 * torch.log10(255.0**2 / mse)).float()  # mse 0 -> inf


def depth_abs_rel(pred: torch.Tensor, gt: torch.Tensor, keep: tuple[int, ...] = ()) -> torch.Tensor:
    """Mean |pred - gt| / gt over pixels with gt > 0; NaN where no pixel counts."""
    if pred.shape != gt.shape:
        raise ValueError(f"depth_abs_rel: shapes differ, {tuple(pred.shape)} vs {tuple(gt.shape)}")
    valid = gt > 0
    rel = torch.where(valid, (pred - gt).abs() / gt.clamp(min=1e-6), torch.zeros_like(gt))
    dims = _reduce_dims(rel, keep)
    return rel.sum(dims) / valid.sum(dims).to(rel.dtype)


def miou(pred: torch.Tensor, gt: torch.Tensor, num_classes: int, keep: tuple[int, ...] = ()) -> torch.Tensor:
    """Mean IoU over the classes present in pred or gt; labels are integer class maps of the same
    shape. NaN where no class is present (empty input)."""
    if pred.shape != gt.shape:
        raise ValueError(f"miou: shapes differ, {tuple(pred.shape)} vs {tuple(gt.shape)}")
    classes = torch.arange(num_classes, device=gt.device)
    p = pred.long().unsqueeze(-1) == classes  # (..., num_classes)
    g = gt.long().unsqueeze(-1) == classes
    dims = _reduce_dims(pred, keep)  # the class axis is last, not reduced
    inter = (p & g).sum(dims).double()
    union = (p | g).sum(dims).double()
    present = union > 0
    iou = torch.where(present, inter / union.clamp(min=1), torch.zeros_like(union))
    n = present.sum(-1)
    return torch.where(n > 0, iou.sum(-1) / n.clamp(min=1), torch.full_like(iou[..., 0], math.nan)).float()
