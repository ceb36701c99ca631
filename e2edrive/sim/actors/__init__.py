"""Actors: batched state (state.py), the spin-out rigid body (spinout.py), the step (step.py)."""

from e2edrive.sim.actors.spinout import SpinState
from e2edrive.sim.actors.state import MAX_ACTORS, Actors, ActorSpec, Behavior, EgoFrenet, pack_actors
from e2edrive.sim.actors.step import actor_collisions, actor_world_poses, step_actors

__all__ = ["MAX_ACTORS", "ActorSpec", "Actors", "Behavior", "EgoFrenet", "SpinState", "actor_collisions",
           "actor_world_poses", "pack_actors", "step_actors"]
