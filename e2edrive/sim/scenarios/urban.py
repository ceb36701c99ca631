"""Urban scenarios: routes that turn at signalised 4-way and T junctions, with the junction's
everyday hard cases (an unprotected left turn, a right turn across a crosswalk, a red-light
runner), and two street hazards (a construction zone, a pedestrian stepping out from between
parked cars). Junction building blocks live in junctions.py.
"""

from __future__ import annotations

import math

import numpy as np

from e2edrive.core.constants import ObjectClass, TurnCommand
from e2edrive.sim.actors import ActorSpec, Behavior
from e2edrive.sim.map import LANE_WIDTH, lane_center_d
from e2edrive.sim.map.roadmap import ARM_LENGTH
from e2edrive.sim.map.spec import CROSS_HALF_LENGTH
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
)
from e2edrive.sim.scenarios.junctions import (
    PED_COLOR,
    PED_SIZE,
    T_JUNCTION_SHARE,
    arm_pedestrians,
    cross_car,
    cross_stream,
    crosswalk_pedestrian,
    draw_cross_turn,
    draw_turn,
    junction_pedestrians,
    junction_road,
    light_cycle,
    route_end,
    source_arms,
)

CONE_SIZE = (0.4, 0.4, 0.7)
CONE_COLOR = (240, 110, 20)
OCCLUDED_MAX_SPEED = 8.0  # m/s alongside parked cars: above it a pedestrian stepping out cannot be avoided
ALWAYS_GREEN = dict(green=90.0, yellow=3.0, red=8.0, phase=0.0)  # the route's light stays green


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
        # turns into the approach when the route turns), or cross traffic on the other arms.
        # Cars on world lines and on the route do not see each other, and when the route turns
        # its oncoming cars turn across the far arm's and into the lane the arm ahead's use
        turning_oncoming = it.turning and rng.uniform() < 0.5
        actors = []
        if turning_oncoming or not it.turning:
            actors += oncoming_traffic(rng, rd, it.s + it.exit + 20.0, 290.0, gap=(40, 90), p_lane=0.6)[:6]
        for arm in [] if turning_oncoming else source_arms(it):
            if arm != int(TurnCommand.STRAIGHT) or it.turning:
                actors += cross_stream(rng, rd, arm, int(rng.integers(0, 4)))
        actors += junction_pedestrians(rng, rd, int(rng.integers(0, 3)))
        # and on the straight arm's crosswalk when it is off the route: they walk on the crossing
        # road's green, when cross traffic turns into that arm (and the ego waits at its red)
        actors += arm_pedestrians(rng, rd, 3)
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
            turn, radius = draw_cross_turn(rng, it, int(TurnCommand.STRAIGHT))  # some turn left
            actors.append(
                cross_car(rng, rd, int(TurnCommand.STRAIGHT), dist, v_stream, turn=turn, radius=radius)
            )
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
        # oncoming cars reach the junction only after the runner has crossed it (cars on the
        # route and on world lines do not see each other)
        t_clear = (dist + it.half_width + 6.0) / v_run
        s_onc = it.s + it.half_width + 10.0 + rd.speed_limit * t_clear
        actors += oncoming_traffic(rng, rd, s_onc, 290.0, gap=(40, 90), p_lane=0.5)[:4]
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
