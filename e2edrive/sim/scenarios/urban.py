"""Urban scenarios: routes that turn at signalised 4-way and T junctions, with the junction's
everyday hard cases.

A junction map is one two-way road (the route) whose reference line turns by a quarter arc of an
urban radius at the junction (sim.map.spec.IntersectionSpec); the junction's other arms are
world-frame roads. Radii are those of the lane the ego drives: 8-12 m turning right (inside the
corner), 12-18 m turning left (across the oncoming lane).
"""

from __future__ import annotations

import numpy as np

from e2edrive.core.constants import TurnCommand
from e2edrive.sim.map import LANE_WIDTH, IntersectionSpec, RoadSpec, random_curvature
from e2edrive.sim.map.spec import ROAD_LENGTH
from e2edrive.sim.scenarios.base import (
    EGO_START_S,
    EpisodeRecord,
    EpisodeSpec,
    Scenario,
    oncoming_traffic,
    time_of_day,
)

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
    **light,
) -> RoadSpec:
    """A one-lane-each-way road with a signalised junction at s_int where the route turns (or
    not); a T junction lacks one arm the route does not use. Curves only before the junction."""
    s_int = _half_grid(s_int)
    radius = turn_radius(rng, turn) if turn != int(TurnCommand.STRAIGHT) else 0.0
    missing = None
    if t_junction:
        options = [k for k in (0, 1, 2) if k != turn]
        missing = int(rng.choice(options))
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
        # oncoming traffic on the route beyond the junction (it comes out of the exit arm)
        actors = oncoming_traffic(rng, rd, it.s + it.exit + 20.0, 290.0, gap=(40, 90), p_lane=0.6)
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
        return rec.red_light_runs == 0 and rec.route_done and not rec.collided and not rec.off_road
