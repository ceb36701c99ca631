"""Through the policy's eyes: does a driving network see in dreamed frames what it sees in real ones?

For windows of held-out recordings, the world model reads K real frames and dreams `horizon`
steps open loop with the recorded actions (agent_conditioned, as in worldmodel.evaluate). The
driving network then reads the clip that ends at the dreamed frame three times: with the recorded
images (real), with the dreamed ones decoded in full in their place (dream), and decoded residually
against the last real context frame (dream_residual, worldmodel.residual). Its history frames are
replaced too, all dreamed when the history is shorter than the horizon; odometry, speed and
navigation are the recorded ones in every reading.
Its heads are scored against the recording's labels:

    occupancy      IoU of the occupied voxels (sigmoid > 0.5) with the labels pooled to the
                   network's BEV grid (model.targets.make_targets), summed over every window
    traffic_light  accuracy of the light head (argmax) on every frame, and on the frames whose
                   label shows a light (state != NONE), where the head has something to see

`ratio` = score on dreamed frames / score on real frames (the issue asks >= 0.7 at 1 s), and
`ratio_residual` the same for the residually decoded frames.
"""

from __future__ import annotations

from dataclasses import replace

import torch

from e2edrive.core.constants import DT, LightState
from e2edrive.worldmodel.data import WindowDataset

OCC_THRESHOLD = 0.5  # occupancy probability counted as occupied (as eval.perception)
SOURCES = ("real", "dream", "dream_residual")


@torch.no_grad()
def policy_eyes(
    worldmodel,
    policy,
    data: str,
    horizon_s: float = 1.0,
    history: int = 2,
    max_windows: int = 64,
    stride: int = 10,
) -> dict:
    """{"horizon_s", "windows", "real", "dream", "dream_residual": scores, "ratio": dream / real,
    "ratio_residual": dream_residual / real} with scores
    {"occupancy_iou", "light_acc", "light_acc_with_light", "frames_with_light"}; `history`: the
    frames the policy reads (its training config's `history`)."""
    from e2edrive.data.dataset import DrivingDataset
    from e2edrive.model.targets import make_targets

    K = worldmodel.cfg.context
    steps = round(horizon_s / DT)
    if history > steps + 1:
        raise ValueError(f"a policy history of {history} frames reaches past a {steps}-step dream")
    windows = WindowDataset(data, K + steps, stride=stride)
    clips = DrivingDataset(data, history=history)
    row_of = {
        (int(e), int(t)): k
        for k, (e, t) in enumerate(zip(clips.index["episode"].to_pylist(), clips.index["t"].to_pylist()))
    }
    device = next(worldmodel.parameters()).device
    policy = policy.eval().to(device)
    sums = {src: {"inter": 0.0, "union": 0.0, "light_ok": 0, "light_ok_lit": 0} for src in SOURCES}
    frames = lit = 0
    n = min(len(windows), max_windows)
    for i in range(n):
        j = i * len(windows) // n
        ep, t0 = windows.starts[j]
        w = windows[j].to(device)
        context = worldmodel.encode(w.images)[:, :K]
        anchor = worldmodel.rgb_anchor(w.images[:, K - 1], context[:, -1])
        dreamed = {"dream": [], "dream_residual": []}
        for u in range(steps):
            out = worldmodel.predict_from(context, w, K - 1 + u)
            context = torch.cat([context[:, 1:], out.latent[:, None]], 1)
            rgb = worldmodel.decode_rgb_float(out.latent)  # (1, N, 3, H, W), decoded once for both
            dreamed["dream"].append(worldmodel.rgb_of(rgb))
            dreamed["dream_residual"].append(worldmodel.rgb_of(rgb, anchor))
        t = t0 + K - 1 + steps  # the frame the last dream step shows
        clip = clips[row_of[(ep, t)]].to(device)
        observations = {"real": clip.obs}
        for src, steps_rgb in dreamed.items():
            images = clip.obs.images.clone()  # (1, history, N, 3, H, W)
            images[:, -history:] = torch.stack(steps_rgb[-history:], 1)
            observations[src] = replace(clip.obs, images=images)
        labels = clip.labels
        targets = make_targets(labels, policy.config.bev_grid, policy.feat_hw)
        has_light = labels.traffic_light != int(LightState.NONE)
        frames += 1
        lit += int(has_light.sum())
        for src, obs in observations.items():
            o = policy(obs)
            occ = o.occupancy.sigmoid() > OCC_THRESHOLD
            gt = targets.occupancy > 0.5
            sums[src]["inter"] += float((occ & gt).sum())
            sums[src]["union"] += float((occ | gt).sum())
            ok = o.traffic_light.argmax(-1) == labels.traffic_light
            sums[src]["light_ok"] += int(ok.sum())
            sums[src]["light_ok_lit"] += int((ok & has_light).sum())
    scores = {
        src: {
            "occupancy_iou": s["inter"] / s["union"] if s["union"] else None,
            "light_acc": s["light_ok"] / frames if frames else None,
            "light_acc_with_light": s["light_ok_lit"] / lit if lit else None,
        }
        for src, s in sums.items()
    }
    return {
        "horizon_s": horizon_s,
        "windows": n,
        "frames_with_light": lit,
        **scores,
        "ratio": _ratio(scores["dream"], scores["real"]),
        "ratio_residual": _ratio(scores["dream_residual"], scores["real"]),
    }


def _ratio(dream: dict, real: dict) -> dict:
    """{score: dream / real}, None where either is missing or real is 0."""
    return {k: dream[k] / real[k] if real[k] and dream[k] is not None else None for k in real}
