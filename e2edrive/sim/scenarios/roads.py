"""Road-geometry scenarios: lane following on curvy multi-lane roads, and a signalised
intersection."""

from __future__ import annotations

import numpy as np

from e2edrive.sim.map import IntersectionSpec, lane_center_d
from e2edrive.sim.scenarios.base import (
    EGO_START_S,
    EpisodeRecord,
    EpisodeSpec,
    Scenario,
    oncoming_traffic,
    road,
    side_lane_traffic,
    time_of_day,
    vehicle,
)


class LaneFollow(Scenario):
    name = "lane_follow"
    tags = ("two_way", "curves")
    description = "multi-lane two-way road with curves of varied radius (>= 40 m) and light traffic"
    seconds = 30.0

    def build(self, rng: np.random.Generator) -> EpisodeSpec:
        rd = road(
            rng,
            curviness=rng.uniform(0.5, 1.0),
            lanes_fwd=int(rng.integers(1, 4)),
            lanes_back=int(rng.integers(1, 4)),
        )
        ego_lane = int(rng.integers(rd.lanes_fwd))
        actors = oncoming_traffic(rng, rd, 40.0, 290.0)
        actors += side_lane_traffic(rng, rd, ego_lane, 0.0, 290.0)
        if rng.uniform() < 0.5:  # a car far ahead in the ego's lane, slightly slower than the limit
            actors.append(
                vehicle(
                    rng,
                    EGO_START_S + rng.uniform(50, 90),
                    float(lane_center_d(ego_lane)),
                    0.8 * rd.speed_limit,
                )
            )
        length = rng.uniform(170.0, 210.0)
        return EpisodeSpec(
            rd, actors[:24], ego_lane, 0.7 * rd.speed_limit, EGO_START_S + length, 0, **time_of_day(rng)
        )

    def passed(self, spec: EpisodeSpec, rec: EpisodeRecord) -> bool:
        return rec.route_done and not rec.off_road and not rec.collided


class TrafficLight(Scenario):
    name = "traffic_light"
    tags = ("traffic_control", "two_way", "intersection")
    description = (
        "4-way intersection with a cycling light: stop at red (and at yellow if comfortable), go at green"
    )
    seconds = 45.0

    def build(self, rng: np.random.Generator) -> EpisodeSpec:
        s_int = EGO_START_S + rng.uniform(70.0, 120.0)
        lanes_fwd = int(rng.integers(1, 3))
        green, red = rng.uniform(8, 14), rng.uniform(8, 14)
        # Time the cycle so that most episodes meet the light turning yellow or red as the ego
        # arrives (the interesting case), the others at a random point of the cycle.
        t_arrive = (s_int - EGO_START_S) / 12.0
        u_arrive = rng.uniform(green - 3.0, green + 3.0 + red) if rng.uniform() < 0.75 else rng.uniform(0, 30)
        inter = IntersectionSpec(
            s=s_int,
            cross_lanes=int(rng.integers(1, 3)),
            green=green,
            yellow=3.0,
            red=red,
            phase=float((u_arrive - t_arrive) % (green + 3.0 + red)),
        )
        rd = road(
            rng,
            curviness=rng.uniform(0.0, 0.5),
            lanes_fwd=lanes_fwd,
            lanes_back=int(rng.integers(1, 3)),
            straight=[(s_int - 60, s_int + 60)],
            intersections=[inter],
        )
        ego_lane = int(rng.integers(lanes_fwd))
        actors = oncoming_traffic(rng, rd, s_int + 30, 290.0, gap=(40, 90), p_lane=0.6)
        return EpisodeSpec(
            rd,
            actors,
            ego_lane,
            0.8 * rd.speed_limit,
            s_int + 50.0,
            0,
            info={"s_int": s_int},
            **time_of_day(rng),
        )

    def passed(self, spec: EpisodeSpec, rec: EpisodeRecord) -> bool:
        return rec.red_light_runs == 0 and rec.route_done and not rec.collided
