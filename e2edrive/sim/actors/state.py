"""Actors of a batch of worlds: (B, N) tensors with a valid mask, stepped without Python loops
over actors.

Every actor except a spinning car lives in Frenet coordinates (s, d) of its map's reference line
(sim.map): the box centre at arc length s and lateral offset d, heading `psi` relative to the
line. Behaviours:
- VEHICLE: longitudinal IDM (sim.traffic.idm_accel) behind the nearest actor or the ego in its
  lane (either direction of travel), stopping at red lights, towards a desired speed that may
  follow a schedule (a lead car that brakes hard); lateral lane keeping is exact in Frenet, and a
  lane change (cut-in) is a quintic d(t) profile triggered by the gap to the ego.
- WALKER: pedestrians and chickens; constant Frenet velocity (vs, vd) from a start time that is
  counted from a trigger (the ego passing an arc length), until reaching d_end when crossing; a
  crosswalk pedestrian with a walk light sets off only while that light is green.
- IDLE: geese standing still with a small deterministic idle motion (no RNG inside the loop).
- STATIC: debris and parked objects.
- Cross traffic: an actor given a `line` lives on that straight world line (a junction arm off
  the route) instead: s is its position along the line, d its offset to the left, psi its heading
  relative to the line. It follows actors on the same line and the ego when the ego is in its
  lane, stops at its own stop line on its own light (the route's or the crossing road's), and
  leaves the world past `line_end`. A turning one leaves its line on a quarter arc into its exit
  lane (actors/paths.py; s then counts along that path), slows for the arc, and, turning left,
  waits for a gap in oncoming traffic (actors/turning.py). Route actors and line actors do not
  see each other (the lights keep them apart); the ego sees both in the world frame.
- A VEHICLE with a finite spin time becomes a 2D rigid body (sim.rigid_body) when that time
  comes: it loses rear grip, spins, hits the barrier and bounces back. Its Frenet coordinates are
  then recovered by projection, so the others still see it.
Actors that collide with each other are flagged `crashed` and stop (both of them) for the rest of
the episode: we do not simulate the crash itself.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field, fields

import numpy as np
import torch

from e2edrive.core.constants import EGO_LENGTH, EGO_WIDTH, LightState, ObjectClass
from e2edrive.sim.actors.paths import path_frame

MAX_ACTORS = 32  # per environment; the benchmark needs >= 20
SCHED_K = 4  # breakpoints of a desired-speed schedule


class Behavior(enum.IntEnum):
    VEHICLE = 0
    WALKER = 1
    IDLE = 2
    STATIC = 3


@dataclass
class ActorSpec:
    """One actor of one episode (host side). Units: m, m/s, s, rad.

    s, d: box centre in Frenet; size (length, width, height); heading psi relative to the line.
    Vehicles: speed, direction (+1 with the route, -1 oncoming), desired speed v_desired or a
    schedule [(t, v), ...], max_decel (m/s^2, > 0) that caps its braking, lane change
    (lc_gap: starts when its rear is within lc_gap m ahead of the ego's front; lc_d, lc_time),
    spin_time (s) when it loses traction, spin_dir (+1 spins left, towards the oncoming barrier).
    Walkers: vs, vd (m/s), start_delay after the trigger (the ego's rear axle passing trigger_s),
    d_end where a crossing ends. Idle: idle_amp (m).
    Cross traffic: line (x0, y0, heading) of the world line it drives along (s, d in its frame),
    stop_at (line coordinate its front bumper stops at on red; inf: it runs the light), light
    (0: it obeys the route's light, 1: the crossing road's), line_end (it vanishes past it).
    Crosswalk pedestrians: walk_light (0: they set off only on the route's green, 1: on the
    crossing road's, -1: no light); once on the crosswalk they finish crossing.
    Turning cross traffic (actors/paths.py): its path leaves the line at line coordinate turn_s0
    on a quarter arc of curvature turn_kappa (1/m, positive left; s then counts along the path).
    A left-turner waits with its box centre at path coordinate yield_s while oncoming traffic
    (actors/turning.py) is within its gap of the stretch [yield_lo, yield_hi] of its line.
    """

    cls: ObjectClass
    behavior: Behavior
    s: float
    d: float
    size: tuple[float, float, float]
    color: tuple[int, int, int] = (200, 200, 200)
    psi: float = 0.0
    speed: float = 0.0
    direction: float = 1.0
    v_desired: float = 0.0
    schedule: list[tuple[float, float]] = field(default_factory=list)
    max_decel: float = 8.0
    lc_gap: float = float("-inf")
    lc_d: float = 0.0
    lc_time: float = 3.0
    spin_time: float = float("inf")
    spin_dir: float = 1.0
    vs: float = 0.0
    vd: float = 0.0
    start_delay: float = 0.0
    trigger_s: float = float("-inf")
    d_end: float = 0.0
    idle_amp: float = 0.0
    line: tuple[float, float, float] | None = None
    stop_at: float = float("inf")
    light: int = 1
    line_end: float = float("inf")
    walk_light: int = -1
    turn_s0: float = float("inf")
    turn_kappa: float = 0.0
    yield_s: float = float("inf")
    yield_lo: float = float("inf")
    yield_hi: float = float("inf")


@dataclass
class Actors:
    """State and parameters of B x N actors (see ActorSpec for meanings). All tensors (B, N, ...)."""

    valid: torch.Tensor  # bool
    cls: torch.Tensor  # long
    behavior: torch.Tensor  # long
    size: torch.Tensor  # (B, N, 3)
    color: torch.Tensor  # (B, N, 3) uint8
    s: torch.Tensor
    d: torch.Tensor
    psi: torch.Tensor
    speed: torch.Tensor
    s_dot: torch.Tensor  # m/s along the reference line (signed)
    d_dot: torch.Tensor
    direction: torch.Tensor
    sched_t: torch.Tensor  # (B, N, SCHED_K)
    sched_v: torch.Tensor  # (B, N, SCHED_K)
    max_decel: torch.Tensor
    lc_gap: torch.Tensor
    lc_d: torch.Tensor
    lc_time: torch.Tensor
    lc_t0: torch.Tensor  # inf until the lane change starts
    lc_d0: torch.Tensor
    spin_time: torch.Tensor
    spin_dir: torch.Tensor
    spinning: torch.Tensor  # bool
    vs: torch.Tensor
    vd: torch.Tensor
    start_delay: torch.Tensor
    trigger_s: torch.Tensor
    trigger_t: torch.Tensor  # inf until triggered
    d_end: torch.Tensor
    walk_done: torch.Tensor  # bool
    idle_amp: torch.Tensor
    idle_phase: torch.Tensor
    d_home: torch.Tensor  # idle centre
    psi_home: torch.Tensor
    crashed: torch.Tensor  # bool
    braking: torch.Tensor  # bool, brake lights lit: decelerating harder than BRAKE_LIGHT_DECEL or held
    on_line: torch.Tensor  # bool, cross traffic on its own world line (s, d in the line's frame)
    frame: torch.Tensor  # long, -1 the route's Frenet frame, k >= 0 the episode's k-th distinct line
    line_x: torch.Tensor
    line_y: torch.Tensor
    line_yaw: torch.Tensor
    stop_at: torch.Tensor
    light_group: torch.Tensor  # long, 0 route light, 1 crossing light
    line_end: torch.Tensor
    walk_light: torch.Tensor  # long, the light a crossing pedestrian waits for (-1: none)
    turn_s0: torch.Tensor  # path coordinate where a turning line actor's arc starts (inf: straight)
    turn_kappa: torch.Tensor  # the arc's signed curvature, 1/m (0: straight)
    yield_s: torch.Tensor  # a left-turner's waiting point (path coordinate of its centre; inf: none)
    yield_lo: torch.Tensor  # the stretch of its line oncoming traffic must be clear of
    yield_hi: torch.Tensor

    def select(self, mask: torch.Tensor, other: Actors) -> Actors:
        """Per-environment select: other where mask (B,) is True, self elsewhere."""
        out = {}
        for f in fields(self):
            a, b = getattr(self, f.name), getattr(other, f.name)
            m = mask.view(-1, *([1] * (a.dim() - 1)))
            out[f.name] = torch.where(m, b, a)
        return Actors(**out)


# ActorSpec scalars copied one to one into (B, n_max) columns
_SPEC_SCALARS = (
    "s",
    "d",
    "psi",
    "speed",
    "direction",
    "max_decel",
    "lc_gap",
    "lc_d",
    "lc_time",
    "spin_time",
    "spin_dir",
    "vs",
    "vd",
    "start_delay",
    "trigger_s",
    "d_end",
    "idle_amp",
    "stop_at",
    "line_end",
    "turn_s0",
    "turn_kappa",
    "yield_s",
    "yield_lo",
    "yield_hi",
)


def pack_actors(specs: list[list[ActorSpec]], device, n_max: int = MAX_ACTORS) -> Actors:
    """Stack per-environment actor lists into (B, n_max) tensors; padding is invalid."""
    B = len(specs)
    cols: dict[str, np.ndarray] = {}

    def col(name, fill, shape=(), dtype=np.float32):
        cols[name] = np.full((B, n_max, *shape), fill, dtype=dtype)

    for name in (*_SPEC_SCALARS, "idle_phase", "line_x", "line_y", "line_yaw"):
        col(name, 0.0)
    col("on_line", False, dtype=bool)
    col("frame", -1, dtype=np.int64)
    col("light_group", 1, dtype=np.int64)
    col("walk_light", -1, dtype=np.int64)
    col("valid", False, dtype=bool)
    col("cls", 0, dtype=np.int64)
    col("behavior", int(Behavior.STATIC), dtype=np.int64)
    col("size", 1.0, (3,))
    col("color", 0, (3,), np.uint8)
    col("sched_t", 0.0, (SCHED_K,))
    col("sched_v", 0.0, (SCHED_K,))
    cols["spin_time"][:] = np.inf
    cols["lc_gap"][:] = -np.inf
    cols["stop_at"][:] = np.inf
    cols["line_end"][:] = np.inf
    for name in ("turn_s0", "yield_s", "yield_lo", "yield_hi"):
        cols[name][:] = np.inf
    for b, env in enumerate(specs):
        lines: dict[tuple[float, float, float], int] = {}  # distinct lines of the episode -> frame
        if len(env) > n_max:
            raise ValueError(f"environment {b} has {len(env)} actors, more than MAX_ACTORS={n_max}")
        for i, a in enumerate(env):
            cols["valid"][b, i] = True
            cols["cls"][b, i] = int(a.cls)
            cols["behavior"][b, i] = int(a.behavior)
            cols["size"][b, i] = a.size
            cols["color"][b, i] = a.color
            for name in _SPEC_SCALARS:
                cols[name][b, i] = getattr(a, name)
            sched = a.schedule or [(0.0, a.v_desired)]
            if len(sched) > SCHED_K:
                raise ValueError(f"a speed schedule has at most {SCHED_K} breakpoints, got {len(sched)}")
            sched = sched + [(np.inf, sched[-1][1])] * (SCHED_K - len(sched))
            cols["sched_t"][b, i] = [t for t, _ in sched]
            cols["sched_v"][b, i] = [v for _, v in sched]
            cols["idle_phase"][b, i] = (i * 2.399) % (2 * np.pi)  # golden-angle spread, no RNG needed
            cols["light_group"][b, i] = a.light
            cols["walk_light"][b, i] = a.walk_light
            if a.line is not None:
                cols["on_line"][b, i] = True
                cols["frame"][b, i] = lines.setdefault(tuple(a.line), len(lines))
                cols["line_x"][b, i], cols["line_y"][b, i], cols["line_yaw"][b, i] = a.line
    t = {k: torch.as_tensor(v, device=device) for k, v in cols.items()}
    zeros = torch.zeros(B, n_max, device=device)
    vehicle = t["behavior"] == int(Behavior.VEHICLE)
    false = torch.zeros_like(t["valid"])
    return Actors(
        **t,  # every packed column is the field of the same name
        s_dot=torch.where(vehicle, t["speed"] * t["direction"], zeros),
        d_dot=zeros.clone(),
        lc_t0=torch.full_like(zeros, float("inf")),
        lc_d0=t["d"].clone(),
        spinning=false,
        trigger_t=torch.full_like(zeros, float("inf")),
        walk_done=false.clone(),
        d_home=t["d"].clone(),
        psi_home=t["psi"].clone(),
        crashed=false.clone(),
        braking=false.clone(),
    )


def actor_capacity(counts: list[int]) -> int:
    """Actor slots for a batch: the largest count rounded up to a multiple of 8 (at least 8)."""
    n = max([8] + list(counts))
    if n > MAX_ACTORS:
        raise ValueError(f"an episode has {n} actors, more than MAX_ACTORS={MAX_ACTORS}")
    return -(-n // 8) * 8


def pad_actors(a: Actors, n: int) -> Actors:
    """Grow the actor slots to n with invalid padding (when a new episode needs more)."""
    B, N = a.s.shape
    if n <= N:
        return a
    extra = pack_actors([[] for _ in range(B)], a.s.device, n - N)
    return Actors(**{f.name: torch.cat([getattr(a, f.name), getattr(extra, f.name)], 1) for f in fields(a)})


@dataclass
class EgoFrenet:
    """What actors need to know about the ego, (B,) each: box-centre s, d, speed along s."""

    s: torch.Tensor
    d: torch.Tensor
    s_dot: torch.Tensor
    front_s: torch.Tensor
    rear_s: torch.Tensor
    box: torch.Tensor | None = None  # (B, 3) world box pose, for cross traffic on world lines


def leader_gaps(
    a: Actors,
    ego: EgoFrenet,
    lateral_margin: float = 0.3,
    horizon: float = 2.0,
    has_lines: bool | None = None,
):
    """For every actor, the bumper-to-bumper gap (B, N) to the nearest actor or ego ahead in its
    direction whose lateral extent (grown by what a walker covers in `horizon` s) overlaps its
    own, and that leader's speed along the actor's direction. inf gap: free road."""
    B, N = a.s.shape
    s = torch.cat([a.s, ego.s[:, None]], 1)  # (B, N+1)
    d = torch.cat([a.d, ego.d[:, None]], 1)
    length = torch.cat([a.size[..., 0], torch.full_like(ego.s[:, None], EGO_LENGTH)], 1)
    width = torch.cat([a.size[..., 1], torch.full_like(ego.s[:, None], EGO_WIDTH)], 1)
    s_dot = torch.cat([a.s_dot, ego.s_dot[:, None]], 1)
    reach = torch.cat([a.d_dot.abs() * horizon, torch.zeros_like(ego.s[:, None])], 1)
    valid = torch.cat([a.valid, torch.ones_like(a.valid[:, :1])], 1)
    along = (s[:, None, :] - a.s[:, :, None]) * a.direction[:, :, None]  # (B, N, N+1)
    lat = (d[:, None, :] - a.d[:, :, None]).abs()
    overlap = lat < (width[:, None, :] + a.size[:, :, None, 1]) / 2 + lateral_margin + reach[:, None, :]
    gap = along - (length[:, None, :] + a.size[:, :, None, 0]) / 2
    self_mask = torch.eye(N, N + 1, dtype=torch.bool, device=a.s.device)
    ok = valid[:, None, :] & overlap & (along > 0) & ~self_mask
    if bool(a.on_line.any()) if has_lines is None else has_lines:  # only actors in one frame lead each other
        ok = ok & _same_frame(a)
    gap = torch.where(ok, gap, torch.full_like(gap, float("inf")))
    g, j = gap.min(-1)  # (B, N)
    v_lead = torch.gather(s_dot, 1, j) * a.direction
    return g, v_lead


PARTED = 7.0  # m of its own branch the rear of the car ahead has driven when two paths have parted


def _same_frame(a: Actors) -> torch.Tensor:
    """(B, N, N+1) actor i and actor j (the ego last, on the route) share a frame: the same line,
    and the same path on it (the same turn), or different paths that have not yet parted (the
    rear of the car further along is less than PARTED m past the point where they part)."""
    same = a.frame[:, :, None] == a.frame[:, None]
    same_path = (a.turn_s0[:, :, None] == a.turn_s0[:, None]) & (
        a.turn_kappa[:, :, None] == a.turn_kappa[:, None]
    )
    part_s = torch.minimum(a.turn_s0[:, :, None], a.turn_s0[:, None])
    rear = a.s - a.size[..., 0] / 2
    parted = torch.maximum(rear[:, :, None], rear[:, None]) > part_s + PARTED
    same = same & (same_path | ~parted)
    ego = ~a.on_line[..., None]  # the ego leads route actors only (line_ego_gap does the rest)
    return torch.cat([same, ego], -1)


def line_ego_gap(
    a: Actors, ego: EgoFrenet, lateral_margin: float = 0.3, turns: bool = True
) -> tuple[torch.Tensor, torch.Tensor]:
    """Gap (B, N) from each line actor's front to the ego's box when the ego is ahead in its lane
    (the ego's extent measured in the frame of its path), and the ego's speed along the path.
    turns: host flag, some path may turn."""
    path = (a.line_x, a.line_y, a.line_yaw, a.turn_s0, a.turn_kappa)
    eu, ed, head = path_frame(ego.box[:, None, 0], ego.box[:, None, 1], *path, turns=turns)
    rel = ego.box[:, None, 2] - head
    rc, rs = torch.cos(rel).abs(), torch.sin(rel).abs()
    ext_u = rc * EGO_LENGTH / 2 + rs * EGO_WIDTH / 2
    ext_d = rs * EGO_LENGTH / 2 + rc * EGO_WIDTH / 2
    overlap = (ed - a.d).abs() < ext_d + a.size[..., 1] / 2 + lateral_margin
    gap = (eu - a.s) - ext_u - a.size[..., 0] / 2
    ok = a.on_line & overlap & (eu > a.s)
    v_along = ego.s_dot[:, None].abs() * torch.cos(rel)
    return torch.where(ok, gap, torch.full_like(gap, float("inf"))), v_along


def line_stop_gap(a: Actors, route_light: torch.Tensor, cross_light: torch.Tensor) -> torch.Tensor:
    """(B, N) gap from a line actor's front to its stop line while its light says stop (red, or
    yellow when it can stop at 3 m/s^2); inf otherwise. route_light, cross_light (B,)."""
    gap = a.stop_at - (a.s + a.size[..., 0] / 2)
    light = torch.where(a.light_group == 0, route_light[:, None], cross_light[:, None])
    can_stop = a.speed**2 / (2 * gap.clamp(min=0.1)) < 3.0
    must = ((light == int(LightState.RED)) | ((light == int(LightState.YELLOW)) & can_stop)) & (gap > -0.5)
    return torch.where(must & a.on_line, gap.clamp(min=0.0), torch.full_like(gap, float("inf")))


def stop_line_gap(
    a: Actors, inter_s, inter_entry, inter_exit, route_light, setback: float, back_light=None
) -> torch.Tensor:
    """(B, N) gap to the stop line a vehicle must respect (red, or yellow when it can stop at
    3 m/s^2); inf otherwise. Route-direction vehicles stop before s_int - entry - setback, oncoming
    ones after s_int + exit + setback. Route-direction vehicles obey the route's light; oncoming
    ones back_light (B,), which is the route's too unless the route turns (then they come out of
    a crossing arm)."""
    stop_fwd = inter_s - inter_entry - setback  # (B,)
    stop_back = inter_s + inter_exit + setback
    half_len = a.size[..., 0] / 2
    gap = torch.where(
        a.direction > 0, stop_fwd[:, None] - (a.s + half_len), (a.s - half_len) - stop_back[:, None]
    )
    light = (
        route_light[:, None]
        if back_light is None
        else torch.where(a.direction > 0, route_light[:, None], back_light[:, None])
    )
    red = light == int(LightState.RED)
    yellow = light == int(LightState.YELLOW)
    can_stop = a.speed**2 / (2 * gap.clamp(min=0.1)) < 3.0
    must = (red | (yellow & can_stop)) & (gap > -0.5)
    return torch.where(must, gap.clamp(min=0.0), torch.full_like(gap, float("inf")))


def quintic(u: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Smooth step 10u^3 - 15u^4 + 6u^5 on [0, 1] and its derivative."""
    u = u.clamp(0.0, 1.0)
    return u**3 * (10 - 15 * u + 6 * u**2), 30 * u**2 * (1 - u) ** 2


def scheduled_speed(a: Actors, t: torch.Tensor) -> torch.Tensor:
    """Desired speed (B, N) at time t (B,) from each actor's piecewise-constant schedule."""
    k = ((a.sched_t <= t[:, None, None]).sum(-1) - 1).clamp(min=0)
    return torch.gather(a.sched_v, 2, k.unsqueeze(-1)).squeeze(-1)


def walk_light_green(a: Actors, route_light: torch.Tensor, cross_light: torch.Tensor) -> torch.Tensor:
    """(B, N) a pedestrian's walk light allows setting off (no light, or its light is green).
    route_light, cross_light (B,)."""
    light = torch.where(a.walk_light == 0, route_light[:, None], cross_light[:, None])
    return (a.walk_light < 0) | (light == int(LightState.GREEN))
