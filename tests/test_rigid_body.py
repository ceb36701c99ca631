import math

import pytest
import torch

from e2edrive.sim.rigid_body import (
    G,
    RigidBodyParams,
    RigidBodyState,
    kinetic_energy,
    lose_traction,
    step_rigid_body,
)

DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
WALL_X5 = torch.tensor([[[5.0, -20.0, 5.0, 20.0]]])  # (1, 1, 4) a barrier along x = 5


def _body(x=0.0, y=0.0, yaw=0.0, vx=0.0, vy=0.0, w=0.0):
    f = lambda v: torch.tensor([float(v)])  # noqa: E731
    return RigidBodyState(f(x), f(y), f(yaw), f(vx), f(vy), f(w))


def test_free_body_conserves_momentum_and_angular_momentum():
    p = RigidBodyParams(mu_front=0.0, mu_rear=0.0)
    g = torch.Generator().manual_seed(0)
    B = 6
    # float64: conservation is exact up to rounding, and float32's rounding of m x v at 180000 kg m^2/s
    # would hide a real leak
    scale = torch.tensor([5, 5, 1, 10, 10, 2.0], dtype=torch.float64)[:, None]
    s0 = RigidBodyState(*(torch.randn(6, B, generator=g, dtype=torch.float64) * scale))
    s = s0
    for _ in range(30):
        s, hit = step_rigid_body(s, p)
    t = 3.0
    m, I = p.mass, p.yaw_inertia
    assert s.x.dtype == torch.float64
    assert torch.allclose(s.velocity(), s0.velocity()) and torch.allclose(s.yaw_rate, s0.yaw_rate)
    assert torch.allclose(s.x, s0.x + s0.vx * t) and torch.allclose(s.yaw, s0.yaw + s0.yaw_rate * t)

    def ang(st):  # about the world origin
        return I * st.yaw_rate + m * (st.x * st.vy - st.y * st.vx)

    assert torch.allclose(ang(s), ang(s0), rtol=1e-12)
    assert not hit.any()


@pytest.mark.parametrize("direction", [0.0, math.pi / 2, 2.3])  # forward, sideways, oblique slide
def test_locked_slide_stops_in_v2_over_2_mu_g(direction):
    mu, v0 = 0.7, 20.0
    p = RigidBodyParams(mu_front=mu, mu_rear=mu, wheels_locked=True)
    s = _body(vx=v0 * math.cos(direction), vy=v0 * math.sin(direction))
    steps = 0
    while math.hypot(s.vx.item(), s.vy.item()) > 1e-4 and steps < 100:
        s, _ = step_rigid_body(s, p)
        steps += 1
    expected = v0**2 / (2 * mu * G)  # 29.1 m
    assert math.hypot(s.x.item(), s.y.item()) == pytest.approx(expected, rel=1e-3)
    assert steps == math.ceil(v0 / (mu * G) / 0.1 - 1e-6)  # stops within the step it should
    # the loads are balanced about the CoM (lf N_f = lr N_r): a slide does not turn; what remains is
    # the splitting error of solving the axles in turn (measured 0.08 deg over 29 m oblique)
    assert abs(s.yaw.item()) < 3e-3


def test_rolling_wheels_keep_speed_and_corner_like_a_bicycle():
    p = RigidBodyParams()
    s = _body(vx=15.0)
    for _ in range(20):
        s, _ = step_rigid_body(s, p)
    assert s.vx.item() == pytest.approx(15.0 - 0.01 * G * 2.0, rel=2e-5)  # rolling resistance only
    # gentle steering (lateral acceleration 1.7 m/s^2 << mu g): the kinematic yaw rate v tan(d) / L
    delta, v = 0.05, 10.0
    s = _body(vx=v)
    for _ in range(30):
        s, _ = step_rigid_body(s, p, steer=torch.tensor([delta]))
    assert s.yaw_rate.item() == pytest.approx(v * math.tan(delta) / 2.9, rel=0.03)
    # drive command within grip: exact acceleration
    s = _body(vx=5.0)
    s, _ = step_rigid_body(s, p, accel=torch.tensor([2.0]))
    assert s.vx.item() == pytest.approx(5.0 + (2.0 - 0.01 * G) * 0.1, rel=1e-5)


