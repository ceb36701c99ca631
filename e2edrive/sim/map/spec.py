"""Host-side description of one episode's road, drawn from the episode's RNG.

A map is one two-way road (the route) described by its curvature profile kappa(s) along a
reference line, the line between the two directions of travel, plus optional features placed by
arc length s: a 4-way intersection with traffic lights and crosswalks, puddles. Everything that
follows a lane lives in Frenet coordinates (s, d) of this reference line: s along it, d to the
left. The ego drives on the right: its lanes have d < 0, oncoming lanes d > 0.

This file holds numbers only (numpy); `roadmap.py` turns a batch of specs into tensors.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

LANE_WIDTH = 3.5  # m
REF_DS = 0.5  # m between reference-line samples
ROAD_LENGTH = 300.0  # m, every map has the same length so a batch needs no padding of the line
N_REF = int(round(ROAD_LENGTH / REF_DS)) + 1  # reference samples per map
MIN_RADIUS = 40.0  # m, tightest curve (a 50 km/h urban bend)
SHOULDER = 0.6  # m from the road edge to the barrier
CROSS_HALF_LENGTH = 60.0  # m, the crossing road extends this far on each side of the route
STOP_LINE_SETBACK = 5.0  # m from the intersection box to the stop line (room for the crosswalk)


@dataclass
class IntersectionSpec:
    """A 4-way intersection crossing the route at right angles at arc length s.

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

    @property
    def half_width(self) -> float:
        return self.cross_lanes * LANE_WIDTH

    @property
    def stop_s(self) -> float:
        """Arc length of the route's stop line."""
        return self.s - self.half_width - STOP_LINE_SETBACK


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
