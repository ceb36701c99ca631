"""Fidelity of a world model against held-out recordings, by horizon and camera.

For each window of a held-out dataset, the model reads K real frames and then unrolls open loop
with the recorded actions (and the recorded odometry, speed and boxes as its inputs: the
agent_conditioned setting, the images are all its own). At each horizon (0.5, 1, 2, 5 s = 5, 10,
20, 50 steps) the decoded RGB, depth and semantics are compared with the recording, the dream
and the tokenizer's ceiling each decoded two ways (worldmodel.residual), beside repeat-last:
    dream             the dreamed latents decoded in full
    dream_residual    the dreamed latents decoded residually: the last real context frame plus
                      the decoded change since it
    repeat_last       the last context frame, repeated (the baseline a world model must beat)
    ceiling           the tokenizer's reconstruction of the true frame (what no full dream can beat)
    ceiling_residual  the true frame's latent decoded residually (what no residual dream can beat)

Scores are means over windows of the per-window, per-camera PSNR (dB, capped at PSNR_CAP),
depth abs-rel and mIoU. PSNR is also split by pixel: `psnr_moving` over the pixels the true frame
labels as an agent (vehicle, pedestrian, chicken, goose: MOVING_CLASSES), `psnr_static` over the
rest; a camera with no such pixel in a window does not count in that window's moving mean.
`summary` holds the camera means and whether each dream beats repeat_last at each horizon.
Horizons longer than the held-out episodes allow (beyond episode length - K) are left out.
"""

from __future__ import annotations

import math

import torch

from e2edrive.core.constants import DT, NUM_SEMANTIC_CLASSES, Semantic
from e2edrive.worldmodel.config import check_rig
from e2edrive.worldmodel.data import Window, WindowDataset
from e2edrive.worldmodel.metrics import depth_abs_rel, miou, psnr
from e2edrive.worldmodel.model import WorldModel
from e2edrive.worldmodel.residual import Frames, full_frames, residual_frames
from e2edrive.worldmodel.tokenizer import Decoded

HORIZONS_S = (0.5, 1.0, 2.0, 5.0)
MOVING_CLASSES = (Semantic.VEHICLE, Semantic.PEDESTRIAN, Semantic.CHICKEN, Semantic.GOOSE)
SOURCES = ("dream", "dream_residual", "repeat_last", "ceiling", "ceiling_residual")
DREAMS = ("dream", "dream_residual")  # the sources that must beat repeat_last
PSNR_CAP = 100.0  # dB: identical images have infinite PSNR, which neither a mean nor JSON can hold


