"""What the planner reads: the ego fields it is given, the light head's belief, the BEV map; and the
event weighting of the imitation loss, against a hand-worked example."""

from __future__ import annotations

from dataclasses import replace

import pytest
import torch

from e2edrive.core.constants import MAX_ACCEL, PLAN_STEPS
from e2edrive.model.base import DrivingLossWeights, driving_loss
from e2edrive.model.config import make_config
from e2edrive.model.driving_model import DrivingModel
from e2edrive.model.output import DrivingOutput
from e2edrive.model.synthetic import synthetic_clip


@pytest.fixture(scope="module")
def clip():
    return synthetic_clip(batch=2, frames=2, seed=3)


def _out(model, obs):
    model.eval()
    with torch.no_grad():
        return model(obs)


def test_previous_controls_can_be_hidden(clip):
    """ego_inputs=(speed, yaw_rate): accel and steer (the last controls) are not read; speed is."""
    torch.manual_seed(0)
    model = DrivingModel(replace(make_config("tiny"), ego_inputs=("speed", "yaw_rate")))
    ref = _out(model, clip.obs)
    other = replace(clip.obs, accel=clip.obs.accel + 2.5, steer=clip.obs.steer - 0.3)
    assert torch.equal(_out(model, other).action, ref.action)
    faster = replace(clip.obs, speed=clip.obs.speed + 5.0)
    assert not torch.allclose(_out(model, faster).action, ref.action)


def test_every_ego_field_is_read_by_default(clip):
    torch.manual_seed(0)
    model = DrivingModel(make_config("tiny"))
    ref = _out(model, clip.obs)
    other = replace(clip.obs, accel=clip.obs.accel + 2.5)
    assert not torch.allclose(_out(model, other).action, ref.action)
    with pytest.raises(ValueError, match="ego_inputs"):
        replace(make_config("tiny"), ego_inputs=("speed", "jerk"))


def test_driving_loss_reaches_the_light_head_through_the_plan(clip):
    """The planner reads the light head's probabilities: the action loss alone trains that head."""
    torch.manual_seed(0)
    model = DrivingModel(make_config("tiny"))
    out = model(clip.obs)
    out.action.square().sum().backward()
    grad = model.light.net[-1].weight.grad
    assert grad is not None and grad.abs().sum() > 0
    model.zero_grad()
    off = DrivingModel(replace(make_config("tiny"), planner_light=False))
    off(clip.obs).action.square().sum().backward()
    assert off.light.net[-1].weight.grad is None


def test_event_weighting_worked_example():
    """Two samples: the expert cruises (a = 0) in one and brakes at MAX_ACCEL in the other; both
    actions are off by 0.3 m/s^2. With event = 2 the weights are 1 and 3, normalised to 1/4, 3/4."""
    expert_action = torch.tensor([[0.0, 0.0], [0.0, -MAX_ACCEL]])
    action = expert_action + torch.tensor([[0.0, 0.3], [0.0, 0.3]])
    plan_err = torch.tensor([1.0, 2.0])  # m on every coordinate of every step
    expert_plan = torch.zeros(2, PLAN_STEPS, 3)
    plan = expert_plan + plan_err.view(2, 1, 1)
    speed, expert_speed = torch.tensor([1.0, 1.0]), torch.tensor([0.0, 3.0])

    class L:  # the three label fields the driving terms read
        pass

    labels = L()
    labels.expert_action, labels.expert_plan, labels.expert_speed = expert_action, expert_plan, expert_speed
    out = DrivingOutput(action=action, plan=plan, speed=speed)  # the driving terms only
    parts = driving_loss(out, labels, DrivingLossWeights(plan=1.0, action=1.0, speed=1.0, event=2.0))
    w = torch.tensor([0.25, 0.75])
    # action: |0.3| / MAX_ACCEL on accel, 0 on steer, mean over the two -> 0.15 / MAX_ACCEL per sample
    assert parts["action"].item() == pytest.approx(0.15 / MAX_ACCEL, rel=1e-5)
    assert parts["plan"].item() == pytest.approx(float((w * plan_err).sum()), rel=1e-5)  # 1.75
    assert parts["speed"].item() == pytest.approx(float((w * torch.tensor([1.0, 2.0])).sum()), rel=1e-5)
    flat = driving_loss(out, labels, DrivingLossWeights(plan=1.0, action=1.0, speed=1.0, event=0.0))
    assert flat["plan"].item() == pytest.approx(1.5, rel=1e-5)
    assert flat["speed"].item() == pytest.approx(1.5, rel=1e-5)


def test_keyframe_weighting_worked_example(clip):
    """Two samples, both stopped with the brake held (observed accel -2): in one the expert keeps
    waiting (label -2), in the other it pulls away (label +1). With event 0 and keyframe 3 the
    weights are 1 and 1 + 3 * |1 - (-2)| / MAX_ACCEL = 4, normalised to 1/5 and 4/5; without the
    observed accel (a network that leaves ego_accel None) every frame weighs alike."""
    expert_action = torch.tensor([[0.0, -2.0], [0.0, 1.0]])
    plan_err = torch.tensor([1.0, 2.0])
    expert_plan = torch.zeros(2, PLAN_STEPS, 3)

    class L:
        pass

    labels = L()
    labels.expert_action, labels.expert_plan, labels.expert_speed = expert_action, expert_plan, torch.zeros(2)
    out = DrivingOutput(
        action=expert_action.clone(),
        plan=expert_plan + plan_err.view(2, 1, 1),
        speed=torch.zeros(2),
        ego_accel=torch.tensor([-2.0, -2.0]),
    )
    w = DrivingLossWeights(plan=1.0, action=1.0, speed=1.0, event=0.0, keyframe=3.0)
    assert MAX_ACCEL == 3.0  # the weights above are worked with it
    assert driving_loss(out, labels, w)["plan"].item() == pytest.approx(0.2 * 1.0 + 0.8 * 2.0, rel=1e-5)
    out.ego_accel = None
    assert driving_loss(out, labels, w)["plan"].item() == pytest.approx(1.5, rel=1e-5)


def test_driving_model_reports_the_accel_it_read(clip):
    """The keyframe weight compares the label with the previous control the planner was given."""
    torch.manual_seed(0)
    out = _out(DrivingModel(make_config("tiny")), clip.obs)
    assert torch.equal(out.ego_accel, clip.obs.accel[:, -1])


def test_forward_camera_read(clip):
    """The planner reads front_main's feature map directly; a camera marked invalid adds nothing."""
    torch.manual_seed(0)
    model = DrivingModel(make_config("tiny"))
    out = model(clip.obs)
    out.action.abs().sum().backward()
    assert model.camera_read[-1].weight.grad.abs().sum() > 0
    with pytest.raises(ValueError, match="planner_cameras"):
        replace(make_config("tiny"), planner_cameras=("roof",))
    off = DrivingModel(replace(make_config("tiny"), planner_cameras=(), planner_far=False))
    assert off.camera_read is None and off(clip.obs).action.shape == (2, 2)
    # front_main dead: its read is zeroed, so changing its pixels changes the plan only via the BEV,
    # where an invalid camera is masked too: the action does not move at all
    front = model.config.rig.names.index("front_main")
    valid = clip.obs.camera_valid.clone()
    valid[:, :, front] = False
    images = clip.obs.images.clone()
    images[:, :, front] = 255 - images[:, :, front]
    a = _out(model, replace(clip.obs, camera_valid=valid)).action
    b = _out(model, replace(clip.obs, camera_valid=valid, images=images)).action
    assert torch.allclose(a, b, atol=1e-6)
