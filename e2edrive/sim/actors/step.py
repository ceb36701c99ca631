"""One control step of every actor of every environment (see actors/state.py for behaviours)."""

from __future__ import annotations

from dataclasses import dataclass, replace

import torch

from e2edrive.core.constants import EGO_LENGTH, EGO_WIDTH, TurnCommand
from e2edrive.sim.actors.paths import path_pose
from e2edrive.sim.actors.spinout import SpinState, advance_spin, start_spin
from e2edrive.sim.actors.state import (
    Actors,
    Behavior,
    EgoFrenet,
    leader_gaps,
    line_ego_gap,
    line_stop_gap,
    quintic,
    scheduled_speed,
    stop_line_gap,
    walk_light_green,
)
from e2edrive.sim.actors.turning import oncoming_yield_gap, turn_speed_accel
from e2edrive.sim.actors.yielding import crosswalk_stop_gap
from e2edrive.sim.dynamics import travel
from e2edrive.sim.map import RoadMap, sample_ref, world_to_frenet
from e2edrive.sim.map.features import BARRIER_SPACING
from e2edrive.sim.map.spec import STOP_LINE_SETBACK
from e2edrive.sim.traffic import idm_accel

BRAKE_LIGHT_DECEL = 0.5  # m/s^2: deceleration beyond engine drag means the brake pedal is pressed


def _slot_get(x: torch.Tensor, slot: torch.Tensor) -> torch.Tensor:
    return torch.gather(x, 1, slot.clamp(min=0)[:, None]).squeeze(1)


def _slot_put(x: torch.Tensor, onehot: torch.Tensor, value: torch.Tensor) -> torch.Tensor:
    """x (B, N) with x[b, slot[b]] = value[b] where onehot (B, N) marks the slot."""
    return torch.where(onehot, value[:, None].to(x.dtype), x)


def _lines(a: Actors, has_lines: bool | None) -> bool:
    """Whether any actor is cross traffic on a world line: the caller's host flag, else a sync."""
    return bool(a.on_line.any()) if has_lines is None else has_lines


