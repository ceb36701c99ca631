"""Host-side description of one episode's road, drawn from the episode's RNG.

A map is one two-way road (the route) described by its curvature profile kappa(s) along a
reference line, the line between the two directions of travel, plus optional features placed by
arc length s: an intersection with traffic lights and crosswalks, puddles. The route goes straight
through an intersection or turns there: a turn is a constant-curvature quarter arc of an urban
radius (8-18 m, far below the open road's MIN_RADIUS) written into kappa, tangent to the centre
lines of the approach and the exit road. The junction's other arms (the straight continuation,
the crossing road's far side) are straight roads in the world frame (roadmap.junction_arms); a T
junction lacks one arm. Everything that
follows a lane lives in Frenet coordinates (s, d) of this reference line: s along it, d to the
left. The ego drives on the right: its lanes have d < 0, oncoming lanes d > 0.

This file holds numbers only (numpy); `roadmap.py` turns a batch of specs into tensors.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from e2edrive.core.constants import EGO_WHEELBASE, MAX_STEER, TurnCommand

LANE_WIDTH = 3.5  # m
REF_DS = 0.5  # m between reference-line samples
ROAD_LENGTH = 300.0  # m, every map has the same length so a batch needs no padding of the line
N_REF = int(round(ROAD_LENGTH / REF_DS)) + 1  # reference samples per map
MIN_RADIUS = 40.0  # m, tightest curve (a 50 km/h urban bend)
SHOULDER = 0.6  # m from the road edge to the barrier
CROSS_HALF_LENGTH = 60.0  # m, the crossing road extends this far on each side of the route
STOP_LINE_SETBACK = 5.0  # m from the intersection box to the stop line (room for the crosswalk)
CAR_MIN_RADIUS = EGO_WHEELBASE / math.tan(MAX_STEER)  # m, 4.2: the tightest circle the car can drive
SIDEWALK_WIDTH = 2.0  # m of kerb beyond each road edge (the raster paints it; keep in raster.SIDEWALK)


@dataclass
class IntersectionSpec:
    """An intersection of the route with a road crossing it at right angles.

    s: arc length where the approach road's centre line meets the crossing road's (the junction
    centre). turn: the route's TurnCommand here; a turn is a quarter arc of `turn_radius` (m, of
    the reference line) starting turn_radius before s, so the route leaves along the crossing
    road. missing_arm: for a T junction, the TurnCommand direction whose arm does not exist
    (STRAIGHT: the road ahead ends; LEFT / RIGHT: no road to that side); None for a 4-way.

    Light cycle (seconds) seen from the route: green, yellow, red, repeating, starting `phase`
    seconds into the cycle at t = 0. The crossing road's lights are red while the route's are
    green or yellow (with 1 s all-red either side) and green otherwise.
    """

    s: float
    cross_lanes: int = 1  # per direction on the crossing road
    green: float = 10.0
    yellow: float = 3.0
    red: float = 8.0
    phase: float = 0.0
    turn: int = int(TurnCommand.STRAIGHT)
    turn_radius: float = 0.0
    missing_arm: int | None = None

    @property
    def half_width(self) -> float:
        return self.cross_lanes * LANE_WIDTH

    @property
    def turning(self) -> bool:
        return self.turn != int(TurnCommand.STRAIGHT)

    @property
    def entry(self) -> float:
        """m before s where the route enters the junction (the box, or the start of its turn)."""
        return max(self.half_width, self.turn_radius) if self.turning else self.half_width

    @property
    def exit(self) -> float:
        """m after s where the route leaves the junction (the box, or the end of its turn arc)."""
        return self.turn_radius * (math.pi / 2 - 1) if self.turning else self.half_width

    @property
    def arc(self) -> tuple[float, float]:
        """(s0, s1) of the turn's arc; empty (s, s) when the route goes straight."""
        if not self.turning:
            return self.s, self.s
        return self.s - self.turn_radius, self.s - self.turn_radius + math.pi / 2 * self.turn_radius

    @property
    def stop_s(self) -> float:
        """Arc length of the route's stop line."""
        return self.s - self.entry - STOP_LINE_SETBACK


@dataclass
class PuddleSpec:
    """An elliptic puddle centred at (s, d) with semi-axes along s and d."""

    s: float
    d: float
    half_length: float
    half_width: float


