"""Closed-loop metrics: per-step infractions, per-episode results, the driving score, the summary."""

from e2edrive.sim.metrics.accumulator import (
    COLLISION_PENALTIES,
    PENALTY_PEDESTRIAN_ANIMAL,
    PENALTY_RED_LIGHT,
    PENALTY_STATIC,
    PENALTY_VEHICLE,
    ComfortLimits,
    MetricsAccumulator,
    StepInfractions,
    driving_score,
)
from e2edrive.sim.metrics.result import COLLISION_TYPES, EpisodeResult, summarize

__all__ = [
    "COLLISION_PENALTIES",
    "COLLISION_TYPES",
    "PENALTY_PEDESTRIAN_ANIMAL",
    "PENALTY_RED_LIGHT",
    "PENALTY_STATIC",
    "PENALTY_VEHICLE",
    "ComfortLimits",
    "EpisodeResult",
    "MetricsAccumulator",
    "StepInfractions",
    "driving_score",
    "summarize",
]
