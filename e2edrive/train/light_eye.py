"""Teach a driving network's light eye (model.light_eye) the lamp colours: a short stage in which
only the eye learns, on light frames drawn class-balanced, everything else frozen.

Why a stage of its own: in ordinary training a light frame is one sample in ten, and most of those
are red (waiting at the line); the eye, which starts near zero and must find a 1-3 pixel lamp,
learned almost nothing in 1,500 steps of fine-tuning (green recall 7 % -> 22 %, BENCHMARKS.md).
Drawn balanced over none / red / yellow / green, with the rest frozen, it reaches 92 % balanced
accuracy on its batches by step 2,000 and 97 % by step 4,000 (the long quickstart's log, from an
untrained network). On the eye's logits alone (LightEyeConfig.alone, the default) the step skips
the eight-camera encoder: 0.022 s for 16 one-frame clips on 2 cores against 0.132 s through the
whole network, data loading included (medians of 100 steps, session 10); the network's cost alone
0.014 s against 0.099 s (`python -m bench.light_eye_speed`).
The quickstart runs it before the driving network's first step (commands.quickstart): the planner
then learns from the start on informative light probabilities. A network trained for 12,000 steps
on the uninformative ones had learned to ignore them; 1,500 steps of fine-tuning after a late eye
stage halved its red-light runs only partly (BENCHMARKS.md).

The sampling reads the labels from the dataset's index (column `traffic_light`), not the shards.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from e2edrive.model.heads import NUM_LIGHT_STATES


@dataclass(frozen=True)
class LightEyeConfig:
    steps: int = 4000
    """optimisation steps of the eye alone"""
    batch_size: int = 16
    lr: float = 2e-3
    """Adam learning rate (the eye is new and small; the rest is frozen)"""
    seed: int = 0
    alone: bool = True
    """train on the eye's logits alone, without running the rest of the network: right before the
    driving network's first step (the quickstart), where the rest is untrained and its light logits
    are noise added to the eye's, and ~5x cheaper per step (the eight-camera encoder is skipped).
    False: on the full network's light logits (eye + head), the eye learning what a trained head
    misses"""


def balanced_weights(states: np.ndarray) -> torch.Tensor:
    """Per-frame sampling weights (F,) so that each light state present is drawn equally often."""
    states = states.astype(np.int64)
    counts = np.bincount(states, minlength=NUM_LIGHT_STATES)
    w = 1.0 / counts[states]
    return torch.tensor(w / w.sum(), dtype=torch.float64)


def eye_logits(model, obs) -> torch.Tensor:
    """The light eye's logits alone (B, NUM_LIGHT_STATES) on the last frame of obs (B, T, ...): what
    DrivingModel.decode adds to the light head's."""
    return model.eye_logits(obs.images[:, -1], obs.camera_valid[:, -1].bool())


def train_light_eye(model, dataset, cfg: LightEyeConfig = LightEyeConfig(), log=print) -> dict:
    """Train model.light_eye in place on `dataset` (a data.dataset.DrivingDataset); returns
    {"steps", "loss", "accuracy"} of the last 100 steps (balanced batches) and the state counts."""
    from e2edrive.data.dataset import collate_clips

    if getattr(model, "light_eye", None) is None:
        raise ValueError("this network has no light eye (DrivingConfig.light_eye is empty)")
    states = dataset.index["traffic_light"].to_numpy().astype(np.int64)
    weights = balanced_weights(states)
    device = next(model.parameters()).device
    trainable = {n: p.requires_grad for n, p in model.named_parameters()}
    for n, p in model.named_parameters():
        p.requires_grad_(n.startswith("light_eye."))
    was_training = model.training
    model.eval()  # the frozen parts as at inference; the eye has no dropout or norm layers
    opt = torch.optim.Adam(model.light_eye.parameters(), lr=cfg.lr)
    gen = torch.Generator().manual_seed(cfg.seed)
    recent: list[tuple[float, float]] = []
    t0 = time.perf_counter()
    try:
        for step in range(1, cfg.steps + 1):
            idx = torch.multinomial(weights, cfg.batch_size, replacement=True, generator=gen).tolist()
            clip = collate_clips([dataset[i] for i in idx]).to(device)
            logits = eye_logits(model, clip.obs) if cfg.alone else model(clip.obs).traffic_light  # (B, 4)
            target = clip.labels.traffic_light.long()
            loss = F.cross_entropy(logits, target)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            recent = (recent + [(loss.item(), (logits.argmax(-1) == target).float().mean().item())])[-100:]
            if step % 500 == 0 or step == cfg.steps:
                lo, acc = np.mean(recent, 0)
                log(
                    f"light eye step {step}/{cfg.steps}: loss {lo:.3f}, balanced accuracy {acc:.2f} "
                    f"({time.perf_counter() - t0:.0f} s)"
                )
    finally:
        for n, p in model.named_parameters():
            p.requires_grad_(trainable[n])
        model.train(was_training)
    lo, acc = np.mean(recent, 0)
    counts = np.bincount(states, minlength=NUM_LIGHT_STATES).tolist()
    return {"steps": cfg.steps, "loss": float(lo), "accuracy": float(acc), "frames_per_state": counts}