def masked_psnr(pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """(N,) PSNR per camera over the pixels of mask (N, H, W); NaN where a camera has none.
    pred, target (N, 3, H, W) in 0..255."""
    err = (pred.double() - target.double()).pow(2).mean(1)  # (N, H, W)
    n = mask.sum((1, 2))
    mse = (err * mask).sum((1, 2)) / n.clamp(min=1)
    out = (10 * torch.log10(255.0**2 / mse)).clamp(max=PSNR_CAP).float()
    return torch.where(n > 0, out, torch.full_like(out, math.nan))


def moving_mask(semantics: torch.Tensor) -> torch.Tensor:
    """Pixels of agents (MOVING_CLASSES) in a semantic map (..., H, W) -> bool of the same shape."""
    mask = torch.zeros_like(semantics, dtype=torch.bool)
    for c in MOVING_CLASSES:
        mask |= semantics == int(c)
    return mask


def _scores(f: Frames, w: Window, t: int) -> dict[str, torch.Tensor]:
    """(N,) per camera of the frames f (N cameras) against frame t of one window (B = 1)."""
    moving = moving_mask(w.semantics[0, t])
    return {
        "psnr": psnr(f.rgb, w.images[0, t], keep=(0,)).clamp(max=PSNR_CAP),
        "psnr_static": masked_psnr(f.rgb, w.images[0, t], ~moving),
        "psnr_moving": masked_psnr(f.rgb, w.images[0, t], moving),
        "depth_abs_rel": depth_abs_rel(f.depth, w.depth[0, t], keep=(0,)),
        "miou": miou(f.semantics, w.semantics[0, t], NUM_SEMANTIC_CLASSES, keep=(0,)),
    }


def _sources(
    model: WorldModel, dreamed: torch.Tensor, true: torch.Tensor, anchor: Decoded, last: Frames
) -> dict[str, Frames]:
    """{source: Frames} of one horizon: dreamed and true latents (N, C, h, w), the decoder's output
    on the last context frame's latent (anchor) and that frame's real images (last)."""
    d, c = model.tokenizer.decode(dreamed), model.tokenizer.decode(true)
    return {
        "dream": full_frames(d),
        "dream_residual": residual_frames(d, anchor, last),
        "repeat_last": last,
        "ceiling": full_frames(c),
        "ceiling_residual": residual_frames(c, anchor, last),
    }


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
    counts: dict = {s: {h: {} for h in steps} for s in SOURCES}
    n = min(len(windows), max_windows)
    for i in range(n):
        w = windows[i * len(windows) // n].to(device)
        z = model.encode(w.images)  # (1, T, N, C, h, w)
        context = z[:, :K]
        last = Frames(w.images[0, K - 1], w.depth[0, K - 1], w.semantics[0, K - 1])
        anchor = model.tokenizer.decode(z[0, K - 1])  # the residual decoding's anchor
        for u in range(max(steps)):
            t = K - 1 + u
            out = model.predict_from(context, w, t)
            context = torch.cat([context[:, 1:], out.latent[:, None]], 1)
            h = u + 1
            if h not in steps:
                continue
            for source, f in _sources(model, out.latent[0], z[0, t + 1], anchor, last).items():
                metrics = _scores(f, w, t + 1)
                for k, v in metrics.items():
                    v = v.cpu().double()
                    ok = torch.isfinite(v)
                    sums[source][h][k] = sums[source][h].get(k, 0) + torch.where(ok, v, 0.0)
                    counts[source][h][k] = counts[source][h].get(k, 0) + ok.double()
    scores = {
        s: {
            f"{h * DT:g}": {k: _nan_to_none((v / counts[s][h][k]).tolist()) for k, v in sums[s][h].items()}
            for h in steps
        }
        for s in SOURCES
    }
    result = {
        "horizons_s": [round(h * DT, 3) for h in steps],
        "cameras": list(cfg.rig["names"]),
        "windows": n,
        "scores": scores,
    }
    result["summary"] = summarize_fidelity(result)
    return result


def _nan_to_none(values: list[float]) -> list[float | None]:
    """JSON has no NaN: a camera that never saw a moving pixel has no moving score."""
    return [None if math.isnan(v) else v for v in values]


def _mean(values: list[float | None]) -> float | None:
    kept = [v for v in values if v is not None]
    return sum(kept) / len(kept) if kept else None


def _sources_of(result: dict) -> list[str]:
    """The sources a result holds (one written before residual decoding has three)."""
    return [s for s in SOURCES if s in result["scores"]]


def summarize_fidelity(result: dict) -> dict:
    """{horizon: {source: {metric: camera mean}, "<dream>_beats_repeat_last": {metric: bool}} for
    each dream of DREAMS}: higher is better for PSNR and mIoU, lower for depth abs-rel."""
    out = {}
    sources = _sources_of(result)
    for h in (f"{x:g}" for x in result["horizons_s"]):
        row = {s: {k: _mean(v) for k, v in result["scores"][s][h].items()} for s in sources}
        for dream in (s for s in DREAMS if s in row):
            beats = {}
            for k, d in row[dream].items():
                r = row["repeat_last"][k]
                beats[k] = None if d is None or r is None else (d < r if k == "depth_abs_rel" else d > r)
            row[f"{dream}_beats_repeat_last"] = beats
        out[h] = row
    return out


def format_fidelity(result: dict) -> str:
    """A table: one row per (horizon, camera), PSNR / depth abs-rel / mIoU of each source."""
    sources = _sources_of(result)
    head = f"{'horizon':>7} {'camera':<12}" + "".join(f" {s:>23}" for s in sources)
    lines = [f"{result['windows']} windows; each source: psnr dB, depth abs-rel, semantic mIoU", head]
    for h in (f"{x:g}" for x in result["horizons_s"]):
        for c, cam in enumerate([*result["cameras"], "mean"]):
            cells = []
            for s in sources:
                m = result["scores"][s][h]
                vals = [_mean(m[k]) if cam == "mean" else m[k][c] for k in ("psnr", "depth_abs_rel", "miou")]
                vals = [math.nan if v is None else v for v in vals]
                cells.append(f" {vals[0]:>7.2f} {vals[1]:>7.3f} {vals[2]:>7.3f}")
            lines.append(f"{h + ' s':>7} {cam:<12}" + "".join(cells))
    lines.append("camera means, static / moving pixels PSNR dB:")
    for h, row in result.get("summary", {}).items():
        cells = [
            f"{s} {_fmt(row[s].get('psnr_static'))} / {_fmt(row[s].get('psnr_moving'))}" for s in sources
        ]
        lines.append(f"{h + ' s':>7} " + "   ".join(cells))
    return "\n".join(lines)


def _fmt(v: float | None) -> str:
    return "n/a" if v is None else f"{v:.2f}"