def actor_world_poses(
    a: Actors, rmap: RoadMap, spin: SpinState, has_lines: bool | None = None, has_turns: bool | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """World box poses (B, N, 3) and velocities (B, N, 2); the spinning car from its rigid body,
    cross traffic from its path (actors/paths.py: through its turn's arc too). has_lines,
    has_turns: host flags, any actor on a line, any line that turns (None: look)."""
    ref = sample_ref(rmap, a.s)  # (B, N, 4)
    if _lines(a, has_lines):  # cross traffic: its own path (straight, or turning) replaces the route's
        turns = bool((a.turn_kappa != 0).any()) if has_turns is None else has_turns
        line = path_pose(a.line_x, a.line_y, a.line_yaw, a.turn_s0, a.turn_kappa, a.s, turns)
        ref = torch.where(a.on_line[..., None], line, ref)
    c, sn = torch.cos(ref[..., 2]), torch.sin(ref[..., 2])
    xy = torch.stack([ref[..., 0] - a.d * sn, ref[..., 1] + a.d * c], -1)
    pose = torch.cat([xy, (ref[..., 2] + a.psi).unsqueeze(-1)], -1)
    vt = a.s_dot * (1 - ref[..., 3] * a.d)  # speed along the line at offset d
    vel = torch.stack([vt * c - a.d_dot * sn, vt * sn + a.d_dot * c], -1)
    if spin.slot.numel():
        onehot = (
            torch.nn.functional.one_hot(spin.slot.clamp(min=0), a.s.shape[1]).bool() & spin.active[:, None]
        )
        body_pose = spin.body.pose()[:, None, :].expand_as(pose)
        body_vel = spin.body.velocity()[:, None, :].expand_as(vel)
        pose = torch.where(onehot[..., None], body_pose, pose)
        vel = torch.where(onehot[..., None], body_vel, vel)
    return pose, vel


@dataclass
class _Motion:
    """Candidate next state of every actor under one behaviour, (B, N) each (Frenet)."""

    s: torch.Tensor
    d: torch.Tensor
    psi: torch.Tensor
    speed: torch.Tensor
    s_dot: torch.Tensor
    d_dot: torch.Tensor


def step_actors(
    a: Actors,
    spin: SpinState,
    rmap: RoadMap,
    ego: EgoFrenet,
    t: torch.Tensor,
    route_light: torch.Tensor,
    barriers: torch.Tensor,
    barrier_valid: torch.Tensor,
    has_spin: bool,
    dt: float,
    cross_light: torch.Tensor | None = None,
    has_lines: bool | None = None,
    actor_pose: torch.Tensor | None = None,
    has_turns: bool = False,
) -> tuple[Actors, SpinState]:
    """Advance actors from time t (B,) to t + dt. route_light, cross_light: (B, I) LightState of
    the route and of the crossing road (default: the route's). actor_pose: (B, N, 3) the actors'
    world poses, given when the batch has pedestrians crossing the route: those on a crosswalk
    look for cars in every frame, and cars in every frame stop for them (actors/yielding.py); and
    when has_turns (host flag: the batch has cross traffic that turns): left-turners judge the
    gaps in oncoming traffic by them, and turning cars keep to their arc's speed
    (actors/turning.py). Each behaviour proposes a motion for every actor; each actor takes its
    own behaviour's."""
    t_next = t + dt
    cross_light = route_light if cross_light is None else cross_light
    has_lines = _lines(a, has_lines)
    kin_vehicle = (a.behavior == int(Behavior.VEHICLE)) & a.valid & ~a.crashed & ~a.spinning
    veh, lc_t0, lc_d0, braking = _vehicle_motion(
        a, rmap, ego, t, route_light, cross_light, dt, has_lines, actor_pose, has_turns
    )
    near_car = _car_near_walkers(a, actor_pose) if actor_pose is not None else None
    walking, walk, trigger_t, walk_done = _walker_motion(
        a, ego, t, dt, route_light[:, 0], cross_light[:, 0], near_car
    )
    idle = (a.behavior == int(Behavior.IDLE)) & a.valid
    i_d, i_dd, i_psi = _idle_sway(a, t_next)

    def pick(v: torch.Tensor, w: torch.Tensor, i: torch.Tensor | None, rest: torch.Tensor) -> torch.Tensor:
        """Vehicle, walker, idle animal (None: it rests), or the current value."""
        rest = rest if i is None else torch.where(idle, i, rest)
        return torch.where(kin_vehicle, v, torch.where(walking, w, rest))

    valid = a.valid
    if has_lines:  # cross traffic that drove past its line's end leaves the world
        valid = valid & ~(a.on_line & (a.s - a.size[..., 0] / 2 > a.line_end))
    a = replace(
        a,
        valid=valid,
        s=pick(veh.s, walk.s, None, a.s),
        d=pick(veh.d, walk.d, i_d, a.d),
        psi=pick(veh.psi, walk.psi, i_psi, a.psi),
        speed=pick(veh.speed, walk.speed, None, torch.zeros_like(a.speed)),
        s_dot=pick(veh.s_dot, walk.s_dot, None, torch.zeros_like(a.s)),
        d_dot=pick(veh.d_dot, walk.d_dot, i_dd, torch.zeros_like(a.d)),
        lc_t0=lc_t0,
        lc_d0=lc_d0,
        trigger_t=trigger_t,
        walk_done=walk_done,
        braking=braking,
    )
    if has_spin:
        a, spin = _step_spinout(a, spin, rmap, barriers, barrier_valid, t_next, dt)
    return a, spin


def _vehicle_motion(
    a: Actors,
    rmap: RoadMap,
    ego: EgoFrenet,
    t: torch.Tensor,
    route_light,
    cross_light,
    dt: float,
    has_lines,
    pose: torch.Tensor | None = None,
    has_turns: bool = False,
):
    """Vehicles: IDM behind the leader, the stop line or a crosswalk a pedestrian is on (when
    pose (B, N, 3), the world poses, is given), a left-turner's waiting point while oncoming
    traffic is within its gap (has_turns), and the quintic lane-change profile, which starts
    when the ego comes within the car's lc_gap. -> (motion, lc_t0, lc_d0, braking)."""
    vehicle = (a.behavior == int(Behavior.VEHICLE)) & a.valid & ~a.crashed
    kin_vehicle = vehicle & ~a.spinning
    g_lead, v_lead = leader_gaps(a, ego, has_lines=has_lines)
    back_light = torch.where(rmap.inter_turn[:, 0] != 0, cross_light[:, 0], route_light[:, 0])
    g_stop = stop_line_gap(
        a,
        rmap.inter_s[:, 0],
        rmap.inter_entry[:, 0],
        rmap.inter_exit[:, 0],
        route_light[:, 0],
        STOP_LINE_SETBACK,
        back_light,
    )
    g_stop = torch.where(rmap.inter_valid[:, :1], g_stop, torch.full_like(g_stop, float("inf")))
    if has_lines:
        g_ego, v_ego = line_ego_gap(a, ego, turns=has_turns)
        ego_leads = g_ego < g_lead
        g_lead = torch.where(ego_leads, g_ego, g_lead)
        v_lead = torch.where(ego_leads, v_ego, v_lead)
        g_stop = torch.where(a.on_line, line_stop_gap(a, route_light[:, 0], cross_light[:, 0]), g_stop)
    if pose is not None:
        g_stop = torch.minimum(g_stop, crosswalk_stop_gap(a, pose))
    if has_turns and pose is not None:
        ego_left = rmap.inter_valid[:, 0] & (rmap.inter_turn[:, 0] == int(TurnCommand.LEFT))
        g_stop = torch.minimum(g_stop, oncoming_yield_gap(a, pose, ego, ego_left))
    use_stop = g_stop < g_lead
    gap = torch.where(use_stop, g_stop, g_lead)
    v_l = torch.where(use_stop, torch.zeros_like(v_lead), v_lead)
    acc = idm_accel(a.speed, scheduled_speed(a, t), gap, v_l)
    if has_turns:
        acc = torch.minimum(acc, turn_speed_accel(a))
    acc = torch.maximum(acc, -a.max_decel)
    ds, v_new = travel(a.speed, acc, dt)
    # brake lights: on while the driver brakes (also holding the car at a standstill) or skids
    braking = vehicle & ((acc < -BRAKE_LIGHT_DECEL) | a.spinning)

    gap_to_ego = (a.s - a.size[..., 0] / 2) - ego.front_s[:, None]
    start_lc = kin_vehicle & torch.isinf(a.lc_t0) & (gap_to_ego >= 0) & (gap_to_ego <= a.lc_gap)
    lc_t0 = torch.where(start_lc, t[:, None], a.lc_t0)
    lc_d0 = torch.where(start_lc, a.d, a.lc_d0)
    changing = torch.isfinite(lc_t0)
    f, fd = quintic(((t + dt)[:, None] - lc_t0) / a.lc_time)
    d_lc = lc_d0 + (a.lc_d - lc_d0) * f
    dd_lc = (a.lc_d - lc_d0) * fd / a.lc_time
    kappa = sample_ref(rmap, a.s)[..., 3]
    if has_lines:
        kappa = torch.where(a.on_line, torch.zeros_like(kappa), kappa)
    scale = 1.0 / (1 - kappa * a.d).clamp(min=0.5)  # arc length on the reference per m at offset d
    v_mean = ds / dt
    lat = torch.where(changing, dd_lc, torch.zeros_like(dd_lc))
    v_along = (v_mean**2 - lat**2).clamp(min=0).sqrt()
    motion = _Motion(
        s=a.s + a.direction * v_along * dt * scale,
        d=torch.where(changing, d_lc, a.d),
        psi=torch.where(v_new > 0.1, torch.atan2(lat, a.direction * v_along.clamp(min=1e-3)), a.psi),
        speed=v_new,
        s_dot=a.direction * v_new,
        d_dot=lat,
    )
    return motion, lc_t0, lc_d0, braking


WALK_CLEARANCE = 6.0  # m: a crosswalk pedestrian does not set off with a car's centre this close,
WALK_LOOKAHEAD = 3.0  # s: or this close plus what the car covers in this time


def _car_near_walkers(a: Actors, pose: torch.Tensor) -> torch.Tensor:
    """(B, N) a vehicle other than the ego (on the route or on a world line) is within
    WALK_CLEARANCE m + WALK_LOOKAHEAD s of its travel of the actor, in the world frame (the two
    frames do not see each other). pose: (B, N, 3) the actors' world poses."""
    dist = (pose[:, :, None, :2] - pose[:, None, :, :2]).norm(dim=-1)  # (B, N, N)
    vehicle = a.valid & (a.behavior == int(Behavior.VEHICLE))
    reach = WALK_CLEARANCE + WALK_LOOKAHEAD * a.speed
    return ((dist < reach[:, None, :]) & vehicle[:, None, :]).any(-1)


def _walker_motion(
    a: Actors, ego: EgoFrenet, t: torch.Tensor, dt: float, route_light, cross_light, near_car=None
):
    """Walkers start after their trigger (and delay), a crosswalk pedestrian on its walk light's
    green, and walk until the end of their crossing; one walking along the road stops rather than
    walk into the ego's side or front. -> (walking (B, N), motion, trigger_t, walk_done)."""
    B, N = a.s.shape
    walker = (a.behavior == int(Behavior.WALKER)) & a.valid & ~a.crashed
    trig = torch.isinf(a.trigger_t) & (ego.rear_s[:, None] >= a.trigger_s)
    trigger_t = torch.where(walker & trig, t[:, None].expand(B, N), a.trigger_t)
    walking = walker & (t[:, None] >= trigger_t + a.start_delay) & ~a.walk_done
    # a pedestrian waiting for its walk light sets off on green, and not while a car (the ego)
    # is on its crosswalk (the route's: one on an arm's is on a world line); one already
    # crossing finishes
    set_off = a.d != a.d_home
    reach = a.size[..., 0] / 2 + 0.5
    car_on_it = (ego.front_s[:, None] > a.s - reach) & (ego.rear_s[:, None] < a.s + reach) & ~a.on_line
    if near_car is not None:
        car_on_it = car_on_it | near_car
    car_on_it = car_on_it & (a.walk_light >= 0)
    walking = walking & ((walk_light_green(a, route_light, cross_light) & ~car_on_it) | set_off)
    ego_gap = (ego.s[:, None] - a.s) * torch.sign(a.vs) - (EGO_LENGTH + a.size[..., 0]) / 2
    ego_side = (ego.d[:, None] - a.d).abs() < (EGO_WIDTH + a.size[..., 1]) / 2 + 0.3
    halt = (a.vs != 0) & (a.vd == 0) & ego_side & (ego_gap > -0.5) & (ego_gap < 1.5)
    walking = walking & ~halt
    w_d = a.d + a.vd * dt
    crossing = a.vd != 0
    arrived = crossing & ((w_d - a.d_end) * torch.sign(a.vd) >= 0)
    motion = _Motion(
        s=a.s + a.vs * dt,
        d=torch.where(arrived, a.d_end, w_d),
        psi=torch.where(walking, torch.atan2(a.vd, a.vs), a.psi),
        speed=torch.hypot(a.vs, a.vd),
        s_dot=a.vs,
        d_dot=a.vd,
    )
    return walking, motion, trigger_t, a.walk_done | (walking & arrived)


def _idle_sway(a: Actors, t_next: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Idle animals sway deterministically about their home: (d, d_dot, psi) (B, N) at t_next."""
    tt = t_next[:, None]
    d = a.d_home + a.idle_amp * torch.sin(0.7 * tt + a.idle_phase)
    d_dot = a.idle_amp * 0.7 * torch.cos(0.7 * tt + a.idle_phase)
    psi = a.psi_home + 0.4 * torch.sin(0.5 * tt + 2 * a.idle_phase)
    return d, d_dot, psi


def _step_spinout(a: Actors, spin: SpinState, rmap: RoadMap, barriers, barrier_valid, t_next, dt: float):
    """The spin-out car: hand over to the rigid body at its spin time, then follow the physics.
    Only the environments that have one are stepped, against the barrier segments near the car."""
    B, N = a.s.shape
    slot, has = spin.slot, spin.slot >= 0
    spin_time = _slot_get(a.spin_time, slot)
    start = has & ~spin.active & (t_next >= spin_time) & ~_slot_get(a.crashed, slot)
    direction = _slot_get(a.spin_dir, slot)
    pose, _ = actor_world_poses(a, rmap, spin, has_lines=False)
    pose_slot = torch.gather(pose, 1, slot.clamp(min=0)[:, None, None].expand(B, 1, 3)).squeeze(1)
    spin = start_spin(spin, start, pose_slot, _slot_get(a.speed, slot), direction)
    # a body at rest stays at rest: only moving ones are stepped (one host sync per step,
    # much cheaper than the physics it skips)
    moving = spin.active & ((spin.body.vx.abs() + spin.body.vy.abs() + spin.body.yaw_rate.abs()) > 0.02)
    if not bool(moving.any()):
        return a, spin
    near_bar, near_valid = _nearby_barriers(barriers, barrier_valid, _slot_get(a.s, slot))
    spin = advance_spin(spin, near_bar, near_valid, t_next, direction, dt)
    onehot = torch.nn.functional.one_hot(slot.clamp(min=0), N).bool() & spin.active[:, None]
    xy = torch.stack([spin.body.x, spin.body.y], -1)[:, None]
    s1, d1, ref_yaw = world_to_frenet(rmap, xy, _slot_get(a.s, slot)[:, None])
    s1, d1, ref_yaw = s1[:, 0], d1[:, 0], ref_yaw[:, 0]
    c, sn = torch.cos(ref_yaw), torch.sin(ref_yaw)
    vx, vy = spin.body.vx, spin.body.vy
    a = replace(
        a,
        s=_slot_put(a.s, onehot, s1),
        d=_slot_put(a.d, onehot, d1),
        psi=_slot_put(a.psi, onehot, spin.body.yaw - ref_yaw),
        speed=_slot_put(a.speed, onehot, torch.hypot(vx, vy)),
        s_dot=_slot_put(a.s_dot, onehot, c * vx + sn * vy),
        d_dot=_slot_put(a.d_dot, onehot, -sn * vx + c * vy),
        spinning=a.spinning | onehot,
    )
    return a, spin


def _nearby_barriers(barriers: torch.Tensor, valid: torch.Tensor, s: torch.Tensor, reach: int = 3):
    """The barrier segments within `reach` segments of arc length s (B,) on both sides:
    (B, 2 (2 reach + 1), 4). Barriers are laid out per side in order of s (map.features)."""
    n = barriers.shape[1] // 2
    k = (s / BARRIER_SPACING).floor().long()[:, None] + torch.arange(-reach, reach + 1, device=s.device)
    k = k.clamp(0, n - 1)
    idx = torch.cat([k, k + n], 1)  # (B, 2(2r+1))
    return torch.gather(barriers, 1, idx[..., None].expand(-1, -1, 4)), torch.gather(valid, 1, idx)


def actor_collisions(a: Actors, pose: torch.Tensor, has_lines: bool | None = None) -> torch.Tensor:
    """(B, N) bool: actor overlaps another actor, where at least one of the two is a vehicle
    (animals of a flock may brush each other). Tested on the actors' bounding boxes aligned with
    the road (Frenet), which contain the true boxes: a conservative and cheap test (N^2 pairs),
    exact for actors driving along their lane."""
    c, s = torch.cos(a.psi).abs(), torch.sin(a.psi).abs()
    hs = (a.size[..., 0] * c + a.size[..., 1] * s) / 2
    hd = (a.size[..., 0] * s + a.size[..., 1] * c) / 2
    hit = ((a.s[:, :, None] - a.s[:, None]).abs() <= hs[:, :, None] + hs[:, None]) & (
        (a.d[:, :, None] - a.d[:, None]).abs() <= hd[:, :, None] + hd[:, None]
    )  # (B, N, N)
    vehicle = a.behavior == int(Behavior.VEHICLE)
    pair = a.valid[:, :, None] & a.valid[:, None] & (vehicle[:, :, None] | vehicle[:, None])
    if _lines(a, has_lines):  # boxes in different frames cannot be compared this way
        from e2edrive.sim.actors.state import _same_frame

        pair = pair & _same_frame(a)[..., :-1]
    eye = torch.eye(a.s.shape[1], dtype=torch.bool, device=a.s.device)
    return (hit & pair & ~eye).any(-1)
