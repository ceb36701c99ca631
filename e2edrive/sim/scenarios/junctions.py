"""Junction building blocks for the urban scenarios: roads whose route turns (or not) at a
signalised 4-way or T junction, light cycles, and the junction's traffic: cross traffic on the
arms (world lines, sim.actors `line`; some of it turns) and pedestrians on the route's crosswalks
and on the straight arm's.

Turn radii are those of the lane the ego drives: 8-12 m turning right (inside the corner),
12-18 m turning left (across the oncoming lane). Cross traffic turns from one arm off the route
into the other (never onto the route, whose cars it does not see), which only a turning 4-way
has: right around their rounded corner (lane radius CORNER_KERB_RADIUS + half a lane), left
across the box on 12 m, a radius that keeps the car off the kerbs of the box's square corners.
"""

from __future__ import annotations

import math

import numpy as np

from e2edrive.core.constants import ObjectClass, TurnCommand
from e2edrive.sim.actors import ActorSpec, Behavior
from e2edrive.sim.actors.turning import left_turn_yield
from e2edrive.sim.map import LANE_WIDTH, IntersectionSpec, RoadSpec, random_curvature
from e2edrive.sim.map.roadmap import ARM_LENGTH, CORNER_KERB_RADIUS, junction_frame, reference_line
from e2edrive.sim.map.spec import CROSS_HALF_LENGTH, ROAD_LENGTH, STOP_LINE_SETBACK
from e2edrive.sim.scenarios.base import EGO_START_S, vehicle

PED_SIZE = (0.5, 0.6, 1.75)
PED_COLOR = (60, 60, 140)
RIGHT_LANE_RADIUS = (8.0, 12.0)  # m, the ego lane's radius through a right turn
LEFT_LANE_RADIUS = (12.0, 18.0)  # m, through a left turn
TURN_SHARES = (0.3, 0.35, 0.35)  # STRAIGHT, LEFT, RIGHT
T_JUNCTION_SHARE = 0.3
CROSS_TURN_SHARE = 0.4  # of cross traffic that can turn
# lane radii of cross traffic's turns, one per direction, so that the cars of one arm that turn
# share one path (they follow each other through it: cars on different paths do not see each other)
CROSS_LEFT_RADIUS = 12.0  # m: across the box, clear of the kerbs of its square corners
CROSS_RIGHT_RADIUS = CORNER_KERB_RADIUS + LANE_WIDTH / 2  # m, 8.75: around the rounded corner
LINE_AFTER = 60.0  # m past the junction centre where cross traffic leaves the world


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


# the arm a car from `arm` reaches turning (LEFT or RIGHT), as a TurnCommand direction seen from
# the route's approach; None: the route's approach itself
EXIT_ARM = {
    (int(TurnCommand.STRAIGHT), int(TurnCommand.LEFT)): int(TurnCommand.RIGHT),
    (int(TurnCommand.STRAIGHT), int(TurnCommand.RIGHT)): int(TurnCommand.LEFT),
    (int(TurnCommand.LEFT), int(TurnCommand.LEFT)): int(TurnCommand.STRAIGHT),
    (int(TurnCommand.LEFT), int(TurnCommand.RIGHT)): None,
    (int(TurnCommand.RIGHT), int(TurnCommand.LEFT)): None,
    (int(TurnCommand.RIGHT), int(TurnCommand.RIGHT)): int(TurnCommand.STRAIGHT),
}


def cross_turns(it: IntersectionSpec, arm: int) -> list[int]:
    """The turns (LEFT, RIGHT) a car from `arm` may take: from one arm off the route into the
    other, so only where the route turns and both exist (a turning 4-way)."""
    if not it.turning:
        return []
    off = set(off_route_arms(it))
    return [
        t for t in (int(TurnCommand.LEFT), int(TurnCommand.RIGHT)) if arm in off and EXIT_ARM[arm, t] in off
    ]


def draw_cross_turn(rng: np.random.Generator, it: IntersectionSpec, arm: int) -> tuple[int | None, float]:
    """(turn, lane radius) of one car from `arm`: straight on (None) unless it can turn and
    draws to. Draws nothing where no turn is possible (those episodes keep their streams)."""
    turns = cross_turns(it, arm)
    if not turns or rng.uniform() >= CROSS_TURN_SHARE:
        return None, 0.0
    turn = turns[int(rng.integers(len(turns)))]
    return turn, CROSS_LEFT_RADIUS if turn == int(TurnCommand.LEFT) else CROSS_RIGHT_RADIUS


def turn_path(car: ActorSpec, reach: float, turn: int, radius: float) -> ActorSpec:
    """Give a cross car (its line's origin `reach` m before the junction centre) a turn of lane
    radius r = `radius`: the arc from its lane (half a lane right of the arm's centre line) into
    the exit arm's outgoing lane, tangent to both, starts lane + r (right) or r - lane (left)
    before the centre; the car leaves LINE_AFTER m out along the exit arm. A left-turner also
    gets its waiting point and the stretch it sweeps (actors/turning.py)."""
    lane = LANE_WIDTH / 2
    left = turn == int(TurnCommand.LEFT)
    car.turn_s0 = reach - radius + lane if left else reach - radius - lane
    car.turn_kappa = 1.0 / radius if left else -1.0 / radius
    out = radius - lane if left else radius + lane  # the arc's end, out along the exit arm
    car.line_end = car.turn_s0 + math.pi / 2 * radius + LINE_AFTER - out
    if left:
        sigma, lo, hi = left_turn_yield(radius, LANE_WIDTH, car.size[0], car.size[1])
        car.yield_s, car.yield_lo, car.yield_hi = car.turn_s0 + sigma, car.turn_s0 + lo, car.turn_s0 + hi
    return car


