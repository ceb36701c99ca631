"""The simulator's behaviour version, stamped on everything that stores an episode by reference.

A banked failure is stored as (scenario, seed), not as a recording: replaying it means running the
simulator again. That is only the same episode while the simulator behaves the same, so every
reference carries SIM_VERSION and the failure bank reports entries of another version as stale
instead of replaying an episode that no longer exists.

Bump SIM_VERSION whenever a change alters any episode: scenario sampling, maps, actors, dynamics,
collision, metrics, pass rules, or what the cameras render (a camera policy replays differently).
The golden rollouts test tells when: if it has to be regenerated, the version has to move with it.
A refactor that keeps every golden rollout bit for bit keeps it.
"""

from __future__ import annotations

SIM_VERSION = "2"
"""A string, compared for equality only, bumped on any change that alters an episode.
2: the ground texture no longer depends on the batch (sim.render.ground.TEXTURE_STRIDE)."""
