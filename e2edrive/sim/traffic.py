"""Behaviour of other vehicles: car following (IDM), path following (pure pursuit), and their
kinematic step. Pure batched functions over any leading shape ((B,) or (B, N)); no scenario logic.

Actor vehicles use the same kinematic bicycle as the ego (sim.dynamics.arc_step, exact arcs) but
without the steering-rate limit: actors are scripted, their steering is smooth by construction.
Pure pursuit and the bicycle are exact about the rear axle, so both take the rear-axle pose;
`shift_along_heading` converts to and from the box-centre pose that Scene.obj_pose stores.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from e2edrive.core.constants import DT, MAX_STEER
from e2edrive.sim.dynamics import arc_step, travel


@dataclass(frozen=True)
class IdmParams:
    """Intelligent Driver Model parameters (Treiber, Hennecke & Helbing 2000), urban-car values."""

    a0: float = 1.5
    """m/s^2, maximum acceleration (the free-road acceleration from standstill)"""
    b: float = 2.0
    """m/s^2, comfortable deceleration; the model brakes harder only when it must"""
    T: float = 1.5
    """s, desired time headway to the leader"""
    s0: float = 2.0
    """m, jam distance: the bumper-to-bumper gap kept when stopped"""
    delta: float = 4.0
    """free-road exponent: how sharply acceleration falls as speed nears the desired speed"""
    a_min: float = -8.0
    """m/s^2, physical braking limit; the IDM's own deceleration is unbounded as the gap closes"""


def idm_accel(
    v: torch.Tensor,
    v_desired: torch.Tensor | float,
    gap: torch.Tensor | float,
    v_lead: torch.Tensor | float,
    params: IdmParams = IdmParams(),
) -> torch.Tensor:
    """IDM acceleration (m/s^2) for followers at speed v (...), shapes broadcast.

        a = a0 [1 - (v / v0)^delta - (s*(v, dv) / s)^2],  s* = s0 + max(0, v T + v dv / (2 sqrt(a0 b)))

    with dv = v - v_lead the approach rate and s = gap the bumper-to-bumper distance (m). gap = inf
    means no leader (free road). Conventions beyond Treiber's form, each needed in a simulator:
    the result is clipped to [a_min, a0]; gap <= 0 (already touching) brakes at a_min; v_desired <= 0
    brakes comfortably at b until stopped, then holds (a stop is better modelled as a stopped
    virtual leader at the stop line, which is what the IDM is designed for).
    """
    p = params
    v = torch.as_tensor(v)
    v0 = torch.as_tensor(v_desired, dtype=v.dtype, device=v.device)
    s = torch.as_tensor(gap, dtype=v.dtype, device=v.device)
    vl = torch.as_tensor(v_lead, dtype=v.dtype, device=v.device)
    has_v0 = v0 > 0
    ratio = v / torch.where(has_v0, v0, torch.ones_like(v0))
    free = torch.where(
        has_v0,
        p.a0 * (1 - ratio.clamp(min=0) ** p.delta),
        torch.where(v > 0, torch.full_like(v, -p.b), torch.zeros_like(v)),
    )
    s_star = p.s0 + torch.clamp(v * p.T + v * (v - vl) / (2 * (p.a0 * p.b) ** 0.5), min=0.0)
    s_pos = torch.where(s > 0, s, torch.ones_like(s))
    interaction = torch.where(torch.isinf(s), torch.zeros_like(s_star), p.a0 * (s_star / s_pos) ** 2)
    a = (free - interaction).clamp(min=p.a_min, max=p.a0)
    return torch.where(s > 0, a, torch.full_like(a, p.a_min))


def shift_along_heading(pose: torch.Tensor, dx: float | torch.Tensor) -> torch.Tensor:
    """Pose (..., 3) moved dx metres along its own heading, e.g. rear axle -> box centre with
    dx = length/2 - rear_overhang, and back with -dx."""
    c, s = torch.cos(pose[..., 2]), torch.sin(pose[..., 2])
    return torch.stack([pose[..., 0] + dx * c, pose[..., 1] + dx * s, pose[..., 2]], -1)


