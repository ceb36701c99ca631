"""Obstacle scenarios: a puddle on a two-way road, a pedestrian walking at the lane edge, and
debris of a shape no class describes."""

from __future__ import annotations

import math

import numpy as np

from e2edrive.core.constants import ObjectClass
from e2edrive.sim.actors import ActorSpec, Behavior
from e2edrive.sim.map import PuddleSpec, lane_center_d
from e2edrive.sim.scenarios.base import (
    EGO_START_S,
    EpisodeRecord,
    EpisodeSpec,
    Scenario,
    oncoming_traffic,
    road,
    time_of_day,
)

PUDDLE_MAX_SPEED = 5.0  # m/s: driving through a puddle faster than this fails (splash, aquaplaning)
PED_CLEARANCE = 1.0  # m lateral clearance to a pedestrian, or
PED_SLOW = 3.0  # m/s at most while passing closer than that


class Puddle(Scenario):
    name = "puddle"
    tags = ("hazard", "two_way")
    description = "a puddle on the lane: avoid it when the oncoming lane is clear, else drive through slowly"
    seconds = 45.0

    def build(self, rng: np.random.Generator) -> EpisodeSpec:
        s_p = EGO_START_S + rng.uniform(70.0, 100.0)
        rd = road(
            rng,
            curviness=rng.uniform(0.0, 0.4),
            lanes_fwd=1,
            lanes_back=1,
            straight=[(s_p - 50, s_p + 30)],
            speed_limit=rng.uniform(11.0, 15.0),
        )
        puddle = PuddleSpec(
            s_p,
            float(lane_center_d(0)) + rng.uniform(-0.4, 0.4),
            rng.uniform(2.5, 5.0),
            rng.uniform(1.2, 1.7),
        )
        rd.puddles.append(puddle)
        busy = rng.uniform() < 0.5
        # a dense oncoming stream that reaches the puddle about when the ego does
        actors = (
            oncoming_traffic(rng, rd, s_p - 10.0, s_p + 400.0, gap=(18.0, 28.0), p_lane=1.0)[:14]
            if busy
            else []
        )
        return EpisodeSpec(
            rd,
            actors,
            0,
            0.8 * rd.speed_limit,
            s_p + 60.0,
            0,
            info={"busy": busy, "s_puddle": s_p},
            **time_of_day(rng),
        )

    def passed(self, spec: EpisodeSpec, rec: EpisodeRecord) -> bool:
        ok = not rec.collided and rec.route_done and rec.puddle_max_speed <= PUDDLE_MAX_SPEED
        if not spec.info.get("busy", False):  # the oncoming lane was empty: avoiding was safe
            ok = ok and not rec.puddle_touched
        return ok


class PedestrianClose(Scenario):
    name = "pedestrian_close"
    tags = ("vru", "two_way")
    description = "a pedestrian walks at the lane edge: offset early and keep >= 1 m, or slow down"
    seconds = 35.0

    def build(self, rng: np.random.Generator) -> EpisodeSpec:
        s_ped = EGO_START_S + rng.uniform(60.0, 100.0)
        lanes_fwd = int(rng.integers(1, 3))
        rd = road(
            rng,
            curviness=rng.uniform(0.0, 0.5),
            lanes_fwd=lanes_fwd,
            lanes_back=1,
            speed_limit=rng.uniform(10.0, 14.0),
        )
        ego_lane = lanes_fwd - 1
        walk = rng.uniform(0.9, 1.5) * rng.choice([-1.0, 1.0])
        ped = ActorSpec(
            ObjectClass.PEDESTRIAN,
            Behavior.WALKER,
            s=s_ped,
            d=-rd.width_right + rng.uniform(0.3, 0.7),
            size=(0.5, 0.6, 1.75),
            color=(60, 60, 140),
            psi=0.0 if walk > 0 else math.pi,
            vs=walk,
        )
        actors = [ped] + (oncoming_traffic(rng, rd, 60.0, 290.0, p_lane=0.7) if rng.uniform() < 0.6 else [])
        return EpisodeSpec(rd, actors, ego_lane, 0.8 * rd.speed_limit, s_ped + 80.0, 0, **time_of_day(rng))

    def passed(self, spec: EpisodeSpec, rec: EpisodeRecord) -> bool:
        return not rec.collided and not rec.ped_violation and rec.route_done


class UnknownObject(Scenario):
    name = "unknown_object"
    tags = ("static_obstacle", "hazard", "two_way")
    description = "debris of a shape no class describes lies on the lane: avoid it or stop"
    seconds = 45.0

    def build(self, rng: np.random.Generator) -> EpisodeSpec:
        s_o = EGO_START_S + rng.uniform(60.0, 100.0)
        lanes_fwd = int(rng.integers(1, 3))
        rd = road(
            rng,
            curviness=rng.uniform(0.0, 0.5),
            lanes_fwd=lanes_fwd,
            lanes_back=int(rng.integers(1, 3)),
            straight=[(s_o - 50, s_o + 20)],
        )
        ego_lane = int(rng.integers(lanes_fwd))
        size = (rng.uniform(0.3, 2.0), rng.uniform(0.3, 1.8), rng.uniform(0.15, 1.0))
        color = tuple(int(c) for c in rng.integers(40, 220, size=3))
        debris = ActorSpec(
            ObjectClass.UNKNOWN,
            Behavior.STATIC,
            s=s_o,
            d=float(lane_center_d(ego_lane)) + rng.uniform(-0.8, 0.8),
            size=size,
            color=color,
            psi=rng.uniform(-math.pi, math.pi),
        )
        actors = [debris] + (
            oncoming_traffic(rng, rd, s_o - 30, 290.0, p_lane=0.6) if rng.uniform() < 0.5 else []
        )
        return EpisodeSpec(rd, actors, ego_lane, 0.8 * rd.speed_limit, s_o + 60.0, 0, **time_of_day(rng))
