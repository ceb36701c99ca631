"""The scenario catalog (registry.py) and what a scenario is (base.py)."""

from e2edrive.sim.scenarios.base import EpisodeRecord, EpisodeSpec, Scenario
from e2edrive.sim.scenarios.registry import SCENARIOS, get_scenario, resolve_scenarios

__all__ = ["SCENARIOS", "EpisodeRecord", "EpisodeSpec", "Scenario", "get_scenario", "resolve_scenarios"]
