"""Actors: batched state (state.py), the spin-out rigid body (spinout.py), the step (step.py)."""

from e2edrive.sim.actors.spinout import SpinState
from e2edrive.sim.actors.state import (
    MAX_ACTORS,
    Actors,
    ActorSpec,
    Behavior,
    EgoFrenet,
    actor_capacity,
    pack_actors,
    pad_actors,
)
from e2edrive.sim.actors.step import actor_collisions, actor_world_poses, step_actors

__all__ = [
    "MAX_ACTORS",
    "ActorSpec",
    "Actors",
    "Behavior",
    "EgoFrenet",
    "SpinState",
    "actor_collisions",
    "actor_capacity",
    "actor_world_poses",
    "pack_actors",
    "pad_actors",
    "step_actors",
]