@pytest.mark.parametrize("v0", [12.0, -3.0])  # rolling forwards, or backwards after a bounce
def test_brake_decelerates_rolling_car_and_never_reverses_it(v0):
    p = RigidBodyParams(rolling_resistance=0.0)
    s = _body(yaw=0.7, vx=v0 * math.cos(0.7), vy=v0 * math.sin(0.7))
    s, _ = step_rigid_body(s, p, brake=torch.tensor([4.0]))
    assert math.hypot(s.vx.item(), s.vy.item()) == pytest.approx(abs(v0) - 0.4, rel=1e-5)
    for _ in range(40):
        s, _ = step_rigid_body(s, p, brake=torch.tensor([4.0]))
    assert math.hypot(s.vx.item(), s.vy.item()) < 1e-5
    d = math.hypot(s.x.item(), s.y.item())
    assert d == pytest.approx(v0**2 / 8.0, rel=1e-3)  # v^2 / (2 a)
    # the brake is limited by grip: 4 m/s^2 asked, mu g = 2.94 m/s^2 available
    s, _ = step_rigid_body(
        _body(vx=12.0),
        RigidBodyParams(mu_front=0.3, mu_rear=0.3, rolling_resistance=0.0),
        brake=torch.tensor([4.0]),
    )
    assert s.vx.item() == pytest.approx(12.0 - 0.3 * G * 0.1, rel=1e-5)
    with pytest.raises(ValueError, match="brake"):
        step_rigid_body(_body(vx=1.0), p, brake=torch.tensor([-1.0]))


def test_head_on_barrier_impact_through_the_centre():
    e = 0.5
    p = RigidBodyParams(mu_front=0.0, mu_rear=0.0, restitution=e)
    s = _body(x=0.0, vx=10.0)  # front face at x = 2.35, reaches the wall after 0.265 s
    ke0 = kinetic_energy(s, p).item()
    hits = []
    for _ in range(10):
        s, hit = step_rigid_body(s, p, WALL_X5)
        hits.append(bool(hit))
    assert hits == [False, False, True] + [False] * 7  # impact in the step of 0.2-0.3 s
    assert s.vx.item() == pytest.approx(-e * 10.0, rel=1e-5)
    assert abs(s.vy.item()) < 1e-5 and abs(s.yaw_rate.item()) < 1e-5  # no spin through the CoM
    assert kinetic_energy(s, p).item() == pytest.approx(e**2 * ke0, rel=1e-4)
    assert s.x.item() + 2.35 < 5.0  # out of the wall


def test_oblique_impact_bounces_spins_and_loses_energy():
    p = RigidBodyParams(mu_front=0.0, mu_rear=0.0, restitution=0.3, barrier_friction=0.4)
    # heading 30 deg into the wall: the front-left corner hits first, off the centre of mass
    s = _body(
        x=0.0, yaw=math.radians(30), vx=12 * math.cos(math.radians(30)), vy=12 * math.sin(math.radians(30))
    )
    ke = [kinetic_energy(s, p).item()]
    hit_any = False
    for _ in range(15):
        s, hit = step_rigid_body(s, p, WALL_X5)
        hit_any |= bool(hit)
        ke.append(kinetic_energy(s, p).item())
    assert hit_any
    assert s.vx.item() < 0  # bounced back
    assert abs(s.yaw_rate.item()) > 0.5  # picked up spin
    assert all(b <= a * (1 + 1e-6) for a, b in zip(ke, ke[1:])) and ke[-1] < 0.6 * ke[0]


