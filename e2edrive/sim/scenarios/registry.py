"""The scenario catalog: an explicit registry name -> Scenario class (ARCHITECTURE.md's table)."""

from __future__ import annotations

from e2edrive.sim.scenarios.animals import ChickensCrossing, GeeseStanding
from e2edrive.sim.scenarios.base import Scenario
from e2edrive.sim.scenarios.obstacles import PedestrianClose, Puddle, UnknownObject
from e2edrive.sim.scenarios.roads import LaneFollow, TrafficLight
from e2edrive.sim.scenarios.urban import (
    ConstructionZone,
    OccludedPedestrian,
    RedLightRunner,
    TrafficLightTurn,
    TurnLeftUnprotected,
    TurnRightCrosswalk,
)
from e2edrive.sim.scenarios.vehicles import CutIn, FollowLead, SpinoutAhead

SCENARIOS: dict[str, type[Scenario]] = {
    "lane_follow": LaneFollow,
    "follow_lead": FollowLead,
    "traffic_light": TrafficLight,
    "chickens_crossing": ChickensCrossing,
    "geese_standing": GeeseStanding,
    "puddle": Puddle,
    "spinout_ahead": SpinoutAhead,
    "cut_in": CutIn,
    "pedestrian_close": PedestrianClose,
    "unknown_object": UnknownObject,
    "traffic_light_turn": TrafficLightTurn,
    "turn_left_unprotected": TurnLeftUnprotected,
    "turn_right_crosswalk": TurnRightCrosswalk,
    "red_light_runner": RedLightRunner,
    "construction_zone": ConstructionZone,
    "occluded_pedestrian": OccludedPedestrian,
}


def get_scenario(name: str) -> Scenario:
    """The scenario called name; an unknown name is an error that lists the valid ones."""
    if name not in SCENARIOS:
        raise KeyError(f"unknown scenario {name!r}; valid scenarios: {', '.join(SCENARIOS)}")
    return SCENARIOS[name]()


def resolve_scenarios(text: str) -> list[str]:
    """'all', one name, or a comma-separated list -> names, validated."""
    names = list(SCENARIOS) if text == "all" else [n.strip() for n in text.split(",") if n.strip()]
    for n in names:
        get_scenario(n)
    if not names:
        raise KeyError(f"no scenario given; valid scenarios: {', '.join(SCENARIOS)}")
    return names
