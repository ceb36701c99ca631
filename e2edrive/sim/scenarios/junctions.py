"""Junction building blocks for the urban scenarios: roads whose route turns (or not) at a
signalised 4-way or T junction, light cycles, and the junction's traffic: cross traffic on the
arms (straight world lines, sim.actors `line`) and pedestrians on the route's crosswalks.

Turn radii are those of the lane the ego drives: 8-12 m turning right (inside the corner),
12-18 m turning left (across the oncoming lane).
"""

from __future__ import annotations

import math

import numpy as np

from e2edrive.core.constants import ObjectClass, TurnCommand
from e2edrive.sim.actors import ActorSpec, Behavior
from e2edrive.sim.map import LANE_WIDTH, IntersectionSpec, RoadSpec, random_curvature
from e2edrive.sim.map.roadmap import ARM_LENGTH, junction_frame, reference_line
from e2edrive.sim.map.spec import CROSS_HALF_LENGTH, ROAD_LENGTH, STOP_LINE_SETBACK
from e2edrive.sim.scenarios.base import EGO_START_S, vehicle

PED_SIZE = (0.5, 0.6, 1.75)
PED_COLOR = (60, 60, 140)
RIGHT_LANE_RADIUS = (8.0, 12.0)  # m, the ego lane's radius through a right turn
LEFT_LANE_RADIUS = (12.0, 18.0)  # m, through a left turn
TURN_SHARES = (0.3, 0.35, 0.35)  # STRAIGHT, LEFT, RIGHT
T_JUNCTION_SHARE = 0.3


def _half_grid(x: float) -> float:
    """x rounded to the 0.5 m reference grid (a turn's arc starts on a sample)."""
    return round(x * 2.0) / 2.0


def turn_radius(rng: np.random.Generator, turn: int) -> float:
    """Reference-line radius of a turn whose ego lane (lane 0, 1.75 m right of the line) has an
    urban radius: inside the reference line turning right, outside turning left."""
    lane = LANE_WIDTH / 2
    if turn == int(TurnCommand.RIGHT):
        return _half_grid(rng.uniform(*RIGHT_LANE_RADIUS) + lane)
    return _half_grid(rng.uniform(*LEFT_LANE_RADIUS) - lane)


def draw_turn(rng: np.random.Generator, shares=TURN_SHARES) -> int:
    return int(rng.choice([0, 1, 2], p=list(shares)))


def junction_road(
    rng: np.random.Generator,
    s_int: float,
    turn: int,
    t_junction: bool = False,
    speed_limit: float | None = None,
    missing: int | None = None,
    **light,
) -> RoadSpec:
    """A one-lane-each-way road with a signalised junction at s_int where the route turns (or
    not); a T junction lacks one arm the route does not use (`missing`, else drawn). Curves only
    before the junction."""
    s_int = _half_grid(s_int)
    radius = turn_radius(rng, turn) if turn != int(TurnCommand.STRAIGHT) else 0.0
    if not t_junction:
        missing = None
    elif missing is None:
        missing = int(rng.choice([k for k in (0, 1, 2) if k != turn]))
    inter = IntersectionSpec(
        s=s_int, cross_lanes=1, turn=turn, turn_radius=radius, missing_arm=missing, **light
    )
    kappa = random_curvature(rng, rng.uniform(0.0, 0.4), [(s_int - inter.entry - 60.0, ROAD_LENGTH)])
    return RoadSpec(
        kappa=kappa,
        lanes_fwd=1,
        lanes_back=1,
        speed_limit=float(speed_limit if speed_limit is not None else rng.uniform(11.0, 14.0)),
        intersections=[inter],
    )


def light_cycle(rng: np.random.Generator, s_int: float, p_arrive: float = 0.75) -> dict:
    """A cycle timed so most episodes meet the light changing as the ego arrives (as
    traffic_light does), the others at a random point of the cycle."""
    green, red = rng.uniform(8, 14), rng.uniform(8, 14)
    t_arrive = (s_int - EGO_START_S) / 11.0
    u = rng.uniform(green - 3.0, green + 3.0 + red) if rng.uniform() < p_arrive else rng.uniform(0, 30)
    return dict(green=green, yellow=3.0, red=red, phase=float((u - t_arrive) % (green + 3.0 + red)))


def route_end(rd: RoadSpec, after: float = 40.0) -> float:
    it = rd.intersections[0]
    return it.s + it.exit + after


ARM_REL = {
    int(TurnCommand.STRAIGHT): 0.0,
    int(TurnCommand.LEFT): math.pi / 2,
    int(TurnCommand.RIGHT): -math.pi / 2,
}


