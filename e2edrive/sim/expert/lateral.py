"""The expert's lateral decision: which offset d along the road to drive at.

Candidates are the lane centres plus a fine grid across the carriageway. Each is scored from
ground truth over a horizon ahead of the ego: blocked by a standing obstacle (geese, debris, a
car that spun out) in its corridor, over a puddle, too close to a pedestrian at the edge, in
conflict with a moving vehicle (oncoming, or beside us in another lane), and how far it is from
the route lane. The cheapest wins, with hysteresis; once the ego is alongside an obstacle it keeps
its offset until it has passed (no swerving back into what it is passing). If every candidate is
blocked, the expert stays in its lane and the longitudinal planner stops before the obstacle.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from e2edrive.core.constants import EGO_WIDTH, ObjectClass
from e2edrive.sim.actors import Behavior
from e2edrive.sim.map import LANE_WIDTH

GRID = 21  # fine candidates across the road
MAX_LANES = 3
MARGIN = 0.45  # m, lateral clearance kept to obstacles
PED_CLEARANCE = 1.25  # m wanted to a pedestrian (the rule asks 1.0)
BLOCK, CONFLICT = 100.0, 300.0


@dataclass
class Obstacles:
    """Frenet extents of the actors, (B, N) each, and their roles for the expert."""

    s_lo: torch.Tensor
    s_hi: torch.Tensor
    d_lo: torch.Tensor
    d_hi: torch.Tensor
    standing: torch.Tensor  # passable standing obstacle (geese, debris, crashed or spun-out car)
    moving: torch.Tensor  # vehicles and walkers in motion (leaders, conflicts)
    edge_walker: torch.Tensor  # pedestrian walking along the lane edge
    hazard: torch.Tensor  # out-of-control car still moving
    oncoming: torch.Tensor  # moving against the route


def obstacles(world) -> Obstacles:
    a = world.actors
    c, s = torch.cos(a.psi).abs(), torch.sin(a.psi).abs()
    half_s = (a.size[..., 0] * c + a.size[..., 1] * s) / 2
    half_d = (a.size[..., 0] * s + a.size[..., 1] * c) / 2
    vehicle = a.valid & (a.behavior == int(Behavior.VEHICLE))
    walker = a.valid & (a.behavior == int(Behavior.WALKER))
    slow = a.speed < 0.8
    hazard = vehicle & a.spinning & ~slow
    standing = a.valid & ((a.behavior == int(Behavior.IDLE)) | (a.behavior == int(Behavior.STATIC))
                          | (vehicle & (a.crashed | (a.spinning & slow))))
    edge_walker = walker & (a.vd == 0) & (a.cls == int(ObjectClass.PEDESTRIAN))
    moving = (vehicle & ~standing & ~hazard) | (walker & ~edge_walker)
    return Obstacles(a.s - half_s, a.s + half_s, a.d - half_d, a.d + half_d, standing, moving, edge_walker,
                     hazard, moving & (a.s_dot < -0.5))


def candidates(world) -> tuple[torch.Tensor, torch.Tensor]:
    """(B, K) candidate offsets and validity: lane centres of both directions, then a grid."""
    rm = world.rmap
    B, dev = world.B, world.device
    k = torch.arange(MAX_LANES, device=dev, dtype=torch.float32)
    fwd = -(k + 0.5) * LANE_WIDTH
    back = (k + 0.5) * LANE_WIDTH
    lanes = torch.cat([fwd.expand(B, -1), back.expand(B, -1)], 1)
    lane_ok = torch.cat([k[None] < rm.lanes_fwd[:, None], k[None] < rm.lanes_back[:, None]], 1)
    lo = -rm.width_right + EGO_WIDTH / 2 + 0.3
    hi = rm.width_left - EGO_WIDTH / 2 - 0.3
    u = torch.linspace(0, 1, GRID, device=dev)
    grid = lo[:, None] + (hi - lo)[:, None] * u
    return torch.cat([lanes, grid], 1), torch.cat([lane_ok, torch.ones(B, GRID, dtype=torch.bool, device=dev)], 1)


def choose_offset(world, ob: Obstacles, prev_target: torch.Tensor) -> dict:
    """Pick the target offset (B,) and report what shaped the choice (flags (B,))."""
    a, rm = world.actors, world.rmap
    ego = world.ego_frenet()
    v = world.ego.speed
    d_c, ok = candidates(world)  # (B, K)
    horizon = (v * 4.0 + 20.0).clamp(35.0, 60.0)
    ahead = (ob.s_hi > ego.rear_s[:, None] - 1.0) & (ob.s_lo < ego.front_s[:, None] + horizon[:, None])  # (B, N)
    half = EGO_WIDTH / 2

    def overlaps(d_lo, d_hi, margin):  # candidates x obstacles -> (B, K, N)
        return (d_c[:, :, None] + half + margin > d_lo[:, None]) & (d_c[:, :, None] - half - margin < d_hi[:, None])

    block_obs = ob.standing & ahead
    blocked = (overlaps(ob.d_lo, ob.d_hi, MARGIN) & block_obs[:, None]).any(-1)  # (B, K)

    # passing needs the candidate's corridor for as long as it takes to get past what blocks the route lane
    route_blocked_until = torch.where(
        block_obs & (ob.d_hi > world.route_d[:, None] - half - MARGIN) & (ob.d_lo < world.route_d[:, None] + half + MARGIN),
        ob.s_hi, torch.full_like(ob.s_hi, -1e9)).amax(-1)
    pass_dist = (route_blocked_until - ego.rear_s + 8.0).clamp(min=0.0)
    t_need = pass_dist / v.clamp(min=4.0) + 2.5  # (B,)

    # conflicts with moving vehicles: oncoming ones that reach us before we are through, and
    # same-direction ones beside us
    t_meet = (ob.s_lo - ego.front_s[:, None]) / (v[:, None] + (-a.s_dot).clamp(min=0.0) + 0.1)
    oncoming_threat = ob.oncoming & (ob.s_hi > ego.rear_s[:, None]) & (t_meet < t_need[:, None] + 2.0)
    beside = ob.moving & ~ob.oncoming & (ob.s_hi > ego.rear_s[:, None] - 6.0) & (ob.s_lo < ego.front_s[:, None] + 6.0)
    conflict = (overlaps(ob.d_lo, ob.d_hi, 0.5) & (oncoming_threat | beside)[:, None]).any(-1)
    # a candidate in the oncoming half conflicts with any oncoming car we would meet head on
    in_oncoming = d_c + half > 0.0

    # puddles (soft): the wheel tracks over the puddle's box
    p = rm.puddle
    p_ahead = rm.puddle_valid & (p[..., 0] + p[..., 2] > ego.rear_s[:, None]) & (
        p[..., 0] - p[..., 2] < ego.front_s[:, None] + horizon[:, None])
    wet = ((d_c[:, :, None] + 0.95 > p[:, None, :, 1] - p[:, None, :, 3])
           & (d_c[:, :, None] - 0.95 < p[:, None, :, 1] + p[:, None, :, 3]) & p_ahead[:, None]).any(-1)

    # pedestrians at the edge: lateral clearance of the candidate
    ped = ob.edge_walker & ahead
    gap_l = torch.maximum(ob.d_lo[:, None] - (d_c[:, :, None] + half), (d_c[:, :, None] - half) - ob.d_hi[:, None])
    close = ((gap_l < PED_CLEARANCE) & ped[:, None]).any(-1)

    cost = (d_c - world.route_d[:, None]).abs() * 1.0 + 0.5 * (d_c - prev_target[:, None]).abs()
    cost = cost + BLOCK * blocked.float() + CONFLICT * conflict.float() + 30.0 * wet.float() + 20.0 * close.float()
    cost = cost + 3.0 * in_oncoming.float()
    cost = torch.where(ok, cost, torch.full_like(cost, 1e9))
    best = cost.argmin(-1, keepdim=True)
    target = torch.gather(d_c, 1, best).squeeze(1)
    best_cost = torch.gather(cost, 1, best).squeeze(1)
    route_idx_cost = cost  # for reporting

    # no acceptable candidate: keep to the route lane and stop before the obstacle
    stuck = best_cost >= BLOCK
    target = torch.where(stuck, world.route_d, target)
    # committed: alongside an obstacle while offset -> keep the previous offset until past it
    alongside = block_obs & (ob.s_lo < ego.front_s[:, None] + 3.0) & (ob.s_hi > ego.rear_s[:, None] - 1.0)
    offset_now = (world.ego_d - world.route_d).abs() > 1.0
    committed = alongside.any(-1) & offset_now & ((prev_target - world.route_d).abs() > 1.0)
    target = torch.where(committed, prev_target, target)

    sel_wet = torch.gather(wet, 1, best).squeeze(1) & ~committed
    sel_close = torch.gather(close, 1, best).squeeze(1)
    route_wet = wet[:, :1].any(-1)  # placeholder replaced below
    route_col = (d_c - world.route_d[:, None]).abs().argmin(-1, keepdim=True)
    route_wet = torch.gather(wet, 1, route_col).squeeze(1)
    route_close = torch.gather(close, 1, route_col).squeeze(1)
    route_blocked = torch.gather(blocked, 1, route_col).squeeze(1)
    del route_idx_cost
    return dict(target=target, stuck=stuck & route_blocked, committed=committed, wet=sel_wet | (stuck & route_wet),
                ped_close=sel_close, avoid_wet=route_wet & ~sel_wet, offset_ped=route_close & ~sel_close,
                pass_block=route_blocked & ~stuck)
