"""control_dropout hides the previous controls (accel, steer) from the planner in training only."""

from __future__ import annotations

import pytest
import torch

from e2edrive.model.config import make_config
from e2edrive.model.driving_model import DrivingModel
from e2edrive.model.synthetic import synthetic_clip


def _actions(model: DrivingModel, accel: float, steer: float) -> torch.Tensor:
    obs = synthetic_clip(batch=2, frames=1, seed=5).obs
    obs.accel = torch.full_like(obs.accel, accel)
    obs.steer = torch.full_like(obs.steer, steer)
    torch.manual_seed(0)  # the same dropout draws in both calls
    with torch.no_grad():
        return model(obs).action


def test_hidden_controls_do_not_reach_the_plan_in_training():
    cfg = make_config("tiny")
    cfg.control_dropout = 1.0
    torch.manual_seed(0)
    model = DrivingModel(cfg).train()
    torch.testing.assert_close(_actions(model, -6.0, 0.3), _actions(model, 2.0, -0.3), rtol=0, atol=0)
    model.eval()  # at inference the planner reads them again
    assert not torch.allclose(_actions(model, -6.0, 0.3), _actions(model, 2.0, -0.3))


def test_speed_is_never_hidden():
    cfg = make_config("tiny")
    cfg.control_dropout = 1.0
    torch.manual_seed(0)
    model = DrivingModel(cfg).train()
    obs = synthetic_clip(batch=2, frames=1, seed=5).obs
    outs = []
    for v in (2.0, 12.0):
        obs.speed = torch.full_like(obs.speed, v)
        torch.manual_seed(0)
        with torch.no_grad():
            outs.append(model(obs).action)
    assert not torch.allclose(*outs)


def test_out_of_range_is_refused():
    cfg = make_config("tiny")
    cfg.control_dropout = 1.5
    with pytest.raises(ValueError, match="control_dropout must be in"):
        cfg.__post_init__()
