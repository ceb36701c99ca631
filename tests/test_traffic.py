import math

import pytest
import torch

from e2edrive.sim.traffic import (
    IdmParams,
    idm_accel,
    polyline_point_at,
    polyline_project,
    pure_pursuit_steer,
    shift_along_heading,
    step_actor,
)

P = IdmParams()
L = 2.9


def test_idm_free_road():
    v = torch.tensor([0.0, 5.0, 10.0, 15.0, 20.0])
    a = idm_accel(v, 15.0, math.inf, 0.0)
    assert torch.allclose(a, P.a0 * (1 - (v / 15.0) ** P.delta))
    assert a[0].item() == pytest.approx(P.a0) and a[3].item() == pytest.approx(0.0, abs=1e-6)
    assert a[4].item() < 0  # above the desired speed it slows down (clipped at a_min at most)


def test_idm_equilibrium_gap_gives_zero_interaction():
    # leader at the same speed v at the equilibrium gap s* = s0 + v T: the interaction term is a0,
    # so the total is a0 (1 - (v/v0)^4) - a0 = -a0 (v/v0)^4, which is ~0 when v << v0
    for v in (0.0, 5.0, 10.0):
        s_star = P.s0 + v * P.T
        a = idm_accel(torch.tensor(v), 100.0, s_star, v)
        assert a.item() == pytest.approx(-P.a0 * (v / 100.0) ** 4, abs=1e-5)
    # hand-computed: v = 10, v0 = 20, leader 2 m/s slower, gap 30 m
    s_star = 2.0 + 10 * 1.5 + 10 * 2.0 / (2 * math.sqrt(1.5 * 2.0))
    expected = 1.5 * (1 - 0.5**4 - (s_star / 30.0) ** 2)
    assert idm_accel(torch.tensor(10.0), 20.0, 30.0, 8.0).item() == pytest.approx(expected, rel=1e-5)


def test_idm_brakes_for_stopped_leader_and_stops_behind_it():
    a = idm_accel(torch.tensor([15.0]), 15.0, torch.tensor([40.0]), 0.0)
    assert a.item() < -P.b  # must brake harder than comfortable at 40 m
    # simulate: follower stops short of the stopped leader, at about s0, never hitting it
    v, x, lead = torch.tensor([15.0]), torch.tensor([0.0]), 60.0
    min_gap = math.inf
    for _ in range(400):
        acc = idm_accel(v, 15.0, lead - x, 0.0)
        pose, v = step_actor(torch.stack([x, torch.zeros(1), torch.zeros(1)], -1), v, torch.zeros(1), acc, L)
        x = pose[:, 0]
        min_gap = min(min_gap, lead - x.item())
    assert v.item() < 0.05 and P.s0 * 0.8 < min_gap <= lead - x.item() + 1e-6 < P.s0 * 1.5


def test_idm_edge_conventions():
    assert idm_accel(torch.tensor(5.0), 10.0, 0.0, 0.0).item() == P.a_min  # touching
    assert idm_accel(torch.tensor(5.0), 10.0, 0.5, 0.0).item() == P.a_min  # clipped
    assert idm_accel(torch.tensor(5.0), 0.0, math.inf, 0.0).item() == -P.b  # told to stop
    assert idm_accel(torch.tensor(0.0), 0.0, math.inf, 0.0).item() == 0.0  # and holds
    batch = idm_accel(torch.full((2, 3), 8.0), torch.full((2, 3), 12.0), torch.full((2, 3), math.inf), 0.0)
    assert batch.shape == (2, 3)


def test_polyline_project_and_point_at():
    path = torch.tensor([[0.0, 0.0], [10.0, 0.0], [10.0, 0.0], [10.0, 10.0]])  # a repeated point
    s, d = polyline_project(torch.tensor([[3.0, 2.0], [12.0, 4.0], [-2.0, 0.0]]), path.expand(3, 4, 2))
    assert torch.allclose(s, torch.tensor([3.0, 14.0, 0.0])) and torch.allclose(
        d, torch.tensor([2.0, 2.0, 2.0])
    )
    pts = polyline_point_at(path.expand(4, 4, 2), torch.tensor([5.0, 10.0, 15.0, 25.0]))
    # past the end: the last segment extended (+y)
    assert torch.allclose(pts, torch.tensor([[5.0, 0.0], [10.0, 0.0], [10.0, 5.0], [10.0, 15.0]]))
    padded = torch.tensor([[0.0, 0.0], [10.0, 0.0], [10.0, 0.0], [10.0, 0.0]])  # padding repeats the end
    assert torch.allclose(polyline_point_at(padded, torch.tensor(13.0)), torch.tensor([13.0, 0.0]))


@pytest.mark.parametrize("R", [8.0, 30.0, 100.0])
def test_pure_pursuit_on_circle_commands_atan_L_over_R(R):
    n = int(math.pi * R / 0.25)  # a vertex every 25 cm: chord sag 0.25^2 / 8R stays << the target's y
    th = torch.linspace(0, math.pi, n)
    path = torch.stack([R * torch.sin(th), R * (1 - torch.cos(th))], -1)  # left turn from the origin
    steer = pure_pursuit_steer(torch.zeros(3), path, 6.0, L, max_steer=1.0)
    # the target is on the circle, so the pursuit arc is the circle itself
    assert steer.item() == pytest.approx(math.atan(L / R), rel=2e-3)
    # and batched over (B, N) actors with per-actor lookahead
    poses = torch.zeros(2, 3, 3)
    steer = pure_pursuit_steer(poses, path.expand(2, 3, n, 2), torch.full((2, 3), 6.0), L, max_steer=1.0)
    assert steer.shape == (2, 3) and torch.allclose(steer, steer[0, 0].expand(2, 3))


def test_pure_pursuit_converges_to_straight_line():
    path = torch.stack([torch.linspace(-10, 400, 42), torch.zeros(42)], -1)  # the x axis
    pose = torch.tensor([[0.0, 3.0, 0.4], [0.0, -2.0, -0.3]])  # offset and misaligned
    v = torch.full((2,), 10.0)
    for _ in range(150):  # 15 s
        steer = pure_pursuit_steer(pose, path.expand(2, 42, 2), 8.0, L)
        pose, v = step_actor(pose, v, steer, torch.zeros(2), L)
    assert pose[:, 1].abs().max() < 0.02 and pose[:, 2].abs().max() < 0.01


def test_step_actor_circle_and_shift():
    # 10 m/s at steer atan(L / 20): a circle of radius 20 m, exact arcs
    steer = torch.tensor([math.atan(L / 20.0)])
    pose, v = torch.zeros(1, 3), torch.tensor([10.0])
    for _ in range(10):
        pose, v = step_actor(pose, v, steer, torch.zeros(1), L)
    # 10 m of arc on R = 20: angle 0.5 rad
    expected = torch.tensor([[20 * math.sin(0.5), 20 * (1 - math.cos(0.5)), 0.5]])
    assert torch.allclose(pose, expected, atol=1e-5)
    centre = shift_along_heading(torch.tensor([1.0, 1.0, math.pi]), 1.45)
    assert torch.allclose(centre, torch.tensor([-0.45, 1.0, math.pi]), atol=1e-6)
    assert torch.allclose(shift_along_heading(centre, -1.45), torch.tensor([1.0, 1.0, math.pi]), atol=1e-6)
