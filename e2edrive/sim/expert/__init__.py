"""The privileged expert driver: lateral decision (lateral.py), longitudinal planning, steering,
plan and reason (planner.py), driving styles and deterministic noise (style.py), noise injection
(noise.py)."""

from e2edrive.sim.expert.noise import perturb_action
from e2edrive.sim.expert.planner import ExpertMemory, ExpertOutput, expert_drive, initial_memory, reset_memory
from e2edrive.sim.expert.style import DrivingStyle

__all__ = [
    "DrivingStyle",
    "ExpertMemory",
    "ExpertOutput",
    "expert_drive",
    "initial_memory",
    "perturb_action",
    "reset_memory",
]
