"""Urban scenarios: routes that turn at signalised 4-way and T junctions, with the junction's
everyday hard cases.

A junction map is one two-way road (the route) whose reference line turns by a quarter arc of an
urban radius at the junction (sim.map.spec.IntersectionSpec); the junction's other arms are
world-frame roads. Radii are those of the lane the ego drives: 8-12 m turning right (inside the
corner), 12-18 m turning left (across the oncoming lane).
"""

from __future__ import annotations

import math

import numpy as np

from e2edrive.core.constants import ObjectClass, TurnCommand
from e2edrive.sim.actors import ActorSpec, Behavior
from e2edrive.sim.map import LANE_WIDTH, IntersectionSpec, RoadSpec, lane_center_d, random_curvature
from e2edrive.sim.map.roadmap import ARM_LENGTH, junction_frame, reference_line
from e2edrive.sim.map.spec import CROSS_HALF_LENGTH, ROAD_LENGTH, STOP_LINE_SETBACK
from e2edrive.sim.scenarios.base import (
    CAR_SIZE,
    EGO_START_S,
    EpisodeRecord,
    EpisodeSpec,
    Scenario,
    car_color,
    oncoming_traffic,
    road,
    time_of_day,
    vehicle,
)

PED_SIZE = (0.5, 0.6, 1.75)
PED_COLOR = (60, 60, 140)
CONE_SIZE = (0.4, 0.4, 0.7)
CONE_COLOR = (240, 110, 20)
OCCLUDED_MAX_SPEED = 8.0  # m/s alongside parked cars: above it a pedestrian stepping out cannot be avoided
ALWAYS_GREEN = dict(green=90.0, yellow=3.0, red=8.0, phase=0.0)  # the route's light stays green

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
    """n cars on one arm, the nearest d0 m from the centre, spaced gap m, driving (they queue at
    red) or, queued, standing (they go on green)."""
    it = rd.intersections[0]
    reach = CROSS_HALF_LENGTH if not it.turning and it.missing_arm is None else ARM_LENGTH
    out, dist = [], rng.uniform(*d0) + it.half_width
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


class TrafficLightTurn(Scenario):
    name = "traffic_light_turn"
    tags = ("traffic_control", "two_way", "intersection", "turn")
    description = (
        "signalised 4-way or T junction where the route turns left, right or goes straight: stop at red, "
        "then follow the turn"
    )
    seconds = 50.0

    def build(self, rng: np.random.Generator) -> EpisodeSpec:
        s_int = EGO_START_S + rng.uniform(80.0, 120.0)
        turn = draw_turn(rng)
        rd = junction_road(rng, s_int, turn, rng.uniform() < T_JUNCTION_SHARE, **light_cycle(rng, s_int))
        it = rd.intersections[0]
        # oncoming traffic on the route beyond the junction (it comes out of the exit arm and
        # turns into the approach when the route turns), cross traffic on the other arms
        actors = oncoming_traffic(rng, rd, it.s + it.exit + 20.0, 290.0, gap=(40, 90), p_lane=0.6)[:6]
        for arm in source_arms(it):
            if arm != int(TurnCommand.STRAIGHT) or it.turning:
                actors += cross_stream(rng, rd, arm, int(rng.integers(0, 4)))
        actors += junction_pedestrians(rng, rd, int(rng.integers(0, 3)))
        return EpisodeSpec(
            rd,
            actors,
            0,
            0.8 * rd.speed_limit,
            route_end(rd),
            0,
            info={"s_int": it.s, "turn": turn},
            **time_of_day(rng),
        )

    def passed(self, spec: EpisodeSpec, rec: EpisodeRecord) -> bool:
        return (
            rec.red_light_runs == 0
            and rec.route_done
            and not rec.collided
            and not rec.off_road
            and not rec.crosswalk_violation
        )


class TurnLeftUnprotected(Scenario):
    name = "turn_left_unprotected"
    tags = ("intersection", "turn", "vehicle", "two_way")
    description = "left turn on a green ball across a stream of oncoming cars: wait for a safe gap, then turn"
    seconds = 50.0

    def build(self, rng: np.random.Generator) -> EpisodeSpec:
        s_int = EGO_START_S + rng.uniform(70.0, 100.0)
        # a T junction here lacks the right arm: the oncoming stream needs the arm ahead
        t_junction = rng.uniform() < 0.3
        rd = junction_road(
            rng, s_int, int(TurnCommand.LEFT), t_junction, missing=int(TurnCommand.RIGHT), **ALWAYS_GREEN
        )
        it = rd.intersections[0]
        # the oncoming stream: cars a few seconds apart (too short to turn) with a longer gap
        # somewhere, timed to meet the ego at the junction; they drive through on their green
        v_stream = rng.uniform(0.75, 0.95) * rd.speed_limit
        t_first = rng.uniform(3.0, 8.0)
        actors, t_arr = [], t_first
        n = int(rng.integers(3, 7))
        for _ in range(n):
            dist = v_stream * t_arr
            if dist > ARM_LENGTH - 3.0:
                break
            actors.append(cross_car(rng, rd, int(TurnCommand.STRAIGHT), dist, v_stream))
            t_arr += rng.uniform(1.3, 3.0) if rng.uniform() < 0.7 else rng.uniform(5.0, 8.0)
        # queued cross traffic waiting at its red on the crossing road
        for arm in source_arms(it):
            if arm != int(TurnCommand.STRAIGHT):
                actors += cross_stream(
                    rng, rd, arm, int(rng.integers(0, 3)), d0=(6.0, 15.0), gap=(7.0, 10.0), queued=True
                )
        return EpisodeSpec(
            rd,
            actors,
            0,
            0.8 * rd.speed_limit,
            route_end(rd),
            0,
            info={"s_int": it.s, "turn": int(TurnCommand.LEFT)},
            **time_of_day(rng),
        )

    def passed(self, spec: EpisodeSpec, rec: EpisodeRecord) -> bool:
        return rec.route_done and not rec.collided and not rec.gap_violation and not rec.off_road