def test_spinout_spins_hits_barrier_and_energy_never_increases():
    B = 2
    p = RigidBodyParams()
    s = RigidBodyState.from_pose(torch.zeros(B, 3), speed=25.0)
    barriers = torch.tensor([[[-50.0, 2.6, 300.0, 2.6], [-50.0, -6.0, 300.0, -6.0]]]).expand(B, 2, 4)
    for _ in range(5):  # normal driving first
        s, hit = step_rigid_body(s, p, barriers)
    assert not hit.any()
    mask = torch.tensor([True, False])
    s, p = lose_traction(s, p, mask, yaw_kick=torch.tensor([0.8, 0.8]))
    assert s.yaw_rate.tolist() == pytest.approx([0.8, 0.0])
    assert p.mu_rear.tolist() == pytest.approx([0.15, 0.9]) and p.wheels_locked.tolist() == [True, False]
    ke = kinetic_energy(s, p)
    first_hit, max_yaw, n_hits = None, 0.0, 0
    for k in range(80):
        s, hit = step_rigid_body(s, p, barriers)
        new = kinetic_energy(s, p)
        assert (new <= ke * (1 + 1e-5) + 1e-3).all(), f"energy grew at step {k}"
        ke = new
        if hit[0] and first_hit is None:
            first_hit = k
        n_hits += int(hit[0])
        assert not hit[1]
        max_yaw = max(max_yaw, abs(s.yaw[0].item()))
    assert first_hit is not None and first_hit < 30  # hits the barrier within 3 s
    assert n_hits <= 3  # scraping along the barrier afterwards is contact, not a stream of impacts
    assert max_yaw > math.pi  # it spun round (the barrier then turns it partly back)
    assert math.hypot(s.vx[0].item(), s.vy[0].item()) < 0.5  # and slid to rest
    assert s.y[0].item() < 2.6  # on the road side of the barrier
    assert s.vx[1].item() == pytest.approx(25.0 - 0.01 * G * 8.5, rel=1e-4)  # the other one drove on


def test_rolling_spinout_with_panic_steer_and_brake_dissipates():
    # the world's variant: wheels keep rolling, the driver steers into the spin and brakes
    p = RigidBodyParams(mu_rear=torch.tensor([0.9]), wheels_locked=torch.tensor([False]))
    s = RigidBodyState.from_pose(torch.zeros(1, 3), speed=20.0)
    barriers = torch.tensor([[[-50.0, 5.5, 300.0, 5.5], [-50.0, -5.5, 300.0, -5.5]]])
    s, p = lose_traction(s, p, torch.tensor([True]), yaw_kick=0.9, mu_rear=0.12, lock_wheels=False)
    ke, hits = kinetic_energy(s, p), []
    for k in range(80):
        s, hit = step_rigid_body(s, p, barriers, steer=torch.tensor([0.12]), brake=torch.tensor([2.0]))
        new = kinetic_energy(s, p)
        assert (new <= ke * (1 + 1e-5) + 1e-3).all(), f"energy grew at step {k}"
        ke = new
        hits.append(bool(hit))
    assert any(hits) and sum(hits) <= 3
    assert abs(s.y.item()) + 0.95 <= 5.5 + 1e-3  # never ends up through a barrier
    assert ke.item() < 1e-3 * 0.5 * 1500 * 20**2


@pytest.mark.parametrize("device", DEVICES)
def test_batched_actors_and_invalid_barriers(device):
    B, N = 2, 3
    s = RigidBodyState.from_pose(torch.zeros(B, N, 3, device=device), speed=10.0)
    p = RigidBodyParams(mu_front=0.0, mu_rear=0.0, restitution=1.0)
    barriers = WALL_X5.expand(B, 1, 4).to(device)
    valid = torch.tensor([[True], [False]], device=device)
    hit_any = torch.zeros(B, N, dtype=torch.bool, device=device)
    for _ in range(6):
        s, hit = step_rigid_body(s, p, barriers, barrier_valid=valid)
        assert hit.shape == (B, N) and hit.device.type == device
        hit_any |= hit
    s, hit_any = s.to("cpu"), hit_any.cpu()
    assert hit_any[0].all() and not hit_any[1].any()
    assert torch.allclose(s.vx[0], torch.full((N,), -10.0), rtol=1e-5)  # elastic
    assert torch.allclose(s.vx[1], torch.full((N,), 10.0))


def test_bad_inputs_raise():
    with pytest.raises(ValueError, match="barriers must be"):
        step_rigid_body(_body(), RigidBodyParams(), torch.zeros(1, 4))
    with pytest.raises(ValueError, match="substeps"):
        step_rigid_body(_body(), RigidBodyParams(), substeps=0)
