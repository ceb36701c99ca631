"""Training for robustness: camera faults and failed cameras injected into the training batch.

    clip = augment_clip(clip, fault_p=0.5, dropout_p=0.1, seed=augment_seed(cfg.seed, step, rank))

Fault augmentation: each clip, with probability fault_p, gets one camera fault of sim.faults
(CAMERA_FAULTS) at a severity drawn from 1-3, applied to every frame of its history as the fault
would corrupt consecutive frames of a drive (a clip's frames are consecutive control steps from a
random start step, so a frozen camera can freeze inside the clip). Fog needs the rendered depth:
it is drawn only when the labels carry a camera depth map (the labelled frame's, used for the
clip's few frames). The corrupted frames keep `camera_valid`, as on the road; a crashed camera
is flagged, as its driver would flag it.

Camera dropout: each camera of each clip, with probability dropout_p, is marked invalid for the
whole clip through `camera_valid` (its frames are left as they are: the network must not read
them). Unlike the model's own `camera_dropout` (independent frames, drawn from the global RNG,
DrivingModel only), this is a failed camera, and every network that reads camera_valid sees it.

Everything drawn comes from one generator seeded by (training seed, step, rank): the augmented
batch is a pure function of those, so a resumed run augments exactly as one never stopped, and
the faults themselves are the deterministic ones of sim.faults, on the batch's device.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import torch
import torch.nn.functional as F

from e2edrive.core.types import Clip, _map_tensors
from e2edrive.sim.faults import CAMERA_FAULTS, FAULTS, SEVERITIES, FaultContext

START_STEPS = 20  # a clip's first frame is step [0, 20) of its simulated fault (frozen: [5, 15))


def augment_seed(seed: int, step: int, rank: int = 0) -> int:
    """The generator seed of one optimisation step of one process."""
    return (seed * 1_000_003 + step) * 257 + rank


@dataclass
class AugmentDraw:
    """What augment_clip draws for B clips of N cameras (CPU tensors).

    hit:      (B,) bool, the clip gets a camera fault
    fault:    (B,) long, index in CAMERA_FAULTS of its fault
    severity: (B,) long, 1-3
    key:      (B,) int64, the clip's fault "episode" key (sim.faults.base)
    start:    (B,) long, control step of the clip's first frame in that episode
    dropped:  (B, N) bool, the camera is masked invalid for the whole clip
    """

    hit: torch.Tensor
    fault: torch.Tensor
    severity: torch.Tensor
    key: torch.Tensor
    start: torch.Tensor
    dropped: torch.Tensor


def draw_augment(
    B: int, N: int, fault_p: float, dropout_p: float, seed: int, fog: bool = True
) -> AugmentDraw:
    """The random part of augment_clip; fog=False (no depth to make fog from) gives fog's clips the
    next fault of the pool instead."""
    g = torch.Generator().manual_seed(seed)
    # Every draw is made whatever the probabilities, so that one setting does not shift the other's.
    hit = torch.rand(B, generator=g) < fault_p
    fault = torch.randint(0, len(CAMERA_FAULTS), (B,), generator=g)
    severity = torch.randint(SEVERITIES[0], SEVERITIES[-1] + 1, (B,), generator=g)
    key = torch.randint(0, 2**31 - 1, (B,), generator=g)
    start = torch.randint(0, START_STEPS, (B,), generator=g)
    dropped = torch.rand(B, N, generator=g) < dropout_p
    if not fog:
        i = CAMERA_FAULTS.index("fog")
        fault = torch.where(fault == i, (fault + 1) % len(CAMERA_FAULTS), fault)
    return AugmentDraw(hit, fault, severity, key, start, dropped)


def augment_clip(clip: Clip, fault_p: float, dropout_p: float, seed: int) -> Clip:
    """`clip` with camera faults (per clip, probability fault_p) and dropped cameras (per camera
    and clip, probability dropout_p); the same Clip object, untouched, when both are 0."""
    for name, p in (("fault_p", fault_p), ("dropout_p", dropout_p)):
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"{name} must be in [0, 1], got {p}")
    if (fault_p == 0 and dropout_p == 0) or clip.obs.images.shape[2] == 0:
        return clip
    B, T, N = clip.obs.images.shape[:3]
    depth = _camera_depth(clip)
    d = draw_augment(B, N, fault_p, dropout_p, seed, fog=depth is not None)
    obs = clip.obs
    if bool(d.hit.any()):
        obs = _corrupt(obs, d, depth)
    if bool(d.dropped.any()):
        dropped = d.dropped.to(obs.camera_valid.device)[:, None]  # (B, 1, N): every frame of the clip
        obs = replace(obs, camera_valid=obs.camera_valid & ~dropped)
    return Clip(obs, clip.labels, clip.meta)


def _corrupt(obs, d: AugmentDraw, depth: torch.Tensor | None):
    """obs (B, T, ...) with fault CAMERA_FAULTS[d.fault[b]] at d.severity[b] on each clip b hit."""
    dev = obs.images.device
    images, valid = obs.images.clone(), obs.camera_valid.clone()
    T = images.shape[1]
    for f in range(len(CAMERA_FAULTS)):
        for s in SEVERITIES:
            idx = (d.hit & (d.fault == f) & (d.severity == s)).nonzero().flatten()
            if idx.numel() == 0:
                continue
            fault = FAULTS[CAMERA_FAULTS[f]](s)  # fresh: a frozen camera's held frame is per clip
            i = idx.to(dev)
            sub = _map_tensors(obs, lambda x, i=i: x[i])  # (b, T, ...)
            sub_depth = depth[i] if depth is not None and fault.needs_depth else None
            for t in range(T):  # in time order: stateful faults see the frames as a drive would
                frame = _map_tensors(sub, lambda x, t=t: x[:, t])  # (b, ...)
                ctx = FaultContext(d.key[idx].to(dev), (d.start[idx] + t).to(dev), sub_depth)
                out = fault.apply(frame, ctx)
                images[i, t] = out.images
                valid[i, t] = out.camera_valid
    return replace(obs, images=images, camera_valid=valid)


def _camera_depth(clip: Clip) -> torch.Tensor | None:
    """(B, N, H, W) metres at the image resolution, from the labels, or None if they hold none."""
    depth = clip.labels.depth  # (B, N, h, w)
    H, W = clip.obs.images.shape[-2:]
    if depth.dim() != 4 or depth.shape[-2] * depth.shape[-1] <= 1:
        return None
    if tuple(depth.shape[-2:]) != (H, W):
        depth = F.interpolate(depth.float(), size=(H, W), mode="nearest")
    return depth