class TurnRightCrosswalk(Scenario):
    name = "turn_right_crosswalk"
    tags = ("intersection", "turn", "vru", "two_way")
    description = "right turn across a crosswalk as pedestrians start to cross: yield to every one, then turn"
    seconds = 50.0

    def build(self, rng: np.random.Generator) -> EpisodeSpec:
        s_int = EGO_START_S + rng.uniform(70.0, 100.0)
        rd = junction_road(rng, s_int, int(TurnCommand.RIGHT), rng.uniform() < 0.3, **ALWAYS_GREEN)
        it = rd.intersections[0]
        s_walk = it.s + it.exit + 2.5  # the exit's crosswalk
        trigger = it.stop_s - rng.uniform(15.0, 35.0)
        actors = []
        delay = rng.uniform(0.0, 3.0)
        for _ in range(int(rng.integers(1, 4))):
            actors.append(
                crosswalk_pedestrian(
                    rng, rd, s_walk + rng.uniform(-0.8, 0.8), rng.uniform() < 0.6, delay, trigger, 0
                )
            )
            delay += rng.uniform(0.5, 4.0)
        for arm in source_arms(it):
            if arm != int(TurnCommand.STRAIGHT):
                actors += cross_stream(
                    rng, rd, arm, int(rng.integers(0, 3)), d0=(6.0, 15.0), gap=(7.0, 10.0), queued=True
                )
        return EpisodeSpec(
            rd,
            actors,
            0,
            0.8 * rd.speed_limit,
            route_end(rd),
            0,
            info={"s_int": it.s, "turn": int(TurnCommand.RIGHT), "s_crosswalk": s_walk},
            **time_of_day(rng),
        )

    def passed(self, spec: EpisodeSpec, rec: EpisodeRecord) -> bool:
        return rec.route_done and not rec.collided and not rec.crosswalk_violation and not rec.off_road


class RedLightRunner(Scenario):
    name = "red_light_runner"
    tags = ("intersection", "vehicle", "traffic_control", "two_way")
    description = "the ego has green; a car on the crossing road runs its red: see it and yield, no collision"
    seconds = 35.0

    def build(self, rng: np.random.Generator) -> EpisodeSpec:
        s_int = EGO_START_S + rng.uniform(45.0, 60.0)
        rd = junction_road(
            rng, s_int, int(TurnCommand.STRAIGHT), False, speed_limit=rng.uniform(11.0, 13.0), **ALWAYS_GREEN
        )
        it = rd.intersections[0]
        v_ego = 0.8 * rd.speed_limit
        t_ego = (it.s - EGO_START_S - 3.0) / v_ego  # the ego's front at the junction centre
        v_run = rng.uniform(10.0, 14.0)
        arm = int(rng.choice([int(TurnCommand.LEFT), int(TurnCommand.RIGHT)]))
        dist = min(v_run * (t_ego + rng.uniform(-1.5, 1.0)), CROSS_HALF_LENGTH - 3.0)
        runner = cross_car(rng, rd, arm, dist, v_run, run_red=True, max_decel=0.5)
        actors = [runner]
        other = int(TurnCommand.RIGHT) if arm == int(TurnCommand.LEFT) else int(TurnCommand.LEFT)
        actors += cross_stream(
            rng, rd, other, int(rng.integers(0, 3)), d0=(6.0, 12.0), gap=(7.0, 10.0), queued=True
        )
        actors += oncoming_traffic(rng, rd, it.s + 30.0, 290.0, gap=(40, 90), p_lane=0.5)[:4]
        return EpisodeSpec(
            rd,
            actors,
            0,
            v_ego,
            it.s + it.exit + 50.0,
            0,
            info={"s_int": it.s, "turn": 0},
            **time_of_day(rng),
        )

    def passed(self, spec: EpisodeSpec, rec: EpisodeRecord) -> bool:
        # the route's light is green all episode: any stop was for the car, never for the light
        return rec.route_done and not rec.collided and not rec.gap_violation and rec.red_light_runs == 0


