"""A car as a 2D rigid body with tyre friction and barrier impacts: the spinning car of scenario
`spinout_ahead` (it loses its rear grip, spins, hits the road-edge barrier and bounces back).

Model. The body (mass m, yaw inertia I, centre of mass at the centre of its box) touches the road
at two points, the front and rear axle centres, with static normal loads N_f = m g lr / L and
N_r = m g lf / L (no load transfer). Tyre forces are Coulomb friction applied as impulses at those
points, once per sub-step of h seconds, at most mu N h each. A rolling wheel grips sideways: its
impulse cancels the axle's lateral slip if the friction circle allows, else saturates. A locked
wheel slides: its impulse opposes the slip velocity (maximal dissipation), saturated at mu N h and
capped so that it cancels at most the slip along that direction. An impulse that cancels a fraction
lambda in [0, 1] of the slip along its own direction changes the kinetic energy by
-lambda (1 - lambda / 2) m_eff v^2 <= 0, so grip, sliding and spinning all dissipate energy, with no
stiffness to tune and without the instability of a stiff linear tyre integrated explicitly. The
axles are solved in turn, alternating the order every sub-step. Positions use the trapezoidal
rule, exact for constant velocity and for constant deceleration. Rolling wheels feel rolling
resistance and the brake command; aerodynamic drag is left out.

Barrier contact: the box corners across the most deeply penetrated barrier segment touch it at
their depth-weighted mean (a square hit acts through the middle of the face, a corner hit at the
corner); that point gets a normal impulse with restitution e and a Coulomb friction impulse
bounded by mu_b times it, then the body is pushed out of the barrier. One contact per body per
sub-step; corners only (a barrier end poking into the car's side is not seen: barriers are long
road edges). A body must not cross a barrier within one sub-step: keep speed * dt / substeps below
half the car's width (8 sub-steps at 0.1 s allow 76 m/s for a 1.9 m wide car).
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace

import torch

from e2edrive.core.constants import DT
from e2edrive.sim.collision import box_corners

G = 9.81  # m/s^2


@dataclass
class RigidBodyState:
    """Planar rigid bodies, world frame; every field (...) float32, e.g. (B,) or (B, N).

    x, y:      m, centre of mass (= centre of the box, the pose Scene.obj_pose takes)
    yaw:       rad, heading (not wrapped: a spinning car's accumulated rotation stays readable)
    vx, vy:    m/s, world-frame velocity of the centre of mass
    yaw_rate:  rad/s
    """

    x: torch.Tensor
    y: torch.Tensor
    yaw: torch.Tensor
    vx: torch.Tensor
    vy: torch.Tensor
    yaw_rate: torch.Tensor

    @staticmethod
    def from_pose(
        pose: torch.Tensor, speed: torch.Tensor | float = 0.0, yaw_rate: torch.Tensor | float = 0.0
    ) -> RigidBodyState:
        """Body at pose (..., 3) moving forward along its heading at speed (...) m/s, e.g. a car that
        was driven kinematically until now."""
        zeros = torch.zeros_like(pose[..., 0])
        v = zeros + torch.as_tensor(speed, dtype=zeros.dtype, device=zeros.device)
        w = zeros + torch.as_tensor(yaw_rate, dtype=zeros.dtype, device=zeros.device)
        yaw = pose[..., 2]
        return RigidBodyState(pose[..., 0], pose[..., 1], yaw, v * torch.cos(yaw), v * torch.sin(yaw), w)

    def pose(self) -> torch.Tensor:
        """(..., 3) (x, y, yaw)."""
        return torch.stack([self.x, self.y, self.yaw], -1)

    def velocity(self) -> torch.Tensor:
        """(..., 2) world-frame velocity of the centre of mass."""
        return torch.stack([self.vx, self.vy], -1)

    def to(self, device) -> RigidBodyState:
        return replace(self, **{f.name: getattr(self, f.name).to(device) for f in fields(self)})


@dataclass
class RigidBodyParams:
    """Physical parameters; each a float or a tensor broadcastable to the state's shape (per body).

    Defaults: a 1500 kg mid-size sedan on dry asphalt hitting a concrete barrier.
    """

    mass: torch.Tensor | float = 1500.0
    """kg"""
    yaw_inertia: torch.Tensor | float = 2700.0
    """kg m^2 about the vertical axis (a sedan: about m lf lr 1.2)"""
    length: torch.Tensor | float = 4.7
    """m, collision box length"""
    width: torch.Tensor | float = 1.9
    """m, collision box width"""
    lf: torch.Tensor | float = 1.3
    """m, centre of mass to front axle"""
    lr: torch.Tensor | float = 1.6
    """m, centre of mass to rear axle"""
    mu_front: torch.Tensor | float = 0.9
    """tyre-road friction coefficient of the front axle"""
    mu_rear: torch.Tensor | float = 0.9
    """tyre-road friction coefficient of the rear axle (lose_traction drops it)"""
    rolling_resistance: torch.Tensor | float = 0.01
    """rolling-resistance coefficient of rolling tyres (0.01: a car on asphalt, 0.1 m/s^2)"""
    wheels_locked: torch.Tensor | bool = False
    """True: brakes locked, the tyres slide in every direction; False: they roll freely and grip sideways"""
    restitution: torch.Tensor | float = 0.3
    """coefficient of restitution against a barrier (a car body crumples: 0.1 to 0.4)"""
    barrier_friction: torch.Tensor | float = 0.4
    """Coulomb friction coefficient of body against barrier at the contact point"""


def kinetic_energy(state: RigidBodyState, params: RigidBodyParams) -> torch.Tensor:
    """(...) J, translational plus rotational."""
    return 0.5 * params.mass * (state.vx**2 + state.vy**2) + 0.5 * params.yaw_inertia * state.yaw_rate**2


def lose_traction(
    state: RigidBodyState,
    params: RigidBodyParams,
    mask: torch.Tensor,
    yaw_kick: torch.Tensor | float = 0.6,
    mu_rear: float = 0.15,
    lock_wheels: bool = True,
) -> tuple[RigidBodyState, RigidBodyParams]:
    """The spin-out event for bodies where mask (...) is True: the rear grip drops to mu_rear (ice,
    oil, a blown tyre), the yaw rate jumps by yaw_kick rad/s (sign = spin direction: + is
    counter-clockwise), and with lock_wheels the driver's panic braking locks all wheels, so the car
    slides and sliding friction brings it to rest."""
    kick = torch.as_tensor(yaw_kick, dtype=state.yaw_rate.dtype, device=state.yaw_rate.device)
    state = replace(state, yaw_rate=torch.where(mask, state.yaw_rate + kick, state.yaw_rate))
    mu_r = torch.as_tensor(params.mu_rear, dtype=state.x.dtype, device=state.x.device)
    locked = torch.as_tensor(params.wheels_locked, device=state.x.device)
    params = replace(
        params,
        mu_rear=torch.where(mask, torch.full_like(state.x, mu_rear), mu_r),
        wheels_locked=(mask if lock_wheels else torch.zeros_like(mask)) | locked,
    )
    return state, params


def _cross(r: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """z component of r x v for (..., 2) vectors."""
    return r[..., 0] * v[..., 1] - r[..., 1] * v[..., 0]


def _apply(v, w, P, r, m, I):
    """Velocity (..., 2) and yaw rate (...) after impulse P (..., 2) at offset r (..., 2) from the CoM."""
    return v + P / m[..., None], w + _cross(r, P) / I


def _point_velocity(v, w, r):
    return v + w[..., None] * torch.stack([-r[..., 1], r[..., 0]], -1)


def _tyre(v, w, r, heading, locked, budget, drive, brake, m, I):
    """Velocity and yaw rate after one axle's tyre impulse (Coulomb, at most `budget` N s in norm).

    A rolling wheel (heading (..., 2)) first takes the longitudinal impulse: drive (signed, along the
    heading) plus brake (>= 0, against the rolling velocity and never beyond stopping it), then
    cancels its sideways slip with what the friction circle leaves. Applying the two in turn keeps
    each one dissipative. A locked wheel's impulse opposes its slip velocity: sliding Coulomb friction.
    """
    vc = _point_velocity(v, w, r)  # (..., 2)
    # locked: capped so that it cancels at most the slip along its direction (k_uu: inverse
    # effective mass of the contact point along u)
    speed = vc.norm(dim=-1)
    u = vc / speed.clamp(min=1e-12)[..., None]
    k_uu = 1 / m + _cross(r, u) ** 2 / I
    v_lock, w_lock = _apply(v, w, -u * torch.minimum(budget, speed / k_uu)[..., None], r, m, I)
    # rolling
    v_roll = (vc * heading).sum(-1)
    k_hh = 1 / m + _cross(r, heading) ** 2 / I
    p_brake = -torch.sign(v_roll) * torch.minimum(brake, v_roll.abs() / k_hh)
    p_long = (drive + p_brake).clamp(-budget, budget)
    v1, w1 = _apply(v, w, heading * p_long[..., None], r, m, I)
    lateral = torch.stack([-heading[..., 1], heading[..., 0]], -1)
    k_nn = 1 / m + _cross(r, lateral) ** 2 / I
    lat_budget = (budget**2 - p_long**2).clamp(min=0).sqrt()
    p_lat = (-(_point_velocity(v1, w1, r) * lateral).sum(-1) / k_nn).clamp(-lat_budget, lat_budget)
    v_roll_end, w_roll_end = _apply(v1, w1, lateral * p_lat[..., None], r, m, I)
    return torch.where(locked[..., None], v_lock, v_roll_end), torch.where(locked, w_lock, w_roll_end)


def _barrier_geometry(barriers, barrier_valid, S, ref):
    """Per-step constants of the barrier segments, shaped to broadcast against bodies S = (B, ...):
    start p0, unit direction u and normal n (B, 1.., M, 2), p0.u, p0.n, length and valid (B, 1.., 1, M)."""
    B, M = barriers.shape[0], barriers.shape[1]
    lead = (B, *([1] * (len(S) - 1)))
    bar = barriers.to(ref).reshape(*lead, M, 4)
    p0, seg = bar[..., 0:2], bar[..., 2:4] - bar[..., 0:2]
    length = seg.norm(dim=-1)
    u = seg / length.clamp(min=1e-9)[..., None]
    n = torch.stack([-u[..., 1], u[..., 0]], -1)
    valid = torch.ones(B, M, dtype=torch.bool, device=ref.device) if barrier_valid is None else barrier_valid

    def row(t):  # (B, 1.., M) -> (B, 1.., 1, M)
        return t[..., None, :]

    return (
        p0,
        u,
        n,
        row((p0 * u).sum(-1)),
        row((p0 * n).sum(-1)),
        row(length),
        row(valid.to(ref.device).reshape(*lead, M)),
    )


def _barrier_contact(pose, size, geom):
    """Deepest barrier contact per body: (has_contact (...), point (..., 2), normal (..., 2), depth (...)).

    Matrix products project the 4 corners on every barrier's axes at once: (..., 4, 2) @ (..., 2, M).
    """
    p0, u, n, p0_u, p0_n, length, valid = geom
    corners = box_corners(pose, size)  # (..., 4, 2)
    n_t, u_t = n.transpose(-1, -2), u.transpose(-1, -2)  # (B, 1.., 2, M)
    side = torch.where(pose[..., None, :2] @ n_t >= p0_n, 1.0, -1.0)  # (..., 1, M): +1 body left of segment
    depth = side * (p0_n - corners @ n_t)  # (..., 4, M) > 0: corner across the barrier line
    along = corners @ u_t - p0_u
    inside = (along >= 0) & (along <= length) & valid & (depth > 0)
    depth = torch.where(inside, depth, torch.zeros_like(depth))
    best = depth.amax(-2).argmax(-1, keepdim=True)  # (..., 1) deepest barrier
    d_best = depth.gather(-1, best[..., None, :].expand(*best.shape[:-1], 4, 1)).squeeze(-1)  # (..., 4)
    weight = d_best / d_best.sum(-1, keepdim=True).clamp(min=1e-12)
    point = (weight[..., None] * corners).sum(-2)  # (..., 2)
    n_best = n.expand(*best.shape[:-1], *n.shape[-2:]).gather(-2, best[..., None].expand(*best.shape, 2))
    normal = side.squeeze(-2).gather(-1, best) * n_best.squeeze(-2)  # (..., 2) towards the body
    max_depth = d_best.amax(-1)
    return max_depth > 0, point, normal, max_depth


def step_rigid_body(
    state: RigidBodyState,
    params: RigidBodyParams,
    barriers: torch.Tensor | None = None,
    dt: float = DT,
    substeps: int = 8,
    barrier_valid: torch.Tensor | None = None,
    steer: torch.Tensor | None = None,
    accel: torch.Tensor | None = None,
    brake: torch.Tensor | None = None,
    impact_speed: float = 0.5,
) -> tuple[RigidBodyState, torch.Tensor]:
    """Advance bodies (...) = (B,) or (B, N) by dt seconds.

    barriers: (B, M, 4) (x0, y0, x1, y1) segments (Scene.barriers), barrier_valid (B, M) bool.
    steer:    (...) rad front-wheel angle (rolling wheels only)
    accel:    (...) m/s^2 signed drive command along the heading (an engine: it can add energy)
    brake:    (...) m/s^2 >= 0 deceleration by the brakes against the rolling direction, forwards or
              backwards, never reversing it (what a panicking driver does; dissipative)
    Longitudinal commands are shared by the axles in proportion to their load and limited by their
    grip; rolling resistance (params) always acts on rolling wheels.
    Returns the new state and impact (...) bool: True where the body hit a barrier during this step
    with a closing speed above impact_speed m/s: scraping along it, or being steered or pushed into it
    (closing speeds of about mu g h, 0.1 m/s per sub-step), is contact but not a new impact.
    """
    if substeps < 1 or dt <= 0:
        raise ValueError(f"step_rigid_body needs dt > 0 and substeps >= 1, got dt={dt}, substeps={substeps}")
    if barriers is not None and (
        barriers.dim() != 3 or barriers.shape[-1] != 4 or barriers.shape[0] != state.x.shape[0]
    ):
        raise ValueError(
            f"barriers must be (B, M, 4) with B = {state.x.shape[0]}, got {tuple(barriers.shape)}"
        )
    ref = state.x
    if not ref.is_floating_point():
        raise ValueError(f"RigidBodyState must hold floating-point tensors, got {ref.dtype}")
    S = ref.shape

    def t(v):
        return torch.as_tensor(v, dtype=ref.dtype, device=ref.device).expand(S)

    m, I, lf, lr = t(params.mass), t(params.yaw_inertia), t(params.lf), t(params.lr)
    locked = torch.as_tensor(params.wheels_locked, device=ref.device).expand(S)
    e, mu_b = t(params.restitution), t(params.barrier_friction)
    size = torch.stack([t(params.length), t(params.width)], -1)  # (..., 2)
    steer_t = t(0.0 if steer is None else steer)
    accel_t = t(0.0 if accel is None else accel)
    brake_t = t(0.0 if brake is None else brake)
    if brake is not None and (brake_t < 0).any():
        raise ValueError(
            "brake is a deceleration magnitude and must be >= 0 (use accel for a signed command)"
        )
    brake_t = brake_t + t(params.rolling_resistance) * G
    h = dt / substeps
    wheelbase = lf + lr
    budget_f = t(params.mu_front) * m * G * lr / wheelbase * h  # N s per sub-step
    budget_r = t(params.mu_rear) * m * G * lf / wheelbase * h
    drive_f = accel_t * m * lr / wheelbase * h  # load-proportional share of m a h
    drive_r = accel_t * m * lf / wheelbase * h
    brake_f = brake_t * m * lr / wheelbase * h
    brake_r = brake_t * m * lf / wheelbase * h

    has_barriers = barriers is not None and barriers.shape[1] > 0
    if has_barriers:
        geom = _barrier_geometry(barriers, barrier_valid, S, ref)
    x, y, yaw = state.x, state.y, state.yaw
    v, w = state.velocity(), state.yaw_rate
    impact = torch.zeros(S, dtype=torch.bool, device=ref.device)
    for i in range(substeps):
        fwd = torch.stack([torch.cos(yaw), torch.sin(yaw)], -1)  # (..., 2)
        front_heading = torch.stack([torch.cos(yaw + steer_t), torch.sin(yaw + steer_t)], -1)
        v_old, w_old = v, w
        axles = [
            (fwd * lf[..., None], front_heading, budget_f, drive_f, brake_f),
            (-fwd * lr[..., None], fwd, budget_r, drive_r, brake_r),
        ]
        # the axles are solved one after the other (each impulse sees the other's effect, which keeps
        # every impulse dissipative); alternating the order cancels the bias that a fixed order adds
        for r, heading, budget, drive, brake_imp in axles if i % 2 == 0 else axles[::-1]:
            v, w = _tyre(v, w, r, heading, locked, budget, drive, brake_imp, m, I)
        x = x + 0.5 * h * (v_old[..., 0] + v[..., 0])
        y = y + 0.5 * h * (v_old[..., 1] + v[..., 1])
        yaw = yaw + 0.5 * h * (w_old + w)
        if has_barriers:
            contact, point, n, depth = _barrier_contact(torch.stack([x, y, yaw], -1), size, geom)
            r = point - torch.stack([x, y], -1)
            v_n = (_point_velocity(v, w, r) * n).sum(-1)
            closing = contact & (v_n < 0)
            k_n = 1 / m + _cross(r, n) ** 2 / I
            j_n = torch.where(closing, -(1 + e) * v_n / k_n, torch.zeros_like(v_n))
            v, w = _apply(v, w, n * j_n[..., None], r, m, I)
            tang = torch.stack([-n[..., 1], n[..., 0]], -1)
            v_t = (_point_velocity(v, w, r) * tang).sum(-1)
            k_t = 1 / m + _cross(r, tang) ** 2 / I
            j_t = (-v_t / k_t).clamp(-mu_b * j_n, mu_b * j_n)
            v, w = _apply(v, w, tang * j_t[..., None], r, m, I)
            impact = impact | (closing & (v_n < -impact_speed))
            push = torch.where(contact, depth, torch.zeros_like(depth))[..., None] * n
            x, y = x + push[..., 0], y + push[..., 1]
    return RigidBodyState(x, y, yaw, v[..., 0], v[..., 1], w), impact
