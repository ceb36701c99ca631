"""Animal scenarios: a flock of chickens crossing one by one, and geese standing on the lane."""

from __future__ import annotations

import math

import numpy as np

from e2edrive.core.constants import ObjectClass
from e2edrive.sim.actors import ActorSpec, Behavior
from e2edrive.sim.map import lane_center_d
from e2edrive.sim.scenarios.base import (
    EGO_START_S,
    EpisodeRecord,
    EpisodeSpec,
    Scenario,
    oncoming_traffic,
    road,
    time_of_day,
)

CHICKEN_SIZE = (0.45, 0.35, 0.45)
GOOSE_SIZE = (0.8, 0.45, 0.8)
CHICKEN_COLOR = (235, 225, 200)
GOOSE_COLOR = (120, 110, 100)


class ChickensCrossing(Scenario):
    name = "chickens_crossing"
    tags = ("animal", "vru", "two_way")
    description = "a flock of chickens crosses the road one by one; wait for the last one, then go"
    seconds = 60.0

    def build(self, rng: np.random.Generator) -> EpisodeSpec:
        s_c = EGO_START_S + rng.uniform(55.0, 85.0)
        rd = road(
            rng,
            curviness=rng.uniform(0.0, 0.5),
            lanes_fwd=1,
            lanes_back=1,
            straight=[(s_c - 40, s_c + 20)],
            speed_limit=rng.uniform(10.0, 14.0),
        )
        n = int(rng.integers(3, 8))
        from_right = rng.uniform() < 0.6
        d0 = -rd.width_right - 1.2 if from_right else rd.width_left + 1.2
        d1 = rd.width_left + 1.2 if from_right else -rd.width_right - 1.2
        speed = rng.uniform(0.6, 1.0)
        vd = speed if from_right else -speed
        trigger_s = s_c - rng.uniform(40.0, 55.0)
        delay = 0.0
        actors = []
        for _ in range(n):
            actors.append(
                ActorSpec(
                    ObjectClass.CHICKEN,
                    Behavior.WALKER,
                    s=s_c + rng.uniform(-1.0, 1.0),
                    d=d0,
                    size=CHICKEN_SIZE,
                    color=CHICKEN_COLOR,
                    psi=math.copysign(math.pi / 2, vd),
                    vs=rng.uniform(-0.1, 0.1),
                    vd=vd * rng.uniform(0.85, 1.15),
                    start_delay=delay,
                    trigger_s=trigger_s,
                    d_end=d1,
                )
            )
            delay += rng.uniform(1.5, 3.5)
        actors += oncoming_traffic(rng, rd, s_c + 120.0, 290.0, p_lane=0.5)
        return EpisodeSpec(
            rd, actors, 0, 0.8 * rd.speed_limit, s_c + 60.0, 0, info={"s_cross": s_c}, **time_of_day(rng)
        )

    def passed(self, spec: EpisodeSpec, rec: EpisodeRecord) -> bool:
        return not rec.collided and rec.route_done and not rec.chicken_violation


class GeeseStanding(Scenario):
    name = "geese_standing"
    tags = ("animal", "static_obstacle", "two_way")
    description = (
        "geese stand on the lane (not crossing); pass them through the oncoming lane when it is clear"
    )
    seconds = 50.0

    def build(self, rng: np.random.Generator) -> EpisodeSpec:
        s_g = EGO_START_S + rng.uniform(60.0, 95.0)
        rd = road(
            rng,
            curviness=rng.uniform(0.0, 0.4),
            lanes_fwd=1,
            lanes_back=1,
            straight=[(s_g - 50, s_g + 30)],
            speed_limit=rng.uniform(10.0, 14.0),
        )
        lane_c = float(lane_center_d(0))
        actors = []
        for _ in range(int(rng.integers(3, 7))):
            actors.append(
                ActorSpec(
                    ObjectClass.GOOSE,
                    Behavior.IDLE,
                    s=s_g + rng.uniform(-2.5, 2.5),
                    d=lane_c + rng.uniform(-1.1, 1.1),
                    size=GOOSE_SIZE,
                    color=GOOSE_COLOR,
                    psi=rng.uniform(-math.pi, math.pi),
                    idle_amp=rng.uniform(0.02, 0.1),
                )
            )
        if rng.uniform() < 0.6:  # oncoming traffic that the ego has to let through first
            actors += oncoming_traffic(rng, rd, s_g - 20.0, s_g + 250.0, gap=(30.0, 90.0), p_lane=1.0)[:6]
        return EpisodeSpec(
            rd, actors, 0, 0.8 * rd.speed_limit, s_g + 60.0, 0, info={"s_geese": s_g}, **time_of_day(rng)
        )