class ConstructionZone(Scenario):
    name = "construction_zone"
    tags = ("static_obstacle", "two_way", "vehicle")
    description = (
        "cones and a barrier close the ego's lane for a stretch: shift into the oncoming lane when it is "
        "clear, follow the cones, hit none"
    )
    seconds = 60.0

    def build(self, rng: np.random.Generator) -> EpisodeSpec:
        s0 = EGO_START_S + rng.uniform(60.0, 90.0)
        length = rng.uniform(25.0, 50.0)
        rd = road(
            rng,
            curviness=rng.uniform(0.0, 0.3),
            lanes_fwd=1,
            lanes_back=1,
            straight=[(s0 - 50, s0 + length + 30)],
            speed_limit=rng.uniform(10.0, 13.0),
        )
        actors = [
            ActorSpec(  # the barrier across the closed lane
                ObjectClass.UNKNOWN,
                Behavior.STATIC,
                s=s0,
                d=-LANE_WIDTH / 2 - 0.1,
                size=(0.5, 2.6, 1.0),
                color=(230, 230, 230),
            )
        ]
        taper = 10.0
        for k in range(4):  # taper of cones from the kerb to the centre line
            u = (k + 1) / 4
            actors.append(_cone(s0 - taper + u * taper - 2.0, -LANE_WIDTH + 0.3 + u * (LANE_WIDTH - 0.6)))
        s = s0 + 4.0
        while s < s0 + length:
            actors.append(_cone(s, -0.35))
            s += 5.0
        busy = rng.uniform() < 0.7
        if busy:
            actors += oncoming_traffic(rng, rd, s0 - 10.0, 290.0, gap=(25.0, 70.0), p_lane=1.0)[:8]
        actors = actors[:30]
        return EpisodeSpec(
            rd,
            actors,
            0,
            0.8 * rd.speed_limit,
            s0 + length + 40.0,
            0,
            info={"s_zone": s0, "length": length},
            **time_of_day(rng),
        )

    def passed(self, spec: EpisodeSpec, rec: EpisodeRecord) -> bool:
        return rec.route_done and not rec.collided


def _cone(s: float, d: float) -> ActorSpec:
    return ActorSpec(ObjectClass.UNKNOWN, Behavior.STATIC, s=s, d=d, size=CONE_SIZE, color=CONE_COLOR)


class OccludedPedestrian(Scenario):
    name = "occluded_pedestrian"
    tags = ("vru", "occlusion", "multi_lane")
    description = (
        "a pedestrian steps out from between cars parked in the right lane: pass the parked cars slowly "
        "enough to stop"
    )
    seconds = 40.0

    def build(self, rng: np.random.Generator) -> EpisodeSpec:
        s0 = EGO_START_S + rng.uniform(50.0, 80.0)
        rd = road(
            rng,
            curviness=rng.uniform(0.0, 0.3),
            lanes_fwd=2,
            lanes_back=1,
            straight=[(s0 - 40, s0 + 80)],
            speed_limit=rng.uniform(12.0, 15.0),
        )
        park_d = float(lane_center_d(1)) - 0.4  # cars parked in the right lane, close to the kerb
        actors, s, gaps = [], s0, []
        for _ in range(int(rng.integers(4, 8))):
            length = rng.uniform(4.2, 4.9)
            actors.append(
                ActorSpec(
                    ObjectClass.VEHICLE,
                    Behavior.STATIC,
                    s=s + length / 2,
                    d=park_d,
                    size=(length, CAR_SIZE[1], CAR_SIZE[2]),
                    color=car_color(rng),
                )
            )
            gap = rng.uniform(1.2, 2.5)
            gaps.append(s + length + gap / 2)
            s += length + gap
        s_ped = gaps[int(rng.integers(1, len(gaps) - 1))]
        ped = ActorSpec(
            ObjectClass.PEDESTRIAN,
            Behavior.WALKER,
            s=s_ped,
            d=park_d,
            size=PED_SIZE,
            color=PED_COLOR,
            psi=math.pi / 2,
            vd=rng.uniform(1.2, 1.8),
            trigger_s=s_ped - rng.uniform(14.0, 22.0),
            d_end=rd.width_left + 0.8,
        )
        actors.append(ped)
        if rng.uniform() < 0.5:
            actors += oncoming_traffic(rng, rd, s + 40.0, 290.0, gap=(40, 90), p_lane=0.6)[:5]
        return EpisodeSpec(
            rd,
            actors,
            0,
            0.8 * rd.speed_limit,
            s + 40.0,
            0,
            info={"s_parked": s0, "s_ped": s_ped},
            **time_of_day(rng),
        )

    def passed(self, spec: EpisodeSpec, rec: EpisodeRecord) -> bool:
        return rec.route_done and not rec.collided and rec.parked_max_speed <= OCCLUDED_MAX_SPEED
