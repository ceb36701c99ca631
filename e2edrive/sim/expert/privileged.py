"""`PrivilegedView`: the ground truth a privileged driver may read, handed out by the world.

Drivers see the Observation only; the expert and the DAgger safety driver also need ground truth
(the expert plans on exact actor states, the safety driver labels frames and judges takeovers).
They get it through this view, given explicitly by `World.privileged()` to drivers declaring
`needs_privileged`, never by holding the world: what it exposes is the whole privileged contract.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch

from e2edrive.core.types import Action
from e2edrive.sim.expert.noise import perturb_action
from e2edrive.sim.expert.planner import ExpertOutput

if TYPE_CHECKING:
    from e2edrive.sim.scene import Scene
    from e2edrive.sim.world import World


class PrivilegedView:
    """Ground truth of a World's B environments at the current step."""

    def __init__(self, world: World):
        self._world = world

    def expert(self) -> ExpertOutput:
        """The privileged expert's output for the current state. The expert is stateful (it
        remembers its target offset): call it once per step."""
        return self._world.expert()

    def perturb(self, action: Action, steer_std: float = 0.05, accel_std: float = 0.5) -> Action:
        """`action` with DART noise bursts, a pure function of (episode, step) (expert.noise)."""
        return perturb_action(action, self._world, steer_std=steer_std, accel_std=accel_std)

    def scene(self) -> Scene:
        """The renderer's and label maker's view of every environment (world frame)."""
        return self._world.scene()

    def ego_pose(self) -> torch.Tensor:
        """(B, 3) x, y, yaw of the ego in the episode's world frame."""
        return self._world.ego.pose()

    def lateral_offset(self) -> torch.Tensor:
        """(B,) m, the ego's offset from the route's reference line (Frenet d, left positive)."""
        return self._world.ego_d

    def lane_offset(self) -> torch.Tensor:
        """(B,) m, the centre of the ego's route lane in the same frame (where it keeps its lane)."""
        return self._world.route_d

    def done(self) -> torch.Tensor:
        """(B,) bool, the environment's episode has ended (it waits for reset_envs)."""
        return self._world.done
