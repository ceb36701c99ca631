"""Paths of cross traffic: a car on a junction arm drives a straight world line and, if it turns,
leaves it on a quarter circle into its exit lane, which it then drives straight.

A path is given per actor by its line (x0, y0, yaw0), the path coordinate s0 where the arc
starts (inf: straight on) and the arc's signed curvature k (1/m, positive turns left). The arc
turns by a quarter over its length L = pi / (2 |k|). With s the arc length from the line's
origin and sigma = s - s0:

    s <= s0           p = (x0, y0) + s (cos yaw0, sin yaw0),                 heading yaw0
    0 < sigma <= L    p = p(s0) + (sin h - sin yaw0, cos yaw0 - cos h) / k,  heading h = yaw0 + k sigma
    sigma > L         p = p(s0 + L) + (sigma - L) (cos h1, sin h1),          heading h1 = h(L)

The arc's centre is p(s0) + (-sin yaw0, cos yaw0) / k. A straight path (s0 = inf) is computed
with the line's own formulas, bit for bit as before turns existed. h(L) = yaw0 + sign(k) pi/2.
"""

from __future__ import annotations

import math

import torch

QUARTER = math.pi / 2


def _arc(x0, y0, yaw0, s0, k):
    """Turning paths' arc start (xs, ys), centre (xc, yc), length L, curvature k, exit heading h1
    and arc end (xe, ye); straight paths get a harmless dummy arc (masked by the callers)."""
    turning = torch.isfinite(s0) & (k != 0)
    k = torch.where(turning, k, torch.ones_like(k))
    s0 = torch.where(turning, s0, torch.zeros_like(s0))
    c0, n0 = torch.cos(yaw0), torch.sin(yaw0)
    xs, ys = x0 + s0 * c0, y0 + s0 * n0
    xc, yc = xs - n0 / k, ys + c0 / k
    length = QUARTER / k.abs()
    h1 = yaw0 + torch.sign(k) * QUARTER
    xe, ye = xs + (torch.sin(h1) - n0) / k, ys + (c0 - torch.cos(h1)) / k
    return turning, s0, k, (xs, ys), (xc, yc), length, h1, (xe, ye)


def path_pose(x0, y0, yaw0, s0, k, s, turns: bool = True) -> torch.Tensor:
    """(..., 4) x, y, heading, curvature of paths (x0, y0, yaw0, s0, k: (...)) at path coordinate s
    (...), shapes broadcast. Beyond the arc's end the exit lane goes on straight. turns: host
    flag, some path may turn (False: straight lines only, the arcs are not computed)."""
    x0, y0, yaw0, s0, k, s = torch.broadcast_tensors(x0, y0, yaw0, s0, k, s)
    straight = torch.stack(
        [x0 + s * torch.cos(yaw0), y0 + s * torch.sin(yaw0), yaw0, torch.zeros_like(s)], -1
    )
    if not turns:
        return straight
    turning, s0, k, (xs, ys), _, length, h1, (xe, ye) = _arc(x0, y0, yaw0, s0, k)
    sigma = (s - s0).clamp(min=0.0)
    on_arc = torch.minimum(sigma, length)
    beyond = sigma - on_arc
    h = yaw0 + k * on_arc
    x = xs + (torch.sin(h) - torch.sin(yaw0)) / k + beyond * torch.cos(h)
    y = ys + (torch.cos(yaw0) - torch.cos(h)) / k + beyond * torch.sin(h)
    before = s <= s0
    x = torch.where(before, straight[..., 0], x)
    y = torch.where(before, straight[..., 1], y)
    curv = torch.where((sigma > 0) & (sigma < length), k, torch.zeros_like(k))
    turned = torch.stack([x, y, torch.where(before, yaw0, h), curv], -1)
    return torch.where(turning[..., None], turned, straight)


def path_frame(
    px, py, x0, y0, yaw0, s0, k, turns: bool = True
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """World points (px, py) in the frame of paths (all broadcast to (...)): (u, e, heading), the
    path coordinate of the nearest point of the path, the offset to its left, and the path's
    heading there. The nearest of three pieces: the line up to s0, the arc, the exit ray.
    turns: host flag, some path may turn (False: the lines' own frames only)."""
    c0, n0 = torch.cos(yaw0), torch.sin(yaw0)
    dx, dy = px - x0, py - y0
    u1, e1 = c0 * dx + n0 * dy, -n0 * dx + c0 * dy  # the line's own frame
    if not turns:
        return u1, e1, torch.broadcast_to(yaw0, u1.shape)
    turning, s0, k, (xs, ys), (xc, yc), length, h1, (xe, ye) = _arc(x0, y0, yaw0, s0, k)
    # piece 1, the line: past its end the distance is to the arc's start
    d1 = torch.where(u1 <= s0, e1.abs(), torch.hypot(px - xs, py - ys))
    # piece 2, the arc: the angle about the centre gives the heading, hence sigma
    vx, vy = px - xc, py - yc
    h = torch.atan2(vy, vx) + torch.sign(k) * QUARTER
    theta = torch.remainder(h - yaw0 + math.pi, 2 * math.pi) - math.pi
    sigma = theta / k
    e2 = 1.0 / k - torch.sign(k) * torch.hypot(vx, vy)
    d2 = torch.where((sigma >= 0) & (sigma <= length), e2.abs(), torch.full_like(e2, float("inf")))
    # piece 3, the exit ray: before its start the distance is to the arc's end
    c1, n1 = torch.cos(h1), torch.sin(h1)
    u3 = c1 * (px - xe) + n1 * (py - ye)
    e3 = -n1 * (px - xe) + c1 * (py - ye)
    d3 = torch.where(u3 >= 0, e3.abs(), torch.hypot(px - xe, py - ye))
    arc_best = (d2 < d1) & (d2 <= d3)
    exit_best = ~arc_best & (d3 < d1)
    u = torch.where(arc_best, s0 + sigma, torch.where(exit_best, s0 + length + u3, u1))
    e = torch.where(arc_best, e2, torch.where(exit_best, e3, e1))
    head = torch.where(arc_best, yaw0 + k * sigma, torch.where(exit_best, h1, yaw0))
    straight = ~turning
    return (
        torch.where(straight, u1, u),
        torch.where(straight, e1, e),
        torch.where(straight, torch.broadcast_to(yaw0, u1.shape), head),
    )
