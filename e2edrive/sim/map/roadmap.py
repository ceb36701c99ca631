"""`RoadMap`: a batch of B road maps as tensors, and the Frenet <-> world conversions on them.

Each map's reference line is sampled every REF_DS metres (the same N_REF samples for every map,
so nothing is padded). Lookups by arc length are index arithmetic, and projections of the few
points that move freely (the ego, a spinning car) search a small window around their previous
arc length, so every query is O(B * points), never O(B * N_REF) per step.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from e2edrive.core.constants import TurnCommand
from e2edrive.sim.map.spec import (
    CROSS_HALF_LENGTH,
    LANE_WIDTH,
    N_REF,
    REF_DS,
    ROAD_LENGTH,
    IntersectionSpec,
    RoadSpec,
    arc_start_index,
)

MAX_INTERSECTIONS = 1
MAX_PUDDLES = 2
MAX_ARMS = 2  # junction arms off the route: a turning 4-way has two (ahead and the far side)
ARM_LENGTH = 100.0  # m from the junction centre to an arm's far end (room for queues of cross traffic)
CORNER_KERB_RADIUS = 7.0  # m, the kerb where the two arms off the route meet: its right-turn lane has 8.75 m


@dataclass
class RoadMap:
    """B maps.

    ref:          (B, N_REF, 4) reference line samples (x, y, yaw, kappa), world frame; yaw is
                  continuous (not wrapped) so it interpolates linearly
    width_right:  (B,) m, road edge at d = -width_right (the ego's side)
    width_left:   (B,) m, road edge at d = +width_left
    lanes_fwd, lanes_back: (B,) long
    speed_limit:  (B,) m/s
    inter_s:      (B, I) arc length of each intersection centre; inter_half: (B, I) half width of
                  the crossing road; inter_valid: (B, I) bool
    light_cycle:  (B, I, 4) (green, yellow, red, phase) seconds
    puddle:       (B, Q, 4) (s, d, half_length, half_width); puddle_valid (B, Q) bool
    inter_turn:   (B, I) long TurnCommand of the route at each intersection
    inter_entry, inter_exit: (B, I) m before / after inter_s where the route enters / leaves the
                  junction (the box, or its turn arc); equal to inter_half when it goes straight
    inter_band:   (B, I) bool, the crossing road is the Frenet band |s - inter_s| <= inter_half
                  (a straight 4-way); otherwise the junction's other arms are world rectangles
    inter_center: (B, I, 3) junction centre x, y (world) and the approach heading (rad)
    inter_missing: (B, I) long, a T junction's missing arm as a TurnCommand direction, -1: 4-way
    arm:          (B, A, 4) arms off the route: centre x, y, heading pointing away from the
                  centre (rad), half width (m); each covers along [-half, ARM_LENGTH] and
                  across [-half, half] of its own frame (the box included); arm_valid (B, A).
                  Where two arms meet at right angles their corner is rounded with a kerb of
                  CORNER_KERB_RADIUS (`on_corner`), so cross traffic can turn right there
    """

    ref: torch.Tensor
    width_right: torch.Tensor
    width_left: torch.Tensor
    lanes_fwd: torch.Tensor
    lanes_back: torch.Tensor
    speed_limit: torch.Tensor
    inter_s: torch.Tensor
    inter_half: torch.Tensor
    inter_valid: torch.Tensor
    light_cycle: torch.Tensor
    puddle: torch.Tensor
    puddle_valid: torch.Tensor
    inter_turn: torch.Tensor
    inter_entry: torch.Tensor
    inter_exit: torch.Tensor
    inter_band: torch.Tensor
    inter_center: torch.Tensor
    inter_missing: torch.Tensor
    arm: torch.Tensor
    arm_valid: torch.Tensor

    @property
    def batch_size(self) -> int:
        return self.ref.shape[0]

    @property
    def device(self) -> torch.device:
        return self.ref.device


def reference_line(kappa: np.ndarray) -> np.ndarray:
    """Integrate a curvature profile into (N_REF, 4) (x, y, yaw, kappa) starting at the origin
    heading +x. Exact for piecewise-constant curvature between samples (arc chords)."""
    dyaw = kappa[:-1] * REF_DS
    yaw = np.concatenate([[0.0], np.cumsum(dyaw)])
    # chord of an arc of length ds turning dyaw: length ds*sinc(dyaw/2) at the mid heading
    chord = REF_DS * np.sinc(dyaw / (2 * np.pi))
    mid = yaw[:-1] + dyaw / 2
    x = np.concatenate([[0.0], np.cumsum(chord * np.cos(mid))])
    y = np.concatenate([[0.0], np.cumsum(chord * np.sin(mid))])
    return np.stack([x, y, yaw, kappa], -1)


def junction_frame(ref: np.ndarray, it: IntersectionSpec) -> tuple[float, float, float]:
    """(x, y, approach heading) of a junction's centre, from the reference line (N_REF, 4): where
    the approach centre line, continued straight, meets the crossing road's centre line."""
    if it.turning:
        x, y, yaw, _ = ref[arc_start_index(it)]
        return x + it.turn_radius * math.cos(yaw), y + it.turn_radius * math.sin(yaw), yaw
    u = it.s / REF_DS
    i = int(min(math.floor(u), N_REF - 2))
    x, y, yaw, _ = ref[i] + (ref[i + 1] - ref[i]) * (u - i)
    return x, y, yaw


def junction_arms(it: IntersectionSpec) -> list[float]:
    """Headings (relative to the approach) of the arms off the route: not the approach, not the
    route's exit, not a T junction's missing arm. A straight 4-way has none (its crossing road is
    the Frenet band)."""
    rel = {
        int(TurnCommand.STRAIGHT): 0.0,
        int(TurnCommand.LEFT): math.pi / 2,
        int(TurnCommand.RIGHT): -math.pi / 2,
    }
    if not it.turning and it.missing_arm is None:
        return []
    return [h for k, h in rel.items() if k != it.turn and k != it.missing_arm]


def build_roadmap(specs: list[RoadSpec], device: torch.device | str = "cpu") -> RoadMap:
    """Stack B road specs into tensors (host work at reset, not per step)."""
    B = len(specs)
    ref = np.stack([reference_line(s.kappa) for s in specs])
    inter = np.zeros((B, MAX_INTERSECTIONS, 6))
    inter_valid = np.zeros((B, MAX_INTERSECTIONS), bool)
    geo = np.zeros((B, MAX_INTERSECTIONS, 7))  # turn, entry, exit, centre x, y, heading, missing
    band = np.zeros((B, MAX_INTERSECTIONS), bool)
    arm = np.zeros((B, MAX_ARMS, 4))
    arm_valid = np.zeros((B, MAX_ARMS), bool)
    puddle = np.zeros((B, MAX_PUDDLES, 4))
    puddle_valid = np.zeros((B, MAX_PUDDLES), bool)
    for b, spec in enumerate(specs):
        if len(spec.intersections) > MAX_INTERSECTIONS or len(spec.puddles) > MAX_PUDDLES:
            raise ValueError(f"at most {MAX_INTERSECTIONS} intersections and {MAX_PUDDLES} puddles per map")
        n_arm = 0
        for i, it in enumerate(spec.intersections):
            inter[b, i] = (it.s, it.half_width, it.green, it.yellow, it.red, it.phase)
            inter_valid[b, i] = True
            cx, cy, heading = junction_frame(ref[b], it)
            missing = -1 if it.missing_arm is None else it.missing_arm
            geo[b, i] = (it.turn, it.entry, it.exit, cx, cy, heading, missing)
            band[b, i] = not it.turning and it.missing_arm is None
            for rel in junction_arms(it):
                arm[b, n_arm] = (cx, cy, heading + rel, it.half_width)
                arm_valid[b, n_arm] = True
                n_arm += 1
        for i, p in enumerate(spec.puddles):
            puddle[b, i] = (p.s, p.d, p.half_length, p.half_width)
            puddle_valid[b, i] = True

    def t(a, dtype=torch.float32):
        return torch.as_tensor(np.asarray(a), dtype=dtype, device=device)

    return RoadMap(
        ref=t(ref),
        width_right=t([s.width_right for s in specs]),
        width_left=t([s.width_left for s in specs]),
        lanes_fwd=t([s.lanes_fwd for s in specs], torch.long),
        lanes_back=t([s.lanes_back for s in specs], torch.long),
        speed_limit=t([s.speed_limit for s in specs]),
        inter_s=t(inter[..., 0]),
        inter_half=t(inter[..., 1]),
        inter_valid=t(inter_valid, torch.bool),
        light_cycle=t(inter[..., 2:6]),
        puddle=t(puddle),
        puddle_valid=t(puddle_valid, torch.bool),
        inter_turn=t(geo[..., 0], torch.long),
        inter_entry=t(geo[..., 1]),
        inter_exit=t(geo[..., 2]),
        inter_band=t(band, torch.bool),
        inter_center=t(geo[..., 3:6]),
        inter_missing=t(geo[..., 6], torch.long),
        arm=t(arm),
        arm_valid=t(arm_valid, torch.bool),
    )


def sample_ref(rmap: RoadMap, s: torch.Tensor) -> torch.Tensor:
    """Reference line at arc lengths s (B, ...) -> (B, ..., 4) (x, y, yaw, kappa), linear
    interpolation; beyond either end the line continues straight."""
    B = s.shape[0]
    flat = s.reshape(B, -1)
    u = (flat / REF_DS).clamp(0, N_REF - 1 - 1e-4)
    i0 = u.floor().long()
    w = (u - i0).unsqueeze(-1)
    idx = i0.unsqueeze(-1).expand(-1, -1, 4)
    a = torch.gather(rmap.ref, 1, idx)
    b = torch.gather(rmap.ref, 1, idx + 1)
    out = a + (b - a) * w
    # straight extrapolation outside [0, ROAD_LENGTH]
    extra = (flat - flat.clamp(0, ROAD_LENGTH)).unsqueeze(-1)
    out = torch.cat(
        [
            out[..., :1] + extra * torch.cos(out[..., 2:3]),
            out[..., 1:2] + extra * torch.sin(out[..., 2:3]),
            out[..., 2:3],
            torch.where(extra != 0, torch.zeros_like(out[..., 3:]), out[..., 3:]),
        ],
        -1,
    )
    return out.reshape(*s.shape, 4)


def frenet_to_world(rmap: RoadMap, s: torch.Tensor, d: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(s, d) (B, ...) -> world xy (B, ..., 2) and the reference yaw (B, ...) at s."""
    r = sample_ref(rmap, s)
    c, sn = torch.cos(r[..., 2]), torch.sin(r[..., 2])
    xy = torch.stack([r[..., 0] - d * sn, r[..., 1] + d * c], -1)
    return xy, r[..., 2]


def world_to_frenet(
    rmap: RoadMap, xy: torch.Tensor, s_guess: torch.Tensor, window: float = 12.0
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Project world points xy (B, K, 2) onto the reference line near s_guess (B, K).

    Searches +-window metres of samples around the guess (points move < 3 m per step), then
    projects onto the tangent of the nearest sample. Returns s, d (B, K) and the reference yaw.
    """
    B, K = s_guess.shape
    n = int(round(window / REF_DS))
    offs = torch.arange(-n, n + 1, device=xy.device)
    i_guess = torch.round(s_guess / REF_DS).long()
    idx = (i_guess.unsqueeze(-1) + offs).clamp(0, N_REF - 1)  # (B, K, W)
    pts = torch.gather(rmap.ref, 1, idx.reshape(B, -1, 1).expand(-1, -1, 4)).reshape(B, K, -1, 4)
    dist2 = (pts[..., 0] - xy[..., None, 0]) ** 2 + (pts[..., 1] - xy[..., None, 1]) ** 2
    j = dist2.argmin(-1, keepdim=True)  # (B, K, 1)
    p = torch.gather(pts, 2, j.unsqueeze(-1).expand(-1, -1, -1, 4)).squeeze(2)  # (B, K, 4)
    i_near = torch.gather(idx, 2, j).squeeze(-1)
    c, sn = torch.cos(p[..., 2]), torch.sin(p[..., 2])
    dx, dy = xy[..., 0] - p[..., 0], xy[..., 1] - p[..., 1]
    s = i_near.to(xy.dtype) * REF_DS + c * dx + sn * dy
    d = -sn * dx + c * dy
    return s, d, p[..., 2]


def drivable_frenet(rmap: RoadMap, s: torch.Tensor, d: torch.Tensor, margin: float = 0.0) -> torch.Tensor:
    """Is the point (s, d) (B, ...) on the road surface? The route's carriageway plus the crossing
    road of each straight 4-way intersection (the route is straight there, so the crossing road is
    the band |s - s_int| <= half width, any |d| up to CROSS_HALF_LENGTH). The arms of turning and
    T junctions are world rectangles: add `on_arms` for them."""
    B = s.shape[0]
    view = (B,) + (1,) * (s.dim() - 1)
    on = (d >= -rmap.width_right.view(view) - margin) & (d <= rmap.width_left.view(view) + margin)
    on = on & (s >= 0) & (s <= ROAD_LENGTH)
    for i in range(rmap.inter_s.shape[1]):
        near = (s - rmap.inter_s[:, i].view(view)).abs() <= rmap.inter_half[:, i].view(view) + margin
        band = rmap.inter_valid[:, i] & rmap.inter_band[:, i]
        on = on | (near & band.view(view) & (d.abs() <= CROSS_HALF_LENGTH))
    return on


def arm_coords(rmap: RoadMap, xy: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """World points xy (B, ..., 2) in every arm's frame: along, across (B, ..., A)."""
    B = xy.shape[0]
    view = (B,) + (1,) * (xy.dim() - 2) + (MAX_ARMS,)
    ax, ay, yaw = (rmap.arm[..., k].view(view) for k in range(3))
    dx, dy = xy[..., 0:1] - ax, xy[..., 1:2] - ay
    c, sn = torch.cos(yaw), torch.sin(yaw)
    return c * dx + sn * dy, -sn * dx + c * dy


def on_arms(rmap: RoadMap, xy: torch.Tensor, margin: float = 0.0) -> torch.Tensor:
    """Is the world point xy (B, ..., 2) on a junction arm off the route (box included), or on the
    rounded corner between two of them (`on_corner`)?"""
    B = xy.shape[0]
    view = (B,) + (1,) * (xy.dim() - 2) + (MAX_ARMS,)
    along, across = arm_coords(rmap, xy)
    half = rmap.arm[..., 3].view(view)
    inside = (along >= -half - margin) & (along <= ARM_LENGTH + margin) & (across.abs() <= half + margin)
    return (inside & rmap.arm_valid.view(view)).any(-1) | on_corner(rmap, xy, margin)


def corner_coords(rmap: RoadMap, xy: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """World points xy (B, ..., 2) measured along each of the two arms off the route from the
    junction centre, (a1, a2) (B, ...), and (B, ...) whether the map has that corner: both arms,
    at right angles (a turning 4-way, or a T the route drives straight through)."""
    along, _ = arm_coords(rmap, xy)  # (B, ..., A)
    B = xy.shape[0]
    view = (B,) + (1,) * (xy.dim() - 2)
    square = torch.cos(rmap.arm[:, 0, 2] - rmap.arm[:, 1, 2]).abs() < 0.1
    has = (rmap.arm_valid[:, 0] & rmap.arm_valid[:, 1] & square).view(view)
    return along[..., 0], along[..., 1], has.expand(along.shape[:-1])


def on_corner(rmap: RoadMap, xy: torch.Tensor, margin: float = 0.0) -> torch.Tensor:
    """Is the world point xy (B, ..., 2) on the rounded corner between the two arms off the route:
    beyond the junction box's corner (h, h), within the square of side CORNER_KERB_RADIUS r, and
    outside the kerb's disc of radius r centred at (h + r, h + r) (arm coordinates)?"""
    a1, a2, has = corner_coords(rmap, xy)
    B = xy.shape[0]
    h = rmap.arm[:, 0, 3].view((B,) + (1,) * (xy.dim() - 2))
    r = CORNER_KERB_RADIUS
    square = (a1 >= h - margin) & (a1 <= h + r) & (a2 >= h - margin) & (a2 <= h + r)
    outside = (a1 - h - r) ** 2 + (a2 - h - r) ** 2 >= (r - margin) ** 2
    return has & square & outside


def light_state(rmap: RoadMap, t: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """LightState (B, I) of the route's approach and of the crossing road at time t (B,) s.

    The route sees green, yellow, red; the crossing road is green while the route is red, minus
    one second of all-red at each end, and red otherwise (yellow folded into its last second).
    """
    from e2edrive.core.constants import LightState

    g, y, r, ph = rmap.light_cycle.unbind(-1)
    cycle = g + y + r
    u = torch.remainder(t.unsqueeze(-1) + ph, cycle.clamp(min=1e-3))
    route = torch.where(
        u < g, int(LightState.GREEN), torch.where(u < g + y, int(LightState.YELLOW), int(LightState.RED))
    )
    in_red = u - g - y
    cross = torch.where(
        (in_red >= 1.0) & (in_red < r - 2.0),
        int(LightState.GREEN),
        torch.where((in_red >= r - 2.0) & (in_red < r - 1.0), int(LightState.YELLOW), int(LightState.RED)),
    )
    none = torch.full_like(route, int(LightState.NONE))
    return torch.where(rmap.inter_valid, route, none), torch.where(rmap.inter_valid, cross, none)


def lane_of(d: torch.Tensor) -> torch.Tensor:
    """Index of the forward lane containing d (0 next to the centre line); negative for oncoming."""
    return torch.floor(-d / LANE_WIDTH).long()


def drivable_world(
    rmap: RoadMap, xy: torch.Tensor, s_guess: torch.Tensor, margin: float = 0.0
) -> torch.Tensor:
    """Is the world point xy (B, K, 2) on the road surface: the route's carriageway (found by
    projecting near s_guess (B, K)), a straight 4-way's crossing band, or a junction arm?"""
    s, d, _ = world_to_frenet(rmap, xy, s_guess)
    return drivable_frenet(rmap, s, d, margin) | on_arms(rmap, xy, margin)
