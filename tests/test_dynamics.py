import math

import pytest
import torch

from e2edrive.core.constants import EGO_BOX_CENTER_X, EGO_WHEELBASE, MAX_STEER, MAX_STEER_RATE
from e2edrive.core.types import Action
from e2edrive.sim.dynamics import EgoState, arc_step, step_ego, travel

L = EGO_WHEELBASE
DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


def _state(speed, steer=0.0, B=1):
    return EgoState.from_pose(torch.zeros(B, 3), speed=speed, steer=steer)


def _act(steer, accel, B=1):
    return Action(torch.full((B,), float(steer)), torch.full((B,), float(accel)))


def test_arc_step_quarter_circle_and_straight():
    # a quarter of a circle of radius 10 from the origin heading +x ends at (10, 10) heading +y
    R = 10.0
    x, y, yaw = arc_step(*torch.zeros(3), torch.tensor(R * math.pi / 2), torch.tensor(math.pi / 2))
    assert (x.item(), y.item(), yaw.item()) == pytest.approx((R, R, math.pi / 2), abs=1e-5)
    x, y, yaw = arc_step(*torch.zeros(3), torch.tensor(3.0), torch.tensor(0.0))
    assert (x.item(), y.item(), yaw.item()) == pytest.approx((3.0, 0.0, 0.0), abs=1e-7)


@pytest.mark.parametrize("delta", [0.1, 0.3, MAX_STEER])
def test_steady_turn_radius_is_L_over_tan_delta(delta):
    R = L / math.tan(delta)
    v = 5.0
    s = _state(v, steer=delta)
    period = 2 * math.pi * R / v
    n = int(round(period / 0.1))
    pts = []
    for _ in range(n):
        s = step_ego(s, _act(delta, 0.0))
        pts.append((s.x.item(), s.y.item()))
    # centre of the turn is (0, R) (left turn from the origin heading +x): every point is R from it
    r = [math.hypot(px, py - R) for px, py in pts]
    assert max(abs(ri - R) for ri in r) < 1e-3 * R
    # after n steps we have travelled n*0.1*v: the heading turned by that arc over R
    expected_yaw = math.remainder(n * 0.1 * v / R, 2 * math.pi)
    assert math.remainder(s.yaw.item() - expected_yaw, 2 * math.pi) == pytest.approx(0.0, abs=1e-4)
    assert s.yaw_rate.item() == pytest.approx(v / R, rel=1e-5)


@pytest.mark.parametrize("v0,a", [(20.0, -8.0), (13.0, -3.0), (7.0, -6.5)])
def test_stopping_distance_is_v2_over_2a(v0, a):
    s = _state(v0)
    for _ in range(100):
        s = step_ego(s, _act(0.0, a))
    assert s.speed.item() == 0.0
    # exact arc + exact stop inside a sub-step: only float32 rounding remains
    assert s.x.item() == pytest.approx(v0**2 / (2 * -a), abs=1e-3)
    assert s.y.item() == pytest.approx(0.0, abs=1e-6)


def test_no_reverse_braking_at_standstill_holds():
    s = _state(0.0)
    for _ in range(5):
        s = step_ego(s, _act(0.3, -8.0))
    assert s.speed.item() == 0.0 and s.x.item() == 0.0 and s.y.item() == 0.0
    assert s.accel.item() == 0.0  # the executed acceleration, not the command


def test_executed_accel_when_stopping_mid_step():
    # 0.5 m/s braking at 8 m/s^2 stops after 1/16 s: executed mean accel over 0.1 s is -5 m/s^2
    s = step_ego(_state(0.5), _act(0.0, -8.0))
    assert s.speed.item() == 0.0
    assert s.accel.item() == pytest.approx(-5.0, rel=1e-5)
    assert s.x.item() == pytest.approx(0.5**2 / 16, rel=1e-5)


def test_steering_rate_limit():
    s = _state(10.0)
    s = step_ego(s, _act(MAX_STEER, 0.0))
    assert s.steer.item() == pytest.approx(MAX_STEER_RATE * 0.1, rel=1e-5)
    for _ in range(20):
        s = step_ego(s, _act(MAX_STEER, 0.0))
    assert s.steer.item() == pytest.approx(MAX_STEER, rel=1e-6)  # reached and held the command
    s = step_ego(s, _act(-MAX_STEER, 0.0))
    assert s.steer.item() == pytest.approx(MAX_STEER - MAX_STEER_RATE * 0.1, rel=1e-5)


