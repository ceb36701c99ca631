"""Oriented-box geometry in the plane: corners, overlap, segment hits and time to collision.

All functions broadcast over any leading dimensions, so one call checks the ego against every
actor (ego (B, 1, 3) vs actors (B, N, 3)) or every actor pair ((B, N, 1, 3) vs (B, 1, N, 3)).
A box is a pose (x, y, yaw) of its centre and a size (length along the heading, width); sizes may
carry a third (height) column, as Scene.obj_size does, which is ignored.

Overlap uses the separating axis theorem (SAT): two convex shapes are disjoint iff their
projections on some axis are disjoint, and for boxes the face normals of both are the only axes
to try. Boxes are closed sets: touching edges count as overlap (a contact is a collision), and
`margin` inflates every box by that many metres on each side for safety buffers.
"""

from __future__ import annotations

import math

import torch


def _axes(yaw: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Unit heading and left axes (..., 2) of boxes with heading yaw (...)."""
    c, s = torch.cos(yaw), torch.sin(yaw)
    return torch.stack([c, s], -1), torch.stack([-s, c], -1)


def _half(size: torch.Tensor, margin: float) -> tuple[torch.Tensor, torch.Tensor]:
    if size.shape[-1] < 2:
        raise ValueError(
            f"box size needs (length, width) in its last dimension, got shape {tuple(size.shape)}"
        )
    return 0.5 * size[..., 0] + margin, 0.5 * size[..., 1] + margin


def box_corners(pose: torch.Tensor, size: torch.Tensor) -> torch.Tensor:
    """Corners (..., 4, 2) of boxes pose (..., 3), size (..., 2): front-left, rear-left, rear-right,
    front-right (counter-clockwise)."""
    fwd, left = _axes(pose[..., 2])
    hl, hw = _half(size, 0.0)
    f, l = fwd * hl[..., None], left * hw[..., None]  # (..., 2)
    c = pose[..., None, :2]  # (..., 1, 2)
    return c + torch.stack([f + l, -f + l, -f - l, f - l], -2)


def _radius(
    axis: torch.Tensor, fwd: torch.Tensor, left: torch.Tensor, hl: torch.Tensor, hw: torch.Tensor
) -> torch.Tensor:
    """Half-extent of a box's projection on unit axis (..., 2)."""
    return hl * (axis * fwd).sum(-1).abs() + hw * (axis * left).sum(-1).abs()


def obb_overlap(
    a_pose: torch.Tensor,
    a_size: torch.Tensor,
    b_pose: torch.Tensor,
    b_size: torch.Tensor,
    margin: float = 0.0,
) -> torch.Tensor:
    """True where box a overlaps or touches box b; inputs broadcast (poses (..., 3), sizes (..., 2+)).

    Returns a bool tensor of the broadcast leading shape. Boundary contact counts as overlap; with
    float32 inputs a "touch" is decided to about 1e-6 relative precision.
    """
    a_f, a_l = _axes(a_pose[..., 2])
    b_f, b_l = _axes(b_pose[..., 2])
    a_hl, a_hw = _half(a_size, margin)
    b_hl, b_hw = _half(b_size, margin)
    d = b_pose[..., :2] - a_pose[..., :2]  # (..., 2) centre offset
    separated = None
    for axis in (a_f, a_l, b_f, b_l):
        gap = (
            (d * axis).sum(-1).abs()
            - _radius(axis, a_f, a_l, a_hl, a_hw)
            - _radius(axis, b_f, b_l, b_hl, b_hw)
        )
        sep = gap > 0
        separated = sep if separated is None else separated | sep
    return ~separated


def segment_box_overlap(
    seg: torch.Tensor, pose: torch.Tensor, size: torch.Tensor, margin: float = 0.0
) -> torch.Tensor:
    """True where segment seg (..., 4) = (x0, y0, x1, y1) touches box pose (..., 3), size (..., 2+).

    A segment is a box of zero width, so SAT over the box's two axes and the segment's normal
    decides it (its direction is added too: it is cheap and keeps degenerate segments exact).
    A zero-length segment is a point.
    """
    fwd, left = _axes(pose[..., 2])
    hl, hw = _half(size, margin)
    p0, p1 = seg[..., 0:2], seg[..., 2:4]
    mid, half_vec = 0.5 * (p0 + p1), 0.5 * (p1 - p0)  # (..., 2)
    length = half_vec.norm(dim=-1, keepdim=True)
    u = half_vec / length.clamp(min=1e-12)  # (..., 2) unit direction (zero for a point)
    n = torch.stack([-u[..., 1], u[..., 0]], -1)
    d = mid - pose[..., :2]
    separated = None
    for axis in (fwd, left, u, n):
        r_seg = (half_vec * axis).sum(-1).abs()
        gap = (d * axis).sum(-1).abs() - _radius(axis, fwd, left, hl, hw) - r_seg
        sep = gap > 0
        separated = sep if separated is None else separated | sep
    return ~separated


def time_to_collision(
    ego_pose: torch.Tensor,
    ego_size: torch.Tensor,
    ego_vel: torch.Tensor,
    obj_pose: torch.Tensor,
    obj_size: torch.Tensor,
    obj_vel: torch.Tensor,
    horizon: float = 5.0,
    margin: float = 0.0,
) -> torch.Tensor:
    """First time in [0, horizon] s at which the two boxes touch when both keep their velocity
    (..., 2) m/s and heading; inf if never within the horizon. Inputs broadcast like obb_overlap.

    Exact, not sampled: with constant velocities and headings the relative motion is a pure
    translation, so the SAT axes are fixed and on each axis the projections overlap during one time
    interval; the boxes touch on the intersection of the four intervals. Nothing tunnels through,
    however fast. Already-overlapping boxes give 0. The constant-heading assumption is the usual
    one of TTC metrics (nuPlan, CARLA); a turning actor's TTC is that of its current velocity.
    """
    a_f, a_l = _axes(ego_pose[..., 2])
    b_f, b_l = _axes(obj_pose[..., 2])
    a_hl, a_hw = _half(ego_size, margin)
    b_hl, b_hw = _half(obj_size, margin)
    d = obj_pose[..., :2] - ego_pose[..., :2]  # (..., 2) offset at t = 0
    w = obj_vel - ego_vel  # (..., 2) relative velocity: offset(t) = d + w t
    t_enter = torch.zeros(torch.broadcast_shapes(d.shape, w.shape)[:-1], dtype=d.dtype, device=d.device)
    t_leave = torch.full_like(t_enter, horizon)
    for axis in (a_f, a_l, b_f, b_l):
        r = _radius(axis, a_f, a_l, a_hl, a_hw) + _radius(axis, b_f, b_l, b_hl, b_hw)
        p = (d * axis).sum(-1)  # projected offset at t = 0
        q = (w * axis).sum(-1)  # its rate
        moving = q.abs() > 1e-9
        q_safe = torch.where(moving, q, torch.ones_like(q))
        t1, t2 = (-r - p) / q_safe, (r - p) / q_safe  # |p + q t| <= r  <=>  t between t1 and t2
        lo = torch.where(moving, torch.minimum(t1, t2), torch.where(p.abs() <= r, -math.inf, math.inf))
        hi = torch.where(moving, torch.maximum(t1, t2), torch.where(p.abs() <= r, math.inf, -math.inf))
        t_enter = torch.maximum(t_enter, lo)
        t_leave = torch.minimum(t_leave, hi)
    hit = t_enter <= t_leave
    return torch.where(hit, t_enter, torch.full_like(t_enter, math.inf))
