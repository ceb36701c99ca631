"""The driver interface of closed-loop rollouts, and the expert as a driver.

A driver sees the World each step and returns an Action. `last_plan` / `last_reason` (optional)
let the top-down video show what it intends and why. Learned drivers (eval room) implement the
same protocol from the Observation only.
"""

from __future__ import annotations

from typing import Protocol

import torch

from e2edrive.core.types import Action
from e2edrive.sim.expert.noise import perturb_action
from e2edrive.sim.expert.planner import ExpertOutput


class Driver(Protocol):
    def act(self, world) -> Action: ...


class ExpertDriver:
    """The privileged expert. noise=True executes perturbed actions (DART); `last.action` keeps
    the expert's corrective label."""

    def __init__(self, noise: bool = False):
        self.noise = noise
        self.last: ExpertOutput | None = None

    def act(self, world) -> Action:
        self.last = world.expert()
        return perturb_action(self.last.action, world) if self.noise else self.last.action

    def last_plan(self) -> torch.Tensor | None:
        """(B, PLAN_STEPS, 2) planned positions, ego frame."""
        return None if self.last is None else self.last.plan[..., :2]

    def last_reason(self) -> list[str] | None:
        return None if self.last is None else self.last.reason_text()
