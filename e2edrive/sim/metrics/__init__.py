"""Closed-loop metrics: per-step infractions, per-episode results, the driving score, the summary.

StepInfractions is defined in core.env (it is part of the environment contract) and re-exported
here, where the metrics consume it."""

from e2edrive.core.env import StepInfractions
from e2edrive.sim.metrics.accumulator import (
    COLLISION_PENALTIES,
    PENALTY_PEDESTRIAN_ANIMAL,
    PENALTY_RED_LIGHT,
    PENALTY_STATIC,
    PENALTY_VEHICLE,
    ComfortLimits,
    MetricsAccumulator,
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
