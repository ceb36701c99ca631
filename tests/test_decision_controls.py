"""decision_controls: one pair of controls per reason; the reason head's choice drives, the expert's
reason's pair is the one regressed."""

from __future__ import annotations

import pytest
import torch

from e2edrive.core.reasons import NUM_REASONS, Reason
from e2edrive.model.config import make_config
from e2edrive.model.decision_controls import chosen, pick
from e2edrive.model.driving_model import DrivingModel
from e2edrive.model.synthetic import synthetic_clip


def test_pick_and_chosen_worked_example():
    modes = torch.tensor([[[0.1, 1.0], [0.2, -8.0], [0.3, 2.0]], [[-0.1, 0.5], [-0.2, -3.0], [-0.3, 0.0]]])
    torch.testing.assert_close(pick(modes, torch.tensor([1, 2])), torch.tensor([[0.2, -8.0], [-0.3, 0.0]]))
    logits = torch.tensor([[0.0, 0.1, -1.0], [5.0, 0.0, 4.9]])  # most likely: 1, then 0
    torch.testing.assert_close(chosen(modes, logits), torch.tensor([[0.2, -8.0], [-0.1, 0.5]]))


@pytest.fixture(scope="module")
def model() -> DrivingModel:
    torch.manual_seed(0)
    return DrivingModel(make_config("tiny", decision_controls=True))


def test_the_most_likely_reason_drives(model):
    clip = synthetic_clip(batch=3, frames=2, seed=2)
    model.eval()
    with torch.no_grad():
        out = model(clip.obs)
    model.train()
    assert out.action_modes.shape == (3, NUM_REASONS, 2)
    rows = out.action_modes[torch.arange(3), out.reason.argmax(-1)]
    torch.testing.assert_close(out.action, rows, rtol=0, atol=0)
    assert not torch.allclose(out.action_modes[:, 0], out.action_modes[:, 1])  # the pairs differ


def test_only_the_expert_reasons_pair_is_regressed(model):
    clip = synthetic_clip(batch=2, frames=2, seed=3)
    clip.labels.reason = torch.tensor([int(Reason.BRAKE_HAZARD), int(Reason.SLOW_PUDDLE)])
    model.zero_grad(set_to_none=True)
    out = model(clip.obs)
    _, parts = model.loss(out, clip.labels)
    parts["action"].backward()
    grad = model.planner.mode_out.weight.grad.view(NUM_REASONS, 2, -1).abs().sum((1, 2))  # (R,)
    taught = {int(Reason.BRAKE_HAZARD), int(Reason.SLOW_PUDDLE)}
    assert all(grad[r] > 0 for r in taught)
    assert all(grad[r] == 0 for r in range(NUM_REASONS) if r not in taught)


def test_off_by_default():
    torch.manual_seed(0)
    model = DrivingModel(make_config("tiny"))
    assert model.planner.mode_out is None
    with torch.no_grad():
        assert model(synthetic_clip(batch=1, frames=1, seed=4).obs).action_modes is None
