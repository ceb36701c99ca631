"""Left-turning cross traffic yields to oncoming traffic by gap acceptance.

A left-turner i (a line actor whose path turns left, actors/paths.py) crosses the oncoming lane
of its own road. Where its box would first reach that lane it has a waiting point, yield_s (the
path coordinate of its box centre); the stretch of its line its turn sweeps across the oncoming
lane is [yield_lo, yield_hi] (line coordinates). Every vehicle j in the world frame (route cars,
line cars, the ego) is oncoming when, in i's line frame (u along it, e to its left), it heads
against i (cos(h_j - yaw_i) < -ONCOMING_COS) in the oncoming lane (e in E_ONCOMING). i waits
while an oncoming j has not cleared the stretch (its rear, u_j + len_j / 2, is beyond yield_lo)
and is in it or reaches it within GAP seconds:

    threat_j  =  rear_j > yield_lo  and  (front_j < yield_hi  or  (front_j - yield_hi) / v_j < GAP)
    stop gap  =  yield_s - s_i + IdmParams.s0     (the IDM stops s0 short of a stopped leader)

Once past its waiting point it is committed and turns. The ego does not count while its route
turns left at the junction: two opposing left turns pass each other.

`left_turn_yield` computes a turn's waiting point and stretch on the host (scenarios).
"""

from __future__ import annotations

import math

import numpy as np
import torch

from e2edrive.core.constants import EGO_LENGTH
from e2edrive.sim.actors.state import Actors, Behavior, EgoFrenet
from e2edrive.sim.traffic import IdmParams

GAP = 5.0  # s: the critical gap of an unprotected left turn (field values 4-6 s)
ONCOMING_COS = 0.7  # heading within ~45 degrees of the opposite direction
E_ONCOMING = (1.0, 6.5)  # m left of the turner's lane centre: the oncoming lane (centre +3.5)
COMMITTED = 0.5  # m past its waiting point a turner no longer stops
YIELD_MARGIN = 0.3  # m short of the oncoming lane the turner's front corner waits
CLEAR_MARGIN = 1.0  # m either side of the swept stretch


def left_turn_yield(
    radius: float, lane_width: float, length: float, width: float
) -> tuple[float, float, float]:
    """(sigma_y, lo, hi) of a left turn of lane radius `radius` (m) from a lane of `lane_width`:
    sigma_y, the arc length into the turn where the box's front-left corner comes within
    YIELD_MARGIN of the oncoming lane; lo, hi, the stretch along the approach line (relative to
    the arc's start) that the turn sweeps across that lane: from the corner there, less
    CLEAR_MARGIN, to the exit lane's far side (the arc ends `radius` along), plus CLEAR_MARGIN."""
    sigma = np.arange(0.0, radius * math.pi / 2, 0.01)
    th = sigma / radius
    corner_e = radius * (1 - np.cos(th)) + length / 2 * np.sin(th) + width / 2 * np.cos(th)
    i = int(np.argmax(corner_e >= lane_width / 2 - YIELD_MARGIN))
    corner_u = radius * math.sin(th[i]) + length / 2 * math.cos(th[i]) - width / 2 * math.sin(th[i])
    return float(sigma[i]), corner_u - CLEAR_MARGIN, radius + width / 2 + CLEAR_MARGIN


def oncoming_yield_gap(
    a: Actors, pose: torch.Tensor, ego: EgoFrenet, ego_turns_left: torch.Tensor
) -> torch.Tensor:
    """(B, N) gap (m) from each left-turner to where it waits for oncoming traffic within its gap;
    inf where it need not. pose: (B, N, 3) world box poses; ego_turns_left (B,) bool."""
    B, N = a.s.shape
    box = ego.box if ego.box is not None else torch.full((B, 3), float("inf"), device=a.s.device)
    xy = torch.cat([pose[..., :2], box[:, None, :2]], 1)  # (B, N+1, 2), the ego last
    head = torch.cat([pose[..., 2], box[:, None, 2]], 1)
    length = torch.cat([a.size[..., 0], torch.full_like(a.s[:, :1], EGO_LENGTH)], 1)
    speed = torch.cat([a.speed, ego.s_dot[:, None].abs()], 1)
    vehicle = a.valid & (a.behavior == int(Behavior.VEHICLE))
    other = torch.cat([vehicle, ~ego_turns_left[:, None]], 1)  # (B, N+1)
    c, sn = torch.cos(a.line_yaw)[..., None], torch.sin(a.line_yaw)[..., None]  # turner i, (B, N, 1)
    dx = xy[:, None, :, 0] - a.line_x[..., None]  # (B, N, N+1)
    dy = xy[:, None, :, 1] - a.line_y[..., None]
    u, e = c * dx + sn * dy, -sn * dx + c * dy
    against = torch.cos(head)[:, None, :] * c + torch.sin(head)[:, None, :] * sn < -ONCOMING_COS
    in_lane = (e > E_ONCOMING[0]) & (e < E_ONCOMING[1])
    rear, front = u + length[:, None] / 2, u - length[:, None] / 2
    lo, hi = a.yield_lo[..., None], a.yield_hi[..., None]
    soon = (front < hi) | ((front - hi) / speed[:, None].clamp(min=0.1) < GAP)
    threat = other[:, None, :] & against & in_lane & (rear > lo) & soon
    turner = vehicle & a.on_line & torch.isfinite(a.yield_s) & (a.s < a.yield_s + COMMITTED)
    waits = turner & threat.any(-1)
    gap = (a.yield_s - a.s + IdmParams().s0).clamp(min=0.0)
    return torch.where(waits, gap, torch.full_like(gap, float("inf")))


A_LAT_TURN = 2.5  # m/s^2 of lateral acceleration a turning car allows itself on its arc
B_TURN = 2.0  # m/s^2 it brakes with before the arc


def turn_speed_accel(a: Actors) -> torch.Tensor:
    """(B, N) acceleration cap (m/s^2) of turning cars: brake (once B_TURN is needed) to reach the
    arc's speed sqrt(A_LAT_TURN / |k|) by its start, hold it on the arc; inf elsewhere (after the
    arc, on straight paths)."""
    k = a.turn_kappa.abs().clamp(min=1e-6)
    v_arc = (A_LAT_TURN / k).sqrt()
    to_arc = a.turn_s0 - (a.s + a.size[..., 0] / 2)  # the front's distance to the arc's start
    on_arc = (to_arc <= 0) & (a.s < a.turn_s0 + math.pi / 2 / k)
    need = (v_arc**2 - a.speed**2) / (2 * to_arc.clamp(min=0.5))
    before = (to_arc > 0) & (need < -B_TURN)
    inf = torch.full_like(need, float("inf"))
    cap = torch.where(on_arc, 1.5 * (v_arc - a.speed), torch.where(before, need, inf))
    return torch.where(torch.isfinite(a.turn_s0) & (a.turn_kappa != 0), cap, inf)
