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
PASS_MARGIN = 10.0  # m past the obstacle before returning
PULL_OUT_DIST = 30.0  # m, start passing through the oncoming lane only this close


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
    """The route's actors in its Frenet frame (cross traffic on world lines is the junction
    planner's: planner._cross_traffic)."""
    a = world.actors
    c, s = torch.cos(a.psi).abs(), torch.sin(a.psi).abs()
    half_s = (a.size[..., 0] * c + a.size[..., 1] * s) / 2
    half_d = (a.size[..., 0] * s + a.size[..., 1] * c) / 2
    valid = a.valid & ~a.on_line if world.has_lines else a.valid
    vehicle = valid & (a.behavior == int(Behavior.VEHICLE))
    walker = valid & (a.behavior == int(Behavior.WALKER))
    slow = a.speed < 0.8
    hazard = vehicle & a.spinning & ~slow
    standing = valid & (
        (a.behavior == int(Behavior.IDLE))
        | (a.behavior == int(Behavior.STATIC))
        | (vehicle & (a.crashed | (a.spinning & slow)))
    )
    edge_walker = walker & (a.vd == 0) & (a.cls == int(ObjectClass.PEDESTRIAN))
    moving = (vehicle & ~standing & ~hazard) | (walker & ~edge_walker)
    return Obstacles(
        a.s - half_s,
        a.s + half_s,
        a.d - half_d,
        a.d + half_d,
        standing,
        moving,
        edge_walker,
        hazard,
        moving & (a.s_dot < -0.5),
    )


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
    return torch.cat([lanes, grid], 1), torch.cat(
        [lane_ok, torch.ones(B, GRID, dtype=torch.bool, device=dev)], 1
    )


