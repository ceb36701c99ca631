"""Sampling balanced by the expert's decision: each frame drawn with probability proportional to
count(its reason) ** -power, so rare decisions are seen more often than their share of the road.

Why: a 30-minute budget draws fewer samples than the dataset holds (the `quick` recipe: 18,400
samples of 34,000 frames), so under uniform sampling a rare decision's frames are seen about
half a time each. In the quickstart's data after one engine round (session 10), "passing: geese
are standing on the lane" is 1.2 % of the frames, the puddle's two decisions 1.1 % each, cruising
55 %. power 0.5 (drawing in proportion to the square root of each reason's count) makes the geese
pass 3.8 % of the draws and cruising 26 %; power 1 draws every reason equally. The reason is the
expert's label of the frame (the `expert_reason` column of the index): the decision the imitator
must learn, which the scenario name alone does not say (most frames of a geese episode are
cruising). This is the data engine's class balancing in the sampler; the loss's event and keyframe
weights (model.base.DrivingLossWeights) act inside a batch and are unchanged.

Measured (session 10, BENCHMARKS.md), one paired from-scratch run of 2,300 steps: P = 0.5 cost
`basic` 80.5 -> 63.7 and `corner` 16 -> 11 of 56. The policy learned to stand (stop-and-wait
decisions are the rare reasons drawn most), and geese and puddle stayed at 0. Off by default.
"""

from __future__ import annotations

import numpy as np
import torch


def item_reasons(dataset) -> np.ndarray | None:
    """The expert's reason of every item (len(dataset),) int64, or None where the dataset does not
    say (synthetic clips). A DrivingDataset's index has one row per item; PrioritizedClips appends
    its mined frames `repeat` times after the base."""
    base = getattr(dataset, "base", None)
    if base is not None:  # data.mixture.PrioritizedClips
        reasons = item_reasons(base)
        if reasons is None or not dataset.repeat:
            return reasons
        mined = item_reasons(dataset.mined)
        return None if mined is None else np.concatenate([reasons] + [mined] * dataset.repeat)
    index = getattr(dataset, "index", None)
    if index is None or "expert_reason" not in index.column_names:
        return None
    return index["expert_reason"].to_numpy(zero_copy_only=False).astype(np.int64)


def decision_weights(reasons: np.ndarray, power: float) -> torch.Tensor:
    """Per-item sampling probabilities (F,) float64 summing to 1, proportional to
    count(reason) ** -power: 0 uniform, 1 every reason drawn equally often."""
    if power < 0:
        raise ValueError(f"the balancing power must be >= 0, got {power}")
    _, inverse, counts = np.unique(reasons, return_inverse=True, return_counts=True)
    w = counts[inverse].astype(np.float64) ** -power
    return torch.from_numpy(w / w.sum())


def balanced_indices(dataset, power: float, n: int, seed: int) -> list[int] | None:
    """n item indices drawn with replacement by decision_weights, from a generator seeded by `seed`
    (the trainer passes a function of (seed, epoch), so a resumed run draws the same); None when
    the dataset has no reasons to balance by."""
    reasons = item_reasons(dataset)
    if reasons is None:
        return None
    g = torch.Generator().manual_seed(seed)
    return torch.multinomial(decision_weights(reasons, power), n, replacement=True, generator=g).tolist()
