"""`EpisodeResult`: the metrics of one closed-loop episode, and `summarize`, which turns a list of
them into the summary the CLI prints with `--json`.

Units: route_completion, pass_rate, collision_rate and off_road_fraction are fractions in [0, 1];
driving_score is in [0, 100] like CARLA's; distances in metres, times in seconds.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field

COLLISION_TYPES = ("vehicle", "pedestrian_animal", "static")


@dataclass
class EpisodeResult:
    """One episode's closed-loop metrics.

    scenario, seed:     what was driven (every episode is a function of the two)
    passed:             the scenario's own pass rule (filled by the scenario, not by the metrics)
    route_completion:   progress along the route / route length, in [0, 1]
    driving_score:      CARLA leaderboard 2.0 score in [0, 100] (see sim.metrics.accumulator)
    collisions:         {vehicle, pedestrian_animal, static}: number of collision events
    off_road:           True if any corner of the ego box left the drivable area at some step
    off_road_fraction:  fraction of the episode's steps spent off road
    off_road_m:         route metres driven while off road
    red_light_runs:     stop lines crossed on red
    min_ttc:            s, smallest time to collision seen (inf: never on a collision course)
    comfortable:        nuPlan's ego_is_comfortable: every comfort limit held
    comfort_violations: {limit name: worst value} for each nuPlan limit exceeded
    progress_m:         m driven along the route
    steps:              control steps in the episode
    route_length_m:     m, length of the route
    """

    scenario: str
    seed: int
    passed: bool
    route_completion: float
    driving_score: float
    collisions: dict[str, int]
    off_road: bool
    off_road_fraction: float
    off_road_m: float
    red_light_runs: int
    min_ttc: float
    comfortable: bool
    comfort_violations: dict[str, float] = field(default_factory=dict)
    progress_m: float = 0.0
    steps: int = 0
    route_length_m: float = 0.0

    @property
    def n_collisions(self) -> int:
        return sum(self.collisions.values())

    def to_dict(self) -> dict:
        """Plain JSON-safe dict; an infinite min_ttc becomes None (JSON has no infinity)."""
        d = asdict(self)
        d["min_ttc"] = None if not math.isfinite(self.min_ttc) else self.min_ttc
        return d

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), allow_nan=False)

    @staticmethod
    def from_dict(d: dict) -> EpisodeResult:
        d = dict(d)
        missing = [
            k
            for k in (
                "scenario",
                "seed",
                "passed",
                "route_completion",
                "driving_score",
                "collisions",
                "off_road",
                "off_road_fraction",
                "off_road_m",
                "red_light_runs",
                "min_ttc",
                "comfortable",
            )
            if k not in d
        ]
        if missing:
            raise ValueError(f"EpisodeResult dict lacks fields {missing}")
        d["min_ttc"] = float("inf") if d["min_ttc"] is None else float(d["min_ttc"])
        return EpisodeResult(**d)


def _mean(xs: list[float]) -> float:
    return sum(xs) / len(xs)


def _group_summary(results: list[EpisodeResult]) -> dict:
    return {
        "pass_rate": _mean([float(r.passed) for r in results]),
        "driving_score": _mean([r.driving_score for r in results]),
        "collision_rate": _mean([float(r.n_collisions > 0) for r in results]),  # episodes with any collision
        "route_completion": _mean([r.route_completion for r in results]),
        "episodes": len(results),
    }


def summarize(results: list[EpisodeResult]) -> dict:
    """The CLI's `--json` summary:
    {"by_scenario": {NAME: {"pass_rate", "driving_score", "collision_rate", "route_completion",
    "episodes"}}, "pass_rate", "driving_score"}.

    Scenarios appear in the order they are first met. The overall pass rate and driving score are
    means over episodes (equal to the mean over scenarios when every scenario has as many episodes).
    """
    if not results:
        raise ValueError("summarize needs at least one EpisodeResult, got an empty list")
    groups: dict[str, list[EpisodeResult]] = {}
    for r in results:
        groups.setdefault(r.scenario, []).append(r)
    return {
        "by_scenario": {name: _group_summary(rs) for name, rs in groups.items()},
        "pass_rate": _mean([float(r.passed) for r in results]),
        "driving_score": _mean([r.driving_score for r in results]),
    }
