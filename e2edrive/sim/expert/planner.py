"""The privileged expert: reads ground truth and drives like a careful human.

Per step, batched: the lateral decision (lateral.py) gives a target offset; the longitudinal
planner takes the most restrictive of several IDM-style constraints — the car or object ahead in
the corridor swept towards the target (vehicles moving into it, such as a cut-in, are included
through their predicted lateral motion), the stop line at red (and at yellow when a comfortable
3 m/s^2 stop is possible), the crossing of chickens that still have to cross (those waiting at the
kerb too), the zone a spinning car may reach including its bounce back off the barrier, and speed
zones (puddle, pedestrian, curvature). At junctions, when the batch holds them: yielding to cross
traffic by gap acceptance in conflict zones (sim.junction), waiting for pedestrians crossing the
route, and a slower speed past cars parked at the lane edge. Steering is pure pursuit on the path
that blends from the current offset to the target (through a junction's turn arc too). Outputs
the action, a 2 s plan, a target speed and a reason.

The expert never reverses: when it must stop it brakes and holds.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from e2edrive.core.constants import (
    DT,
    EGO_LENGTH,
    EGO_REAR_OVERHANG,
    EGO_WHEELBASE,
    EGO_WIDTH,
    MAX_ACCEL,
    MAX_STEER,
    MIN_ACCEL,
    PLAN_DT,
    PLAN_STEPS,
    LightState,
    ObjectClass,
)
from e2edrive.core.geometry import se2_relative
from e2edrive.core.reasons import REASON_TEXT, Reason
from e2edrive.core.types import Action
from e2edrive.sim.actors import Behavior, EgoFrenet
from e2edrive.sim.expert.lateral import choose_offset, obstacles
from e2edrive.sim.expert.style import DrivingStyle, hash_normal
from e2edrive.sim.map import frenet_to_world, sample_ref
from e2edrive.sim.map.spec import LANE_WIDTH, STOP_LINE_SETBACK
from e2edrive.sim.scenarios import signals

A_MAX = 1.8  # m/s^2, comfortable acceleration
B_COMF = 2.5  # m/s^2, comfortable deceleration of the IDM
S0 = 3.0  # m, standstill gap
S0_STANDING = 15.0  # m, standstill gap to a standing obstacle (room to pull out around it)
EGO_FRONT = EGO_LENGTH - EGO_REAR_OVERHANG  # m, rear axle to front bumper
A_LAT = 2.0  # m/s^2, lateral acceleration allowed in curves
YELLOW_DECEL = 3.0  # m/s^2, stop at yellow if this suffices
HAZARD_BRAKE = -4.0  # m/s^2 at least while a car ahead is out of control
PUDDLE_SPEED = 4.0  # m/s through a puddle
PED_SPEED = 2.5  # m/s passing a pedestrian closer than wanted
PED_CLEARANCE_PATH = 1.15  # m, below this lateral clearance on the path, pass slowly (rule: 1 m)
WHEEL_TRACK = 1.6  # m between the left and right wheels
CROSS_GAP = 1.5  # s spare kept before and after cross traffic in a conflict zone
CROSS_COLUMN = 7  # the cross-traffic constraint's column among the candidates (after the seven)
CROSS_STOP = 1.0  # m, the ego waits this far before its box would touch a conflict zone
OCCLUSION_SPEED = 6.0  # m/s past parked cars at the lane edge (a pedestrian may step out)
OCCLUSION_LEAD = 8.0  # m before the first parked car the slower speed is reached
INF = float("inf")


@dataclass
class ExpertOutput:
    """action (the label: the expert's corrective action), plan (B, PLAN_STEPS, 3) ego frame,
    target_speed (B,), reason (B,) long Reason, target_d (B,) the chosen lateral offset (m),
    oncoming_gap (B,) m along the route from the ego's front bumper to the nearest oncoming vehicle
    ahead (0 alongside, inf: none): what the expert's decision to pull out into the oncoming lane
    reads, up to ~100 m ahead, beyond the networks' BEV (a label: core.types.Labels.oncoming_gap)."""

    action: Action
    plan: torch.Tensor
    target_speed: torch.Tensor
    reason: torch.Tensor
    target_d: torch.Tensor | None = None
    oncoming_gap: torch.Tensor | None = None

    def reason_text(self) -> list[str]:
        """The reasons as sentences (one host transfer)."""
        return [REASON_TEXT[Reason(r)] for r in self.reason.tolist()]


@dataclass
class ExpertMemory:
    """What the expert carries between steps, (B,): its target offset and last acceleration."""

    target_d: torch.Tensor
    accel: torch.Tensor


def _idm(v, v0, gap, v_lead, T, s0=S0):
    """IDM acceleration for one constraint (B,); gap inf -> free road only."""
    s_star = s0 + (v * T + v * (v - v_lead) / (2 * (A_MAX * B_COMF) ** 0.5)).clamp(min=0.0)
    ratio = v / v0.clamp(min=0.1)
    free = A_MAX * (1 - ratio.clamp(min=0) ** 4)
    inter = torch.where(torch.isinf(gap), torch.zeros_like(gap), (s_star / gap.clamp(min=0.1)) ** 2)
    return free - A_MAX * inter


def _zone_accel(v, v_zone, dist):
    """Deceleration that brings v down to v_zone at distance dist (B,); 0 when not needed."""
    need = (v_zone**2 - v**2) / (2 * (dist - 1.0).clamp(min=0.5))
    inside = dist <= 0
    a = torch.where(inside, 1.5 * (v_zone - v), need)
    return torch.where(v > v_zone, a, torch.full_like(v, INF))


@dataclass
class _Path:
    """The ego on the path it will take, (B,) each: speed v (m/s), desired speed v0 (m/s), headway
    T (s), current and target lateral offsets d_e, d_t (m), and trans (m), the distance over which
    the path blends from d_e to d_t; ego: its Frenet extent (front_s, rear_s)."""

    ego: EgoFrenet
    v: torch.Tensor
    v0: torch.Tensor
    T: torch.Tensor
    d_e: torch.Tensor
    d_t: torch.Tensor
    trans: torch.Tensor

    def offset_at(self, gap: torch.Tensor) -> torch.Tensor:
        """(B, K) m, the path's lateral offset where the front bumper has driven gap (B, K) m."""
        frac = ((gap + EGO_FRONT) / self.trans[:, None]).clamp(0.0, 1.0)
        return self.d_e[:, None] + (self.d_t - self.d_e)[:, None] * frac

    def no_constraint(self) -> torch.Tensor:
        return torch.full_like(self.v, INF)


@dataclass
class _Constraint:
    """One longitudinal constraint, (B,) each: the acceleration it allows (inf: none), whether it
    applies, and the distance (m) to what it is about (inf: nothing)."""

    accel: torch.Tensor
    active: torch.Tensor
    dist: torch.Tensor


def expert_drive(world, style: DrivingStyle | None = None) -> ExpertOutput:
    """The expert's decision for the current state of every environment; updates its memory."""
    style = style or world.style
    mem: ExpertMemory = world.expert_memory
    v = world.ego.speed
    ob = obstacles(world)
    lat = choose_offset(world, ob, mem.target_d)
    v0, curve_binding = _desired_speed(world, style, v)
    path = _Path(
        world.ego_frenet(), v, v0, style.headway, world.ego_d, lat["target"], (2.5 * v).clamp(10.0, 35.0)
    )

    lead, cutting = _lead(world, ob, path)
    stop = _stop_line(world, path)
    chickens = _chickens(world, path)
    hazard = _hazard(ob, path)
    puddle = _puddle_zone(world, path)
    ped = _pedestrian_zone(ob, path)
    free = _idm(v, v0, torch.full_like(v, INF), v, path.T)
    parts = [free, lead.accel, stop.accel, chickens.accel, hazard.accel, puddle.accel, ped.accel]
    cross = walkers = occluded = None
    occluded_column = -1
    if world.has_lines:
        cross, oncoming = _cross_traffic(world, path)
        parts.append(cross.accel)  # column CROSS_COLUMN
    if world.has_crossers:
        walkers, at_crosswalk = _crossing_pedestrians(world, path)
        parts.append(walkers.accel)
    if world.has_parked:
        occluded = _occlusion_zone(world, ob, path)
        occluded_column = len(parts)
        parts.append(occluded.accel)
    cands = torch.stack(parts, -1)
    which = cands.argmin(-1)  # 0: free road, 1: the lead
    accel = _respond(cands.amin(-1), v, mem.accel, style)

    steer = _pure_pursuit(world, style, path)
    plan, target_speed = _plan(world, path, accel)

    R = torch.full((world.B,), int(Reason.CRUISE), dtype=torch.long, device=world.device)

    def put(mask, reason):  # the first reason that applies wins: calls are in priority order
        nonlocal R
        R = torch.where(mask & (R == int(Reason.CRUISE)), torch.full_like(R, int(reason)), R)

    put(hazard.active, Reason.BRAKE_HAZARD)
    if cross is not None:
        yielding = cross.active & (which == CROSS_COLUMN)
        put(yielding & oncoming, Reason.YIELD_ONCOMING)
        put(yielding, Reason.YIELD_CROSSING_CAR)
    if walkers is not None:
        waiting = walkers.active & (walkers.dist < 30.0)
        put(waiting & at_crosswalk, Reason.WAIT_CROSSWALK)
        put(waiting, Reason.STOP_PEDESTRIAN)
    put(stop.active & (stop.dist < 60.0), Reason.STOP_RED_LIGHT)
    put(chickens.active & (chickens.dist < 50.0), Reason.WAIT_CHICKENS)
    put(cutting & (which == 1), Reason.YIELD_CUT_IN)
    geese_block = _blocked_by(world, ob, lat, "geese")
    cones = _cones_ahead(world, ob)
    put(lat["stuck"] & (geese_block | cones), Reason.WAIT_TO_PASS)
    put(lat["stuck"], Reason.STOP_OBSTACLE)
    put(lat["pass_block"] & geese_block, Reason.PASS_STATIC_ANIMALS)
    put(lat["pass_block"] & cones, Reason.PASS_CONSTRUCTION)
    put(lat["avoid_wet"], Reason.AVOID_PUDDLE)
    put(puddle.active & (puddle.dist < 40.0), Reason.SLOW_PUDDLE)
    put(lat["pass_block"], Reason.AVOID_OBSTACLE)
    put(lat["offset_ped"] | (ped.dist < 40.0), Reason.OFFSET_PEDESTRIAN)
    if occluded is not None:
        put(occluded.active & (which == occluded_column), Reason.SLOW_OCCLUSION)
    put(lead.active & (which == 1), Reason.FOLLOW_LEAD)
    put(curve_binding & (which == 0) & (accel < -0.3), Reason.PREPARE_TURN)

    world.expert_memory = ExpertMemory(target_d=path.d_t, accel=accel)
    return ExpertOutput(Action(steer, accel), plan, target_speed, R, path.d_t, _oncoming_gap(ob, path.ego))


def _oncoming_gap(ob, ego) -> torch.Tensor:
    """(B,) m from the front bumper to the nearest oncoming vehicle not yet past it (0 alongside;
    inf: none), along the route."""
    ahead = ob.oncoming & (ob.s_hi > ego.front_s[:, None])
    gap = (ob.s_lo - ego.front_s[:, None]).clamp(min=0.0)
    return torch.where(ahead, gap, torch.full_like(gap, INF)).amin(-1)


def _desired_speed(world, style: DrivingStyle, v: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(v0, curve_binding) (B,): the speed limit scaled by the style, lowered where a curve within
    a speed-dependent preview cannot be taken at A_LAT (braking to it at 1.5 m/s^2)."""
    rm = world.rmap
    v0 = rm.speed_limit * style.speed_factor
    preview = torch.linspace(0.0, 1.0, 8, device=world.device)
    dist_p = preview * (v * 3.0 + 20.0)[:, None]
    kappa = sample_ref(rm, world.ego_s[:, None] + dist_p)[..., 3].abs()
    v_curve = (A_LAT / kappa.clamp(min=1e-4)).sqrt()
    v_allowed = (v_curve**2 + 2 * 1.5 * dist_p).sqrt().amin(-1)
    return torch.minimum(v0, v_allowed).clamp(min=1.0), v_allowed < v0


def _lead(world, ob, path: _Path) -> tuple[_Constraint, torch.Tensor]:
    """IDM behind the nearest object in the corridor: the path's offset when the ego reaches each
    object against the object's lateral extent, grown by its motion over 1.5 s (so a car cutting
    in counts before it arrives). Also (B,) whether that lead is changing lanes."""
    a, v = world.actors, path.v
    half = EGO_WIDTH / 2
    gap = ob.s_lo - path.ego.front_s[:, None]
    d_at = path.offset_at(gap)
    pred_lo = torch.minimum(ob.d_lo, ob.d_lo + a.d_dot * 1.5)
    pred_hi = torch.maximum(ob.d_hi, ob.d_hi + a.d_dot * 1.5)
    in_corr = (pred_hi > d_at - half - 0.3) & (pred_lo < d_at + half + 0.3)
    relevant = (ob.moving | ob.standing | ob.edge_walker) & in_corr
    ahead = relevant & (gap > -1.0) & (gap < 120.0)
    gap = torch.where(ahead, gap, torch.full_like(gap, INF))
    g_lead, j = gap.min(-1)
    v_lead = torch.gather(a.s_dot, 1, j[:, None]).squeeze(1)
    lead_standing = torch.gather(ob.standing, 1, j[:, None]).squeeze(1)
    # stop well back from a standing obstacle: room to pull out and pass it
    s0_lead = torch.where(lead_standing, torch.full_like(v, S0_STANDING), torch.full_like(v, S0))
    a_lead = _idm(v, path.v0, g_lead, v_lead, path.T, s0_lead)
    changing_lane = torch.isfinite(a.lc_t0) & (a.d_dot.abs() > 0.1)  # (B, N)
    cutting = torch.gather(changing_lane, 1, j[:, None]).squeeze(1) & torch.isfinite(g_lead)
    binding = torch.isfinite(g_lead) & (g_lead < (v * path.T * 2.0 + 15.0))
    return _Constraint(a_lead, binding, g_lead), cutting


def _stop_line(world, path: _Path) -> _Constraint:
    """Stop at the route's stop line at red, and at yellow when YELLOW_DECEL suffices."""
    rm, v = world.rmap, path.v
    g_stop = rm.inter_s[:, 0] - rm.inter_entry[:, 0] - STOP_LINE_SETBACK - path.ego.front_s
    light = world.route_light[:, 0]
    comfortable = v**2 / (2 * g_stop.clamp(min=0.1)) <= YELLOW_DECEL
    must_stop = (
        rm.inter_valid[:, 0]
        & (g_stop > -0.3)
        & ((light == int(LightState.RED)) | ((light == int(LightState.YELLOW)) & comfortable))
    )
    a_stop = _idm(v, path.v0, (g_stop + S0 - 0.5).clamp(min=0.05), torch.zeros_like(v), path.T)
    return _Constraint(torch.where(must_stop, a_stop, path.no_constraint()), must_stop, g_stop)


def _chickens(world, path: _Path) -> _Constraint:
    """Stop before the crossing while chickens still have to cross (those waiting at the kerb too)."""
    a, v = world.actors, path.v
    s_cross = torch.where(world.pending_chickens(), a.s - 1.0, torch.full_like(a.s, INF)).amin(-1)
    g_ch = s_cross - path.ego.front_s
    wait = torch.isfinite(s_cross) & (g_ch > -0.5)
    a_ch = _idm(v, path.v0, (g_ch - 1.0 + S0).clamp(min=0.05), torch.zeros_like(v), path.T)
    return _Constraint(torch.where(wait, a_ch, path.no_constraint()), wait, g_ch)


def _hazard(ob, path: _Path) -> _Constraint:
    """An out-of-control car: stop before the zone it may reach, including its bounce back off the
    barrier, and brake at least HAZARD_BRAKE while it is within 80 m."""
    v = path.v
    s_haz = torch.where(ob.hazard, ob.s_lo - 12.0, torch.full_like(ob.s_lo, INF)).amin(-1)
    g_haz = s_haz - path.ego.front_s
    hazard = torch.isfinite(s_haz) & (g_haz < 80.0)
    brake = torch.where(v > 0.5, torch.full_like(v, HAZARD_BRAKE), torch.full_like(v, INF))
    a_haz = torch.minimum(_idm(v, path.v0, g_haz.clamp(min=0.05), torch.zeros_like(v), path.T), brake)
    return _Constraint(torch.where(hazard, a_haz, path.no_constraint()), hazard, g_haz)


def _puddle_zone(world, path: _Path) -> _Constraint:
    """Slow to PUDDLE_SPEED before a puddle that a wheel will cross on the path the ego will take."""
    rm = world.rmap
    p = rm.puddle  # (B, Q, 4): s, d, half length, half width
    p_gap = p[..., 0] - p[..., 2] - path.ego.front_s[:, None]  # (B, Q)
    p_d = path.offset_at(p_gap)
    p_wet = (
        rm.puddle_valid
        & (p[..., 0] + p[..., 2] > path.ego.rear_s[:, None])
        & (
            (p_d + WHEEL_TRACK / 2 + 0.3 > p[..., 1] - p[..., 3])
            & (p_d - WHEEL_TRACK / 2 - 0.3 < p[..., 1] + p[..., 3])
        )
    )
    p_dist = torch.where(p_wet, p_gap, torch.full_like(p_gap, INF)).amin(-1)
    wet_path = torch.isfinite(p_dist)
    a_wet = _zone_accel(path.v, torch.full_like(path.v, PUDDLE_SPEED), p_dist)
    return _Constraint(torch.where(wet_path, a_wet, path.no_constraint()), wet_path, p_dist)


def _pedestrian_zone(ob, path: _Path) -> _Constraint:
    """Pass at PED_SPEED a pedestrian at the lane edge whom the path clears by less than
    PED_CLEARANCE_PATH (slowing 3 m before)."""
    half = EGO_WIDTH / 2
    ped_gap = ob.s_lo - path.ego.front_s[:, None]
    ped_d = path.offset_at(ped_gap)
    clearance = torch.maximum(ob.d_lo - (ped_d + half), (ped_d - half) - ob.d_hi)
    tight = ob.edge_walker & (ob.s_hi > path.ego.rear_s[:, None]) & (clearance < PED_CLEARANCE_PATH)
    ped_s = torch.where(tight, ped_gap, torch.full_like(ped_gap, INF)).amin(-1)
    active = torch.isfinite(ped_s)
    a_ped = _zone_accel(path.v, torch.full_like(path.v, PED_SPEED), ped_s - 3.0)
    return _Constraint(torch.where(active, a_ped, path.no_constraint()), active, ped_s)


def _time_to_travel(v: torch.Tensor, dist: torch.Tensor) -> torch.Tensor:
    """(...) s to cover dist (...) m from speed v accelerating at A_MAX (the expert's own pull-away)."""
    dist = dist.clamp(min=0.0)
    return ((v**2 + 2 * A_MAX * dist).sqrt() - v) / A_MAX


def _cross_traffic(world, path: _Path) -> tuple[_Constraint, torch.Tensor]:
    """Yield by gap acceptance to cross traffic (sim.junction): stop CROSS_STOP before a
    conflict zone while an actor not yet past it will be in it at any time between the ego's
    arrival and its clearing of the zone, with CROSS_GAP seconds to spare either side. Once the
    ego's front is in a zone it goes on (stopping there blocks the junction). Also (B,) whether
    the nearest zone's actor is oncoming: it comes from the arm ahead (it drives on the route's
    light), not from a crossing arm."""
    from e2edrive.sim.junction import zone_timing

    a, v = world.actors, path.v
    zone = world.conflict  # (B, N, 4), in the ego's rear-axle arc length
    g = zone[..., 0] - world.ego_s[:, None]
    t_e_in = _time_to_travel(v[:, None], g)
    t_e_out = _time_to_travel(v[:, None], zone[..., 1] - world.ego_s[:, None])
    t_in, t_out, cleared = zone_timing(a, zone)
    threat = (
        a.valid
        & a.on_line
        & torch.isfinite(zone[..., 0])
        & ~cleared
        & (g > 0.0)
        & (t_in < t_e_out + CROSS_GAP)
        & (t_out > t_e_in - CROSS_GAP)
    )
    g_stop, j = torch.where(threat, g, torch.full_like(g, INF)).min(-1)
    yield_ = torch.isfinite(g_stop)
    a_y = _idm(v, path.v0, (g_stop - CROSS_STOP).clamp(min=0.05), torch.zeros_like(v), path.T, s0=0.5)
    oncoming = torch.gather(a.light_group == 0, 1, j[:, None]).squeeze(1)
    return _Constraint(torch.where(yield_, a_y, path.no_constraint()), yield_, g_stop), oncoming


def _crossing_pedestrians(world, path: _Path) -> tuple[_Constraint, torch.Tensor]:
    """Stop before a crossing (a crosswalk, or where a pedestrian steps out) while a pedestrian
    is on it or about to step onto it, until every one has reached the other side. Also (B,)
    whether the nearest such pedestrian is on a signalised crosswalk (has a walk light)."""
    a, v = world.actors, path.v
    s_cross, j = torch.where(signals.pending_crossers(world), a.s - a.size[..., 0] / 2 - 1.0, INF).min(-1)
    g = s_cross - path.ego.front_s
    wait = torch.isfinite(s_cross) & (g > -0.5)
    a_w = _idm(v, path.v0, (g - 1.0 + S0).clamp(min=0.05), torch.zeros_like(v), path.T)
    at_crosswalk = torch.gather(a.walk_light >= 0, 1, j[:, None]).squeeze(1)
    return _Constraint(torch.where(wait, a_w, path.no_constraint()), wait, g), at_crosswalk


def _occlusion_zone(world, ob, path: _Path) -> _Constraint:
    """Pass parked cars at the edge of the ego's lane at OCCLUSION_SPEED: someone may step out
    from between them (slowing OCCLUSION_LEAD m before the first)."""
    a = world.actors
    parked = ob.standing & (a.cls == int(ObjectClass.VEHICLE)) & (a.behavior == int(Behavior.STATIC))
    edge = (ob.d_hi > world.route_d[:, None] - LANE_WIDTH / 2 - 1.5 * LANE_WIDTH) & (
        ob.d_lo < world.route_d[:, None] + LANE_WIDTH / 2 + 1.5 * LANE_WIDTH
    )
    gap = ob.s_lo - path.ego.front_s[:, None]
    near = parked & edge & (ob.s_hi > path.ego.rear_s[:, None]) & (gap < 80.0)
    dist = torch.where(near, gap, torch.full_like(gap, INF)).amin(-1)
    active = torch.isfinite(dist)
    a_o = _zone_accel(path.v, torch.full_like(path.v, OCCLUSION_SPEED), dist - OCCLUSION_LEAD)
    return _Constraint(torch.where(active, a_o, path.no_constraint()), active, dist)


def _respond(accel: torch.Tensor, v: torch.Tensor, last_accel: torch.Tensor, style: DrivingStyle):
    """The executed acceleration (B,): hold the brake at standstill, clip to the actuator, and
    lag like a driver's reaction (first order, time constant style.reaction), except when braking
    harder than 3 m/s^2 (an emergency is not smoothed)."""
    accel = torch.where((v < 0.2) & (accel < 0), torch.full_like(v, -2.0), accel)
    accel = accel.clamp(MIN_ACCEL, MAX_ACCEL)
    alpha = DT / (style.reaction + DT)
    lagged = last_accel + (accel - last_accel) * alpha
    return torch.where(accel < -3.0, accel, lagged)


def _pure_pursuit(world, style: DrivingStyle, path: _Path) -> torch.Tensor:
    """(B,) rad: pure pursuit of a speed-dependent look-ahead point on the blended path, plus the
    style's deterministic steering noise."""
    v, d_e, d_t = path.v, path.d_e, path.d_t
    look = (4.0 + 0.6 * v).clamp(5.0, 20.0)
    d_la = d_e + (d_t - d_e) * (look / (0.6 * path.trans)).clamp(max=1.0)
    xy_la, _ = frenet_to_world(world.rmap, world.ego_s + look, d_la)
    local = se2_relative(world.ego.pose(), torch.cat([xy_la, torch.zeros_like(xy_la[:, :1])], -1))
    curv = 2 * local[:, 1] / (local[:, 0] ** 2 + local[:, 1] ** 2).clamp(min=1.0)
    steer = torch.atan(EGO_WHEELBASE * curv)
    steer = steer + style.steer_noise * hash_normal(world.episode_keys, world.steps, 7)
    return steer.clamp(-MAX_STEER, MAX_STEER)


def _plan(world, path: _Path, accel: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(plan (B, PLAN_STEPS, 3) ego frame, target speed (B,)): PLAN_STEPS poses along the blended
    path at the planned acceleration, stopping (never reversing) and capped at max(v, v0)."""
    v, d_e, d_t = path.v, path.d_e, path.d_t
    t_k = torch.arange(1, PLAN_STEPS + 1, device=world.device, dtype=torch.float32) * PLAN_DT
    ds = v[:, None] * t_k + 0.5 * accel[:, None] * t_k**2
    t_stop = torch.where(accel < 0, v / (-accel).clamp(min=1e-3), torch.full_like(v, INF))[:, None]
    ds = torch.where(t_k > t_stop, (v**2 / (2 * (-accel).clamp(min=1e-3)))[:, None], ds).clamp(min=0.0)
    ds = torch.minimum(ds, torch.maximum(v, path.v0)[:, None] * t_k)
    d_k = d_e[:, None] + (d_t - d_e)[:, None] * (ds / path.trans[:, None]).clamp(max=1.0)
    s_k = world.ego_s[:, None] + ds
    xy_k, ref_k = frenet_to_world(world.rmap, s_k, d_k)
    dd = torch.diff(torch.cat([d_e[:, None], d_k], 1), dim=1)
    dss = torch.diff(torch.cat([world.ego_s[:, None], s_k], 1), dim=1)
    head = ref_k + torch.atan2(dd, dss.clamp(min=1e-3))
    head = torch.where(dss > 1e-3, head, ref_k + world.ego_dpsi[:, None])
    plan = se2_relative(world.ego.pose()[:, None], torch.cat([xy_k, head[..., None]], -1))
    return plan, (v + accel * 1.0).clamp(min=0.0)


def _blocked_by(world, ob, lat, kind: str) -> torch.Tensor:
    """(B,) the standing obstacle ahead that shapes the decision is a goose."""
    from e2edrive.core.constants import ObjectClass

    a = world.actors
    ego = world.ego_frenet()
    near = ob.standing & (ob.s_hi > ego.rear_s[:, None]) & (ob.s_lo < ego.front_s[:, None] + 80.0)
    return (near & (a.cls == int(ObjectClass.GOOSE))).any(-1)


CONES_MIN = 3  # standing unknown objects ahead that make a row of cones, not one piece of debris


def _cones_ahead(world, ob) -> torch.Tensor:
    """(B,) a row of at least CONES_MIN standing unknown objects from 20 m behind to 80 m ahead (the
    cones just passed still belong to the row): a lane closed by cones (a construction zone),
    which the expert passes as a lane shift, not around debris."""
    a = world.actors
    ego = world.ego_frenet()
    near = ob.standing & (ob.s_hi > ego.rear_s[:, None] - 20.0) & (ob.s_lo < ego.front_s[:, None] + 80.0)
    return (near & (a.cls == int(ObjectClass.UNKNOWN))).sum(-1) >= CONES_MIN


def initial_memory(world) -> ExpertMemory:
    return ExpertMemory(target_d=world.route_d.clone(), accel=torch.zeros(world.B, device=world.device))


def reset_memory(world, mask: torch.Tensor) -> None:
    mem = world.expert_memory
    mem.target_d = torch.where(mask, world.route_d, mem.target_d)
    mem.accel = torch.where(mask, torch.zeros_like(mem.accel), mem.accel)