def source_arms(it: IntersectionSpec) -> list[int]:
    """The arms (TurnCommand directions seen from the approach) cross traffic can come from and
    drive straight through: the arm exists, is not the route's exit (the route's own oncoming
    traffic uses it), and the opposite arm exists (the straight arm's opposite is the approach)."""
    exists = {k for k in (0, 1, 2) if k != it.missing_arm}
    opposite = {0: None, 1: 2, 2: 1}
    out = []
    for k in sorted(exists):
        if it.turning and k == it.turn:
            continue
        if opposite[k] is not None and opposite[k] not in exists:
            continue
        out.append(k)
    return out


def cross_car(
    rng: np.random.Generator,
    rd: RoadSpec,
    arm: int,
    dist: float,
    speed: float,
    run_red: bool = False,
    **kw,
) -> ActorSpec:
    """A car on a junction arm, dist m from the centre (its box centre), driving towards the
    junction in the arm's incoming lane and straight through it. Cars from the arm ahead obey
    the route's light, the others the crossing road's; run_red: it ignores its light."""
    it = rd.intersections[0]
    cx, cy, th = junction_frame(reference_line(rd.kappa), it)
    phi = th + ARM_REL[arm]
    reach = CROSS_HALF_LENGTH if not it.turning and it.missing_arm is None else ARM_LENGTH
    lane = LANE_WIDTH / 2
    ox = cx + reach * math.cos(phi) - lane * math.sin(phi)
    oy = cy + reach * math.sin(phi) + lane * math.cos(phi)
    stop = float("inf") if run_red else reach - it.half_width - STOP_LINE_SETBACK
    return vehicle(
        rng,
        reach - dist,
        0.0,
        speed,
        line=(ox, oy, phi + math.pi),
        stop_at=stop,
        light=0 if arm == int(TurnCommand.STRAIGHT) else 1,
        line_end=reach + 60.0,
        **kw,
    )


def cross_stream(
    rng, rd: RoadSpec, arm: int, n: int, d0=(12.0, 30.0), gap=(10.0, 25.0), queued: bool = False
) -> list[ActorSpec]:
    """n cars on one arm behind its stop line, the nearest d0 m back from it, spaced gap m,
    driving (they queue at red) or, queued, standing (they go on green)."""
    it = rd.intersections[0]
    reach = CROSS_HALF_LENGTH if not it.turning and it.missing_arm is None else ARM_LENGTH
    out, dist = [], it.half_width + STOP_LINE_SETBACK + 3.0 + rng.uniform(*d0)  # 3 m: half a car, and some
    for _ in range(n):
        if dist > reach - 3.0:
            break
        v = rng.uniform(0.7, 1.0) * rd.speed_limit
        out.append(cross_car(rng, rd, arm, dist, 0.0 if queued else v, v_desired=v))
        dist += rng.uniform(*gap)
    return out


def crosswalk_pedestrian(
    rng, rd: RoadSpec, s: float, from_right: bool, delay: float, trigger_s: float, walk_light: int = -1
):
    """A pedestrian crossing the route at arc length s, from one kerb to the other, setting off
    on its walk light's green (0 the route's, 1 the crossing road's, -1 none)."""
    d0 = -rd.width_right - 0.8 if from_right else rd.width_left + 0.8
    d1 = rd.width_left + 0.8 if from_right else -rd.width_right - 0.8
    vd = rng.uniform(1.0, 1.6) * (1.0 if from_right else -1.0)
    return ActorSpec(
        ObjectClass.PEDESTRIAN,
        Behavior.WALKER,
        s=s,
        d=d0,
        size=PED_SIZE,
        color=PED_COLOR,
        psi=math.copysign(math.pi / 2, vd),
        vd=vd,
        start_delay=delay,
        trigger_s=trigger_s,
        d_end=d1,
        walk_light=walk_light,
    )


def junction_pedestrians(rng, rd: RoadSpec, n: int) -> list[ActorSpec]:
    """n pedestrians on the route's two crosswalks, each setting off on its own green: the
    approach's crosswalk is walked beside the crossing road's traffic, the exit's beside the
    route's when the route turns into the crossing road (else beside the crossing road's)."""
    it = rd.intersections[0]
    out = []
    for _ in range(n):
        at_exit = rng.uniform() < 0.5
        s = it.s + it.exit + 2.5 if at_exit else it.s - it.entry - 2.5
        light = 0 if at_exit and it.turning else 1
        out.append(
            crosswalk_pedestrian(
                rng,
                rd,
                s + rng.uniform(-0.8, 0.8),
                rng.uniform() < 0.5,
                rng.uniform(0.0, 25.0),
                float("-inf"),
                light,
            )
        )
    return out