def polyline_project(xy: torch.Tensor, path_xy: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Closest point on polylines path_xy (..., P, 2) to points xy (..., 2).

    Returns (s, dist): arc length (...) of the projection from the path's first point, and the
    distance (...) to it. Repeated points (zero-length segments) are allowed.
    """
    a, b = path_xy[..., :-1, :], path_xy[..., 1:, :]  # (..., P-1, 2)
    seg = b - a
    seg_len = seg.norm(dim=-1)  # (..., P-1)
    t = (((xy[..., None, :] - a) * seg).sum(-1) / (seg_len**2).clamp(min=1e-12)).clamp(0.0, 1.0)
    closest = a + t[..., None] * seg
    dist = (xy[..., None, :] - closest).norm(dim=-1)  # (..., P-1)
    i = dist.argmin(-1, keepdim=True)  # (..., 1)
    cum = torch.cat([torch.zeros_like(seg_len[..., :1]), seg_len.cumsum(-1)], -1)  # (..., P)
    s = cum.gather(-1, i) + t.gather(-1, i) * seg_len.gather(-1, i)
    return s.squeeze(-1), dist.gather(-1, i).squeeze(-1)


def polyline_point_at(path_xy: torch.Tensor, s: torch.Tensor) -> torch.Tensor:
    """Point (..., 2) at arc length s (...) along polylines (..., P, 2); beyond either end the first or
    last segment is extended in a straight line (so a follower keeps going past the path's end)."""
    seg = path_xy[..., 1:, :] - path_xy[..., :-1, :]
    seg_len = seg.norm(dim=-1)
    cum = torch.cat([torch.zeros_like(seg_len[..., :1]), seg_len.cumsum(-1)], -1)  # (..., P)
    n_seg = seg_len.shape[-1]
    i = (torch.searchsorted(cum.contiguous(), s[..., None].contiguous(), right=True) - 1).clamp(0, n_seg - 1)
    # beyond the end: use the last segment with positive length (a padded path repeats its last point)
    last_valid = torch.where(
        seg_len > 1e-9, torch.arange(n_seg, device=s.device), torch.zeros_like(i[..., :1])
    )
    i = torch.minimum(i, last_valid.max(-1, keepdim=True).values)
    start = path_xy[..., :-1, :].gather(-2, i[..., None].expand(*i.shape, 2)).squeeze(-2)
    d = seg.gather(-2, i[..., None].expand(*i.shape, 2)).squeeze(-2)
    length = seg_len.gather(-1, i).squeeze(-1)
    u = d / length[..., None].clamp(min=1e-12)
    return start + u * (s - cum.gather(-1, i).squeeze(-1))[..., None]


def pure_pursuit_steer(
    pose: torch.Tensor,
    path_xy: torch.Tensor,
    lookahead: torch.Tensor | float,
    wheelbase: float,
    max_steer: float = MAX_STEER,
) -> torch.Tensor:
    """Front-wheel angle (...) that steers the rear axle pose (..., 3) onto polyline path_xy (..., P, 2).

    The target is the path point `lookahead` metres (arc length, (...) or scalar) past the rear
    axle's projection on the path; pure pursuit (Coulter 1992) drives the circle through the rear
    axle, tangent to the heading, that reaches it: curvature 2 y / l^2 with (x, y) the target in
    the vehicle frame and l its distance; steer = atan(L curvature), clipped to +-max_steer.
    A typical lookahead grows with speed, e.g. clamp(1.0 * v, 4, 20) m.
    """
    s_proj, _ = polyline_project(pose[..., :2], path_xy)
    la = torch.as_tensor(lookahead, dtype=pose.dtype, device=pose.device)
    target = polyline_point_at(path_xy, s_proj + la)  # (..., 2)
    dx, dy = target[..., 0] - pose[..., 0], target[..., 1] - pose[..., 1]
    c, s = torch.cos(pose[..., 2]), torch.sin(pose[..., 2])
    lx, ly = c * dx + s * dy, -s * dx + c * dy  # target in the vehicle frame
    kappa = 2 * ly / (lx * lx + ly * ly).clamp(min=1e-6)
    return torch.atan(wheelbase * kappa).clamp(-max_steer, max_steer)


def step_actor(
    pose: torch.Tensor,
    speed: torch.Tensor,
    steer: torch.Tensor,
    accel: torch.Tensor,
    wheelbase: float,
    dt: float = DT,
    substeps: int = 2,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Kinematic bicycle step for actor vehicles about the rear axle; all inputs (...) except pose (..., 3).

    steer (rad) is applied at once (no rate limit) and held; accel (m/s^2) is exact and the speed
    stops at zero rather than reversing. Returns (pose (..., 3), speed (...)). The yaw rate of the
    step, for labels, is wrap(yaw_end - yaw_start) / dt.
    """
    if substeps < 1 or dt <= 0:
        raise ValueError(f"step_actor needs dt > 0 and substeps >= 1, got dt={dt}, substeps={substeps}")
    x, y, yaw = pose[..., 0], pose[..., 1], pose[..., 2]
    kappa = torch.tan(steer) / wheelbase
    h = dt / substeps
    v = speed
    for _ in range(substeps):
        ds, v = travel(v, accel, h)
        x, y, yaw = arc_step(x, y, yaw, ds, kappa * ds)
    return torch.stack([x, y, yaw], -1), v
