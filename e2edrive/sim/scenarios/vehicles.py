"""Vehicle-interaction scenarios: a lead car that brakes hard, a car that cuts in with a small
gap, and a car ahead that loses traction, spins into the barrier and bounces back."""

from __future__ import annotations

import numpy as np

from e2edrive.sim.map import lane_center_d
from e2edrive.sim.scenarios.base import (
    EGO_START_S,
    EpisodeRecord,
    EpisodeSpec,
    Scenario,
    oncoming_traffic,
    road,
    time_of_day,
    vehicle,
)


class FollowLead(Scenario):
    name = "follow_lead"
    tags = ("vehicle", "two_way")
    description = "lead car varies its speed and brakes hard (up to 6 m/s^2), then drives on"
    seconds = 40.0

    def build(self, rng: np.random.Generator) -> EpisodeSpec:
        rd = road(rng, curviness=rng.uniform(0.0, 0.6), lanes_fwd=int(rng.integers(1, 3)))
        ego_lane = int(rng.integers(rd.lanes_fwd))
        v1 = rng.uniform(8.0, 14.0)
        t_brake = rng.uniform(4.0, 10.0)
        v_low = rng.uniform(0.0, 4.0)
        t_go = t_brake + rng.uniform(3.0, 8.0)
        lead = vehicle(
            rng,
            EGO_START_S + rng.uniform(18.0, 30.0),
            float(lane_center_d(ego_lane)),
            v1,
            schedule=[(0.0, v1), (t_brake, v_low), (t_go, rng.uniform(9.0, 13.0))],
            max_decel=rng.uniform(3.0, 6.0),
        )
        actors = [lead] + oncoming_traffic(rng, rd, 60.0, 290.0)
        return EpisodeSpec(
            rd, actors, ego_lane, v1, EGO_START_S + rng.uniform(140.0, 170.0), 0, **time_of_day(rng)
        )

    def passed(self, spec: EpisodeSpec, rec: EpisodeRecord) -> bool:
        return not rec.collided and rec.route_done and rec.min_gap >= 2.0


class CutIn(Scenario):
    name = "cut_in"
    tags = ("vehicle", "multi_lane")
    description = "a faster car in the next lane cuts in ahead of the ego with a small gap"
    seconds = 35.0

    def build(self, rng: np.random.Generator) -> EpisodeSpec:
        v_ego = rng.uniform(9.0, 13.0)
        # the limit is the ego's cruise speed, so the faster car overtakes it before cutting in
        rd = road(
            rng,
            curviness=rng.uniform(0.0, 0.5),
            lanes_fwd=2,
            lanes_back=int(rng.integers(1, 3)),
            speed_limit=v_ego,
        )
        ego_lane = int(rng.integers(2))
        other = 1 - ego_lane
        v_cut = v_ego + rng.uniform(1.5, 4.0)
        cutter = vehicle(
            rng,
            EGO_START_S + rng.uniform(-12.0, 0.0),
            float(lane_center_d(other)),
            v_cut,
            schedule=[(0.0, v_cut), (rng.uniform(6.0, 10.0), v_ego - rng.uniform(0.0, 3.0))],
            lc_gap=rng.uniform(2.0, 8.0),
            lc_d=float(lane_center_d(ego_lane)),
            lc_time=rng.uniform(2.0, 3.5),
        )
        actors = [cutter] + oncoming_traffic(rng, rd, 60.0, 290.0)
        return EpisodeSpec(
            rd, actors, ego_lane, v_ego, EGO_START_S + rng.uniform(150.0, 180.0), 0, **time_of_day(rng)
        )


class SpinoutAhead(Scenario):
    name = "spinout_ahead"
    tags = ("vehicle", "hazard", "two_way")
    description = "the car ahead loses traction, spins into the barrier and bounces back into the lane"
    seconds = 30.0

    def build(self, rng: np.random.Generator) -> EpisodeSpec:
        lanes_fwd = int(rng.integers(1, 3))
        rd = road(
            rng,
            curviness=rng.uniform(0.0, 0.4),
            lanes_fwd=lanes_fwd,
            straight=[(60.0, 200.0)],
            speed_limit=rng.uniform(13.0, 16.0),
        )
        ego_lane = lanes_fwd - 1  # the right lane: the car spins towards the right barrier
        v = rng.uniform(0.85, 1.0) * rd.speed_limit
        lead = vehicle(
            rng,
            EGO_START_S + rng.uniform(28.0, 40.0),
            float(lane_center_d(ego_lane)),
            v,
            spin_time=rng.uniform(2.5, 5.0),
            spin_dir=-1.0,
        )
        actors = [lead] + oncoming_traffic(rng, rd, 80.0, 290.0, p_lane=0.5)
        return EpisodeSpec(rd, actors, ego_lane, v, EGO_START_S + 180.0, 0, spin_slot=0, **time_of_day(rng))

    def passed(self, spec: EpisodeSpec, rec: EpisodeRecord) -> bool:
        return rec.spin_braked and not rec.collided
