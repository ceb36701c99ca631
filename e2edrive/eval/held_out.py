"""The held-out frames the perception reads are counted on (eval.perception, eval.far_read,
eval.light_read): at most max_frames of a dataset, evenly spread, batched, with the network's
outputs, without gradients."""

from __future__ import annotations

from collections.abc import Iterator

import torch

from e2edrive.core.types import Clip
from e2edrive.model.output import DrivingOutput


def held_out_batches(
    model, dataset, device="cpu", batch_size: int = 16, max_frames: int = 4000
) -> Iterator[tuple[list[int], Clip, DrivingOutput]]:
    """(dataset indices, collated clip on device, model(clip.obs)) per batch, model in eval mode."""
    from e2edrive.data.dataset import collate_clips

    model = model.eval().to(device)
    n = len(dataset)
    frames = list(range(0, n, max(1, n // max_frames)))
    with torch.no_grad():
        for i in range(0, len(frames), batch_size):
            idx = frames[i : i + batch_size]
            clip = collate_clips([dataset[j] for j in idx]).to(device)
            yield idx, clip, model(clip.obs)