def test_out_of_range_action_is_clipped():
    s = step_ego(_state(10.0), _act(0.0, 50.0))
    assert s.speed.item() == pytest.approx(10.0 + 3.0 * 0.1, rel=1e-6)  # MAX_ACCEL
    s = step_ego(_state(10.0, steer=MAX_STEER), _act(5.0, 0.0))
    assert s.steer.item() == pytest.approx(MAX_STEER)


def test_nan_action_raises_clearly():
    with pytest.raises(ValueError, match="NaN or inf in environments \\[1\\]"):
        step_ego(_state(1.0, B=3), Action(torch.tensor([0.0, float("nan"), 0.0]), torch.zeros(3)))
    with pytest.raises(ValueError, match="shaped"):
        step_ego(_state(1.0, B=3), _act(0.0, 0.0, B=2))
    with pytest.raises(ValueError, match="reverse"):
        _state(-1.0)


@pytest.mark.parametrize("device", DEVICES)
def test_mixed_batch_matches_single_runs(device):
    B = 4
    pose = torch.tensor([[0.0, 0.0, 0.0], [5.0, -2.0, 1.0], [1.0, 1.0, -2.5], [0.0, 3.0, 3.1]])
    speed = torch.tensor([0.0, 10.0, 3.0, 25.0])
    act = Action(torch.tensor([0.2, -0.5, 0.6, 0.0]), torch.tensor([2.0, -8.0, 0.5, -1.0]))
    s = EgoState.from_pose(pose.to(device), speed.to(device))
    for _ in range(7):
        s = step_ego(s, Action(act.steer.to(device), act.accel.to(device)))
    assert s.x.device.type == device
    s = s.to("cpu")
    for b in range(B):
        sb = EgoState.from_pose(pose[b : b + 1], speed[b : b + 1])
        for _ in range(7):
            sb = step_ego(sb, Action(act.steer[b : b + 1], act.accel[b : b + 1]))
        assert torch.allclose(sb.pose(), s.pose()[b : b + 1], atol=1e-5)
        assert torch.allclose(sb.speed, s.speed[b : b + 1])
    assert s.x.dtype == torch.float32 and s.x.shape == (B,)


def test_substeps_converge_and_rate_limited_turn_is_consistent():
    # with a steering transient the path depends on sub-steps only to second order
    outs = []
    for k in (1, 4, 32):
        s = _state(15.0)
        for _ in range(10):
            s = step_ego(s, _act(0.4, 0.0), substeps=k)
        outs.append(s.pose())
    assert torch.allclose(outs[1], outs[2], atol=2e-3)
    assert (outs[0] - outs[2]).abs().max() > (outs[1] - outs[2]).abs().max()


def test_where_selects_per_environment():
    a = EgoState.from_pose(torch.zeros(3, 3), speed=1.0)
    b = EgoState.from_pose(torch.ones(3, 3), speed=2.0)
    c = a.where(torch.tensor([True, False, True]), b)
    assert c.speed.tolist() == [1.0, 2.0, 1.0] and c.x.tolist() == [0.0, 1.0, 0.0]


def test_box_pose_and_velocity():
    s = EgoState.from_pose(torch.tensor([[1.0, 2.0, math.pi / 2]]), speed=4.0)
    assert torch.allclose(s.box_pose(), torch.tensor([[1.0, 2.0 + EGO_BOX_CENTER_X, math.pi / 2]]), atol=1e-6)
    assert torch.allclose(s.velocity(), torch.tensor([[0.0, 4.0]]), atol=1e-6)
    # turning left at yaw rate w, the box centre also moves sideways at -w*offset (to the right of +y: -x)
    s = EgoState.from_pose(torch.zeros(1, 3), speed=4.0, steer=0.3)
    w = 4.0 * math.tan(0.3) / L
    assert torch.allclose(s.box_velocity(), torch.tensor([[4.0, w * EGO_BOX_CENTER_X]]), atol=1e-6)


def test_travel_closed_form():
    ds, v1 = travel(torch.tensor([10.0, 1.0, 0.0]), torch.tensor([2.0, -4.0, 3.0]), 0.5)
    assert torch.allclose(ds, torch.tensor([10 * 0.5 + 0.25, 1 / 8, 0.375]))
    assert torch.allclose(v1, torch.tensor([11.0, 0.0, 1.5]))