def cross_car(
    rng: np.random.Generator,
    rd: RoadSpec,
    arm: int,
    dist: float,
    speed: float,
    run_red: bool = False,
    turn: int | None = None,
    radius: float = 0.0,
    **kw,
) -> ActorSpec:
    """A car on a junction arm, dist m from the centre (its box centre), driving towards the
    junction in the arm's incoming lane and straight through it, or turning (turn, lane radius
    m; see `turn_path`). Cars from the arm ahead obey the route's light, the others the crossing
    road's; run_red: it ignores its light."""
    it = rd.intersections[0]
    cx, cy, th = junction_frame(reference_line(rd.kappa), it)
    phi = th + ARM_REL[arm]
    reach = CROSS_HALF_LENGTH if not it.turning and it.missing_arm is None else ARM_LENGTH
    lane = LANE_WIDTH / 2
    ox = cx + reach * math.cos(phi) - lane * math.sin(phi)
    oy = cy + reach * math.sin(phi) + lane * math.cos(phi)
    stop = float("inf") if run_red else reach - it.half_width - STOP_LINE_SETBACK
    car = vehicle(
        rng,
        reach - dist,
        0.0,
        speed,
        line=(ox, oy, phi + math.pi),
        stop_at=stop,
        light=0 if arm == int(TurnCommand.STRAIGHT) else 1,
        line_end=reach + LINE_AFTER,
        **kw,
    )
    return car if turn is None else turn_path(car, reach, turn, radius)


def cross_stream(
    rng, rd: RoadSpec, arm: int, n: int, d0=(12.0, 30.0), gap=(10.0, 25.0), queued: bool = False
) -> list[ActorSpec]:
    """n cars on one arm behind its stop line, the nearest d0 m back from it, spaced gap m,
    driving (they queue at red) or, queued, standing (they go on green); some turn
    (`draw_cross_turn`)."""
    it = rd.intersections[0]
    reach = CROSS_HALF_LENGTH if not it.turning and it.missing_arm is None else ARM_LENGTH
    out, dist = [], it.half_width + STOP_LINE_SETBACK + 3.0 + rng.uniform(*d0)  # 3 m: half a car, and some
    for _ in range(n):
        if dist > reach - 3.0:
            break
        v = rng.uniform(0.7, 1.0) * rd.speed_limit
        turn, radius = draw_cross_turn(rng, it, arm)
        out.append(cross_car(rng, rd, arm, dist, 0.0 if queued else v, v_desired=v, turn=turn, radius=radius))
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


def off_route_arms(it: IntersectionSpec) -> list[int]:
    """The arms (TurnCommand directions) the route never drives on: not its exit (the straight
    arm when it goes straight on), not a T's missing arm (as roadmap.junction_arms)."""
    return [k for k in (0, 1, 2) if k != it.turn and k != it.missing_arm]


def arm_kerb(it: IntersectionSpec, arm: int, along: float) -> tuple[float, float]:
    """(right, left) kerbs of `arm`, as offsets across it (m, left positive), `along` m out from
    the junction centre: half a road out, or further on the side of the rounded corner it shares
    with the other arm off the route (roadmap.on_corner) where the corner still widens the road."""
    h, r = it.half_width, CORNER_KERB_RADIUS
    kerbs = [-h, h]
    others = [k for k in off_route_arms(it) if k != arm]
    if it.turning and it.missing_arm is None and others and h <= along <= h + r:
        side = 1 if math.sin(ARM_REL[others[0]] - ARM_REL[arm]) > 0 else 0
        widen = r - math.sqrt(r * r - (along - h - r) ** 2)
        kerbs[side] = math.copysign(h + widen, kerbs[side])
    return kerbs[0], kerbs[1]


def arm_pedestrians(rng, rd: RoadSpec, n_max: int, arms=(int(TurnCommand.STRAIGHT),)) -> list[ActorSpec]:
    """Up to n_max - 1 pedestrians on the crosswalks of those of `arms` that are off the route
    (world lines along each arm, s out from the centre, d across), each setting off on its own
    green: across the straight arm with the crossing road's traffic, across a side arm with the
    route's. Cars turning into the arm on that green stop for them (actors/yielding.py). Draws
    nothing where there is no such arm."""
    it = rd.intersections[0]
    has_arms = it.turning or it.missing_arm is not None
    arms = [k for k in off_route_arms(it) if k in arms] if has_arms else []
    if not arms:
        return []
    cx, cy, th = junction_frame(reference_line(rd.kappa), it)
    out = []
    for _ in range(int(rng.integers(0, n_max))):
        arm = arms[int(rng.integers(len(arms)))]
        along = it.half_width + 2.5 + rng.uniform(-0.8, 0.8)  # the crosswalk painted 1-4 m out
        right, left = arm_kerb(it, arm, along)
        from_right = rng.uniform() < 0.5
        vd = rng.uniform(1.0, 1.6) * (1.0 if from_right else -1.0)
        out.append(
            ActorSpec(
                ObjectClass.PEDESTRIAN,
                Behavior.WALKER,
                s=along,
                d=right - 0.8 if from_right else left + 0.8,
                size=PED_SIZE,
                color=PED_COLOR,
                psi=math.copysign(math.pi / 2, vd),
                vd=vd,
                start_delay=rng.uniform(0.0, 25.0),
                d_end=left + 0.8 if from_right else right - 0.8,
                walk_light=1 if arm == int(TurnCommand.STRAIGHT) else 0,
                line=(cx, cy, th + ARM_REL[arm]),
            )
        )
    return out
