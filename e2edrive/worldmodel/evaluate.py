"""Fidelity of a world model against held-out recordings, by horizon and camera.

For each window of a held-out dataset, the model reads K real frames and then unrolls open loop
with the recorded actions (and the recorded odometry, speed and boxes as its inputs: the
agent_conditioned setting, the images are all its own). At each horizon (0.5, 1, 2 s = 5, 10, 20
steps) the decoded RGB, depth and semantics are compared with the recording, beside two
references:
    repeat_last  the last context frame, repeated (the baseline a world model must beat)
    ceiling      the tokenizer's reconstruction of the true frame (what no dream can beat)

Scores are means over windows of the per-window, per-camera PSNR (dB, capped at PSNR_CAP),
depth abs-rel and mIoU.
Horizons longer than the held-out episodes allow (beyond episode length - K) are left out.
"""

from __future__ import annotations

import torch

from e2edrive.core.constants import DT, NUM_SEMANTIC_CLASSES
from e2edrive.worldmodel.config import check_rig
from e2edrive.worldmodel.data import Window, WindowDataset
from e2edrive.worldmodel.metrics import depth_abs_rel, miou, psnr
from e2edrive.worldmodel.model import WorldModel
from e2edrive.worldmodel.tokenizer import Decoded

HORIZONS_S = (0.5, 1.0, 2.0)
SOURCES = ("dream", "repeat_last", "ceiling")
PSNR_CAP = 100.0  # dB: identical images have infinite PSNR, which neither a mean nor JSON can hold


def _scores(rgb, depth, sem, w: Window, t: int) -> dict[str, torch.Tensor]:
    """(N,) per camera of one window (B = 1): rgb (N, 3, H, W) uint8, depth (N, H, W), sem (N, H, W)."""
    return {
        "psnr": psnr(rgb, w.images[0, t], keep=(0,)).clamp(max=PSNR_CAP),
        "depth_abs_rel": depth_abs_rel(depth, w.depth[0, t], keep=(0,)),
        "miou": miou(sem, w.semantics[0, t], NUM_SEMANTIC_CLASSES, keep=(0,)),
    }


def _decoded(model: WorldModel, latent: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    d: Decoded = model.tokenizer.decode(latent)  # latent (N, C, h, w)
    return d.rgb_uint8(), d.depth(), d.semantics.argmax(1)


@torch.no_grad()
def evaluate_fidelity(model: WorldModel, data: str, max_windows: int = 64, stride: int = 10) -> dict:
    """{"horizons_s": [...], "cameras": [...], "windows": n, "scores": {source: {horizon: {metric:
    [per camera]}}}} over at most `max_windows` windows (every `stride` frames)."""
    cfg = model.cfg
    K = cfg.context
    probe = WindowDataset(data, K + 1, stride=stride)
    check_rig(cfg, probe.rig, f"dataset {data}")
    longest = max(probe.episode_frames.values())
    steps = [round(h / DT) for h in HORIZONS_S if K + round(h / DT) <= longest]
    if not steps:
        raise ValueError(f"{data}: episodes of {longest} frames leave no horizon after a context of {K}")
    windows = WindowDataset(data, K + max(steps), stride=stride)
    device = next(model.parameters()).device
    sums: dict = {s: {h: {} for h in steps} for s in SOURCES}
    n = min(len(windows), max_windows)
    for i in range(n):
        w = windows[i * len(windows) // n].to(device)
        z = model.encode(w.images)  # (1, T, N, C, h, w)
        context = z[:, :K]
        last = w.images[0, K - 1], w.depth[0, K - 1], w.semantics[0, K - 1]
        for u in range(max(steps)):
            t = K - 1 + u
            out = model.predict_from(context, w, t)
            context = torch.cat([context[:, 1:], out.latent[:, None]], 1)
            h = u + 1
            if h not in steps:
                continue
            scored = {
                "dream": _scores(*_decoded(model, out.latent[0]), w, t + 1),
                "repeat_last": _scores(*last, w, t + 1),
                "ceiling": _scores(*_decoded(model, z[0, t + 1]), w, t + 1),
            }
            for source, metrics in scored.items():
                for k, v in metrics.items():
                    sums[source][h][k] = sums[source][h].get(k, 0) + v.cpu().double()
    scores = {
        s: {f"{h * DT:g}": {k: (v / n).tolist() for k, v in sums[s][h].items()} for h in steps}
        for s in SOURCES
    }
    return {
        "horizons_s": [round(h * DT, 3) for h in steps],
        "cameras": list(cfg.rig["names"]),
        "windows": n,
        "scores": scores,
    }


def format_fidelity(result: dict) -> str:
    """A table: one row per (horizon, camera), PSNR / depth abs-rel / mIoU of each source."""
    head = f"{'horizon':>7} {'camera':<12}" + "".join(f" {s + ' psnr/absrel/miou':>32}" for s in SOURCES)
    lines = [f"{result['windows']} windows; psnr dB, depth abs-rel, semantic mIoU", head]
    for h in (f"{x:g}" for x in result["horizons_s"]):
        for c, cam in enumerate([*result["cameras"], "mean"]):
            cells = []
            for s in SOURCES:
                m = result["scores"][s][h]
                vals = [
                    sum(m[k]) / len(m[k]) if cam == "mean" else m[k][c]
                    for k in ("psnr", "depth_abs_rel", "miou")
                ]
                cells.append(f" {vals[0]:>12.2f} {vals[1]:>9.3f} {vals[2]:>9.3f}")
            lines.append(f"{h + ' s':>7} {cam:<12}" + "".join(cells))
    return "\n".join(lines)
