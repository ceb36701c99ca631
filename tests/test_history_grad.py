"""history_grad: without it, training encodes a clip's earlier frames without gradients (truncated
back-propagation through time); inference is the same either way."""

from __future__ import annotations

import pytest
import torch

from e2edrive.model.config import make_config
from e2edrive.model.driving_model import DrivingModel
from e2edrive.model.synthetic import synthetic_clip


def _image_grads(history_grad: bool) -> torch.Tensor:
    torch.manual_seed(0)
    model = DrivingModel(make_config("tiny", history_grad=history_grad)).train()
    clip = synthetic_clip(batch=2, frames=2, seed=6)
    clip.obs.images = clip.obs.images.float().requires_grad_()  # float 0..255 is accepted
    loss, _ = model.loss(model(clip.obs), clip.labels)
    loss.backward()
    return clip.obs.images.grad  # (B, T, N, 3, H, W)


@pytest.mark.parametrize("history_grad", [False, True])
def test_gradients_reach_the_earlier_frames_only_with_history_grad(history_grad):
    grad = _image_grads(history_grad)
    assert grad[:, -1].abs().sum() > 0  # the labelled frame always trains the encoder
    assert (grad[:, 0].abs().sum() > 0) == history_grad


def test_inference_does_not_depend_on_it():
    clip = synthetic_clip(batch=2, frames=3, seed=7)
    outs = []
    for history_grad in (False, True):
        torch.manual_seed(0)
        model = DrivingModel(make_config("tiny", history_grad=history_grad)).eval()
        with torch.no_grad():
            outs.append(model(clip.obs))
    for name in ("action", "plan", "occupancy", "reason"):
        torch.testing.assert_close(getattr(outs[0], name), getattr(outs[1], name), rtol=0, atol=0)