@dataclass
class RoadSpec:
    """One map. kappa: (N_REF,) curvature 1/m at each reference sample (positive turns left)."""

    kappa: np.ndarray
    lanes_fwd: int = 1  # lanes in the ego's direction (d < 0)
    lanes_back: int = 1  # oncoming lanes (d > 0)
    speed_limit: float = 13.9  # m/s
    intersections: list[IntersectionSpec] = field(default_factory=list)
    puddles: list[PuddleSpec] = field(default_factory=list)

    def __post_init__(self):
        if self.kappa.shape != (N_REF,):
            raise ValueError(f"kappa must have shape ({N_REF},), got {self.kappa.shape}")
        if np.abs(self.kappa).max() > 1.0 / MIN_RADIUS + 1e-9:
            raise ValueError(f"curve tighter than the minimum radius {MIN_RADIUS} m")
        if not (1 <= self.lanes_fwd <= 3 and 1 <= self.lanes_back <= 3):
            raise ValueError(f"1-3 lanes per direction, got {self.lanes_fwd}/{self.lanes_back}")
        for it in self.intersections:
            self._check_junction(it)
        if any(it.turning for it in self.intersections):
            self.kappa = with_turns(self.kappa, self.intersections)

    def _check_junction(self, it: IntersectionSpec) -> None:
        """Refuse a junction the car cannot drive, with one line that says why."""
        if it.turn not in (0, 1, 2) or it.missing_arm not in (None, 0, 1, 2):
            raise ValueError(f"intersection at s={it.s}: turn and missing_arm are TurnCommand values")
        if it.missing_arm is not None and it.missing_arm == it.turn:
            raise ValueError(f"intersection at s={it.s}: the route turns into its missing arm")
        if not it.turning:
            return
        if not (self.lanes_fwd == self.lanes_back == it.cross_lanes):
            raise ValueError(
                f"intersection at s={it.s}: a turning route needs as many lanes per direction on both "
                f"roads, got {self.lanes_fwd}/{self.lanes_back} and {it.cross_lanes}"
            )
        # the lanes on the inside of the arc: the ego's lanes for a right turn, the oncoming ones for a left
        inner = (self.lanes_fwd if it.turn == int(TurnCommand.RIGHT) else self.lanes_back) - 0.5
        r_lane = it.turn_radius - inner * LANE_WIDTH
        if r_lane < CAR_MIN_RADIUS:
            raise ValueError(
                f"intersection at s={it.s}: a turn of radius {it.turn_radius:g} m puts its inner lane on a "
                f"{r_lane:.1f} m circle, tighter than the car can drive ({CAR_MIN_RADIUS:.1f} m = "
                f"EGO_WHEELBASE / tan(MAX_STEER))"
            )
        edge = max(self.width_right, self.width_left) + SIDEWALK_WIDTH + 0.5
        if it.turn_radius < edge:
            raise ValueError(
                f"intersection at s={it.s}: a turn of radius {it.turn_radius:g} m folds its kerb onto "
                f"itself (needs >= {edge:g} m for {max(self.lanes_fwd, self.lanes_back)} lanes)"
            )
        s0, s1 = it.arc
        if s0 < 0 or s1 + STOP_LINE_SETBACK + 10.0 > ROAD_LENGTH or it.stop_s < 0:
            raise ValueError(f"intersection at s={it.s}: the turn does not fit on the {ROAD_LENGTH:g} m map")

    @property
    def width_right(self) -> float:
        return self.lanes_fwd * LANE_WIDTH

    @property
    def width_left(self) -> float:
        return self.lanes_back * LANE_WIDTH


def lane_center_d(lane: int | np.ndarray, forward: bool = True):
    """d of a lane centre. Lane 0 is next to the centre line; forward lanes have d < 0."""
    d = (np.asarray(lane) + 0.5) * LANE_WIDTH
    return -d if forward else d


def with_turns(kappa: np.ndarray, intersections: list[IntersectionSpec]) -> np.ndarray:
    """kappa with each turning intersection's quarter arc written in (left turns positive). The
    samples inside [s0, s1) carry the arc's curvature, so the line turns by pi/2 up to the REF_DS
    grid (reference_line integrates piecewise-constant curvature exactly between samples)."""
    kappa = kappa.copy()
    for it in intersections:
        if not it.turning:
            continue
        i0 = arc_start_index(it)
        n = int(math.floor(math.pi / 2 * it.turn_radius / REF_DS))
        sign = 1.0 if it.turn == int(TurnCommand.LEFT) else -1.0
        kappa[i0 : i0 + n] = sign / it.turn_radius
        # the next sample takes the remainder (< 1/R): the heading changes by exactly pi/2
        kappa[i0 + n] = sign * (math.pi / 2 - n * REF_DS / it.turn_radius) / REF_DS
    return kappa


def arc_start_index(it: IntersectionSpec) -> int:
    """Reference sample where a turn's arc starts (the arc starts on the sample grid)."""
    return int(round(it.arc[0] / REF_DS))


def random_curvature(
    rng: np.random.Generator,
    curviness: float,
    straight: list[tuple[float, float]] = (),
    min_radius: float = MIN_RADIUS,
) -> np.ndarray:
    """A curvature profile of straights and constant-radius arcs (no spirals: the kinematic
    followers handle the curvature step).

    curviness in [0, 1]: 0 gives a straight road, 1 mostly arcs down to min_radius.
    straight: (s0, s1) ranges forced straight (intersections, the scripted event's stretch).
    """
    kappa = np.zeros(N_REF)
    s, heading = 0.0, 0.0
    max_heading = math.radians(60.0)  # keeps the road from folding back and its bounding box small
    while s < ROAD_LENGTH and curviness > 0:
        length = rng.uniform(20.0, 70.0)
        if rng.uniform() < curviness:
            radius = math.exp(rng.uniform(math.log(min_radius), math.log(400.0)))
            sign = float(rng.choice([-1.0, 1.0]))
            if abs(heading + sign * length / radius) > max_heading:
                sign = -sign
            length = min(length, (max_heading - sign * heading) * radius)
            i0, i1 = int(s / REF_DS), int(min(s + length, ROAD_LENGTH) / REF_DS) + 1
            kappa[i0:i1] = sign / radius
            heading += sign * (i1 - i0) * REF_DS / radius
        s += max(length, 5.0)
    grid = np.arange(N_REF) * REF_DS
    for s0, s1 in straight:
        kappa[(grid >= s0) & (grid <= s1)] = 0.0
    return kappa
