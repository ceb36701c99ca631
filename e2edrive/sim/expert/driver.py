"""The privileged expert as a driver (core.env.Driver): it reads ground truth through the
privileged view the world hands it, never the world itself."""

from __future__ import annotations

import torch

from e2edrive.core.env import Driver
from e2edrive.core.types import Action, Observation
from e2edrive.sim.expert.planner import ExpertOutput
from e2edrive.sim.expert.privileged import PrivilegedView


class ExpertDriver(Driver):
    """The privileged expert. noise=True executes perturbed actions (DART); `last.action` keeps
    the expert's corrective label."""

    needs_privileged = True

    def __init__(self, noise: bool = False):
        self.noise = noise
        self.name = "expert_noisy" if noise else "expert"
        self.last: ExpertOutput | None = None

    def act(
        self, obs: Observation, privileged: PrivilegedView | None = None
    ) -> tuple[Action, torch.Tensor, list[str]]:
        if privileged is None:
            raise ValueError("the expert reads ground truth: pass it the world's view, world.privileged()")
        self.last = privileged.expert()
        action = privileged.perturb(self.last.action) if self.noise else self.last.action
        return action, self.last.plan[..., :2], self.last.reason_text()

    def last_plan(self) -> torch.Tensor | None:
        """(B, PLAN_STEPS, 2) planned positions, ego frame."""
        return None if self.last is None else self.last.plan[..., :2]

    def last_reason(self) -> list[str] | None:
        return None if self.last is None else self.last.reason_text()