def choose_offset(world, ob: Obstacles, prev_target: torch.Tensor) -> dict:
    """Pick the target offset (B,) and report what shaped the choice (flags (B,))."""
    a, rm = world.actors, world.rmap
    ego = world.ego_frenet()
    v = world.ego.speed
    d_c, ok = candidates(world)  # (B, K)
    horizon = (v * 4.0 + 20.0).clamp(35.0, 60.0)
    ahead = (ob.s_hi > ego.rear_s[:, None] - 1.0) & (
        ob.s_lo < ego.front_s[:, None] + horizon[:, None]
    )  # (B, N)
    half = EGO_WIDTH / 2

    def overlaps(d_lo, d_hi, margin):  # candidates x obstacles -> (B, K, N)
        return (d_c[:, :, None] + half + margin > d_lo[:, None]) & (
            d_c[:, :, None] - half - margin < d_hi[:, None]
        )

    block_obs = ob.standing & ahead
    blocked = (overlaps(ob.d_lo, ob.d_hi, MARGIN) & block_obs[:, None]).any(-1)  # (B, K)

    # puddles (soft): the wheel tracks over the puddle's box
    p = rm.puddle
    p_ahead = (
        rm.puddle_valid
        & (p[..., 0] + p[..., 2] > ego.rear_s[:, None])
        & (p[..., 0] - p[..., 2] < ego.front_s[:, None] + horizon[:, None])
    )
    p_lo, p_hi = p[..., 1] - p[..., 3], p[..., 1] + p[..., 3]
    wet = (
        (d_c[:, :, None] + 0.95 > p_lo[:, None]) & (d_c[:, :, None] - 0.95 < p_hi[:, None]) & p_ahead[:, None]
    ).any(-1)

    # pedestrians at the edge: lateral clearance of the candidate
    ped = ob.edge_walker & ahead
    gap_l = torch.maximum(
        ob.d_lo[:, None] - (d_c[:, :, None] + half), (d_c[:, :, None] - half) - ob.d_hi[:, None]
    )
    short = torch.where(ped[:, None], (PED_CLEARANCE - gap_l).clamp(min=0.0), torch.zeros_like(gap_l)).amax(
        -1
    )
    close = short > 0  # (B, K); graded cost below: more clearance is better even when short

    # The stretch where the route lane is obstructed (standing obstacle, puddle, pedestrian).
    rd = world.route_d[:, None]
    in_route = (ob.d_hi > rd - half - PED_CLEARANCE) & (ob.d_lo < rd + half + PED_CLEARANCE)
    obstructs = (block_obs | ped) & in_route
    wet_route = p_ahead & (p_hi > rd - 0.95) & (p_lo < rd + 0.95)
    big = torch.full_like(ob.s_lo, 1e9)
    from_s = torch.minimum(
        torch.where(obstructs, ob.s_lo, big).amin(-1),
        torch.where(wet_route, p[..., 0] - p[..., 2], big[:, : p.shape[1]]).amin(-1),
    )
    until_s = torch.maximum(
        torch.where(obstructs, ob.s_hi, -big).amax(-1),
        torch.where(wet_route, p[..., 0] + p[..., 2], -big[:, : p.shape[1]]).amax(-1),
    )
    route_blocked_until = torch.where((block_obs & in_route).any(-1), until_s, torch.full_like(until_s, -1e9))
    # Passing through the oncoming lane needs it free from here to PASS_MARGIN past the stretch,
    # for as long as getting there takes (from standstill: accelerating at 1.8 m/s^2).
    zone_hi = until_s + PASS_MARGIN
    dist = (zone_hi - ego.front_s).clamp(min=1.0)
    t_pass = torch.minimum(dist / v.clamp(min=0.1), (2 * dist / 1.8).sqrt()) + 1.5  # (B,)
    reach = ob.s_lo - (-a.s_dot).clamp(min=0.0) * t_pass[:, None]
    oncoming_threat = ob.oncoming & (ob.s_hi > ego.rear_s[:, None] - 5.0) & (reach < zone_hi[:, None])
    beside = (
        ob.moving
        & ~ob.oncoming
        & (ob.s_hi > ego.rear_s[:, None] - 6.0)
        & (ob.s_lo < ego.front_s[:, None] + 6.0)
    )
    # moving vehicles conflict with the whole lateral sweep from where the ego is to the candidate
    sweep_lo = torch.minimum(d_c, world.ego_d[:, None]) - half - 0.5
    sweep_hi = torch.maximum(d_c, world.ego_d[:, None]) + half + 0.5
    swept = (sweep_hi[:, :, None] > ob.d_lo[:, None]) & (sweep_lo[:, :, None] < ob.d_hi[:, None])
    conflict = (swept & (oncoming_threat | beside)[:, None]).any(-1)
    in_oncoming = d_c + half > 0.0
    # pull out only when close to the stretch: far away, keep the lane and approach
    too_early = in_oncoming & ((from_s - ego.front_s) > PULL_OUT_DIST)[:, None]
    conflict = conflict | too_early

    cost = (d_c - world.route_d[:, None]).abs() * 1.0 + 0.5 * (d_c - prev_target[:, None]).abs()
    cost = (
        cost
        + BLOCK * blocked.float()
        + CONFLICT * conflict.float()
        + 30.0 * wet.float()
        + 10.0 * close.float()
        + 10.0 * short
    )
    cost = cost + 3.0 * in_oncoming.float()
    cost = torch.where(ok, cost, torch.full_like(cost, 1e9))
    best = cost.argmin(-1, keepdim=True)
    target = torch.gather(d_c, 1, best).squeeze(1)
    best_cost = torch.gather(cost, 1, best).squeeze(1)

    # no acceptable candidate: keep to the route lane and stop before the obstacle
    stuck = best_cost >= BLOCK
    target = torch.where(stuck, world.route_d, target)
    # committed: once pulled out towards a pass (or alongside the obstacle), keep the offset until
    # past it; the oncoming traffic was clear when the pass began, and going back is the danger
    alongside = block_obs & (ob.s_lo < ego.front_s[:, None] + 3.0) & (ob.s_hi > ego.rear_s[:, None] - 1.0)
    passing = (prev_target - world.route_d).abs() > 1.0
    pulled_out = (world.ego_d - world.route_d) * torch.sign(prev_target - world.route_d) > 0.4
    committed = passing & pulled_out & (alongside.any(-1) | (route_blocked_until > ego.rear_s))
    target = torch.where(committed, prev_target, target)
    near = (from_s - ego.front_s) < PULL_OUT_DIST + 5.0

    sel_wet = torch.gather(wet, 1, best).squeeze(1) & ~committed
    sel_close = torch.gather(close, 1, best).squeeze(1)
    route_col = (d_c - world.route_d[:, None]).abs().argmin(-1, keepdim=True)
    route_wet = torch.gather(wet, 1, route_col).squeeze(1)
    route_close = torch.gather(close, 1, route_col).squeeze(1)
    route_blocked = torch.gather(blocked, 1, route_col).squeeze(1)
    return dict(
        target=target,
        stuck=stuck & route_blocked & near & ~committed,
        committed=committed,
        wet=sel_wet | (stuck & route_wet),
        ped_close=sel_close,
        avoid_wet=route_wet & ~sel_wet,
        offset_ped=route_close & ~sel_close,
        pass_block=route_blocked & ~stuck,
    )
