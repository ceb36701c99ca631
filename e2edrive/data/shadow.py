"""Shadow mode's measure: how far a silent second driver disagrees with the one that acts.

A fleet runs the network in shadow mode beside the human (or the expert beside the network, as a
safety driver would): both see the same observation, only one drives. Per step the disagreement
is the absolute difference of their controls, the displacement between their plans over 1 s and
2 s (ADE: mean over the plan poses up to that time; FDE: at that time), and whether they state
different reasons. These are StepRecord's `shadow_*` fields; the triggers read them.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from e2edrive.core.constants import PLAN_DT
from e2edrive.core.types import Action

POSES_1S = round(1.0 / PLAN_DT)  # plan poses within the first second (PLAN_DT = 0.2 s -> 5)
POSES_2S = round(2.0 / PLAN_DT)


@dataclass
class Disagreement:
    """(B,) each; NaN where a driver gave no plan (the plan fields) — see module docstring."""

    steer_diff: torch.Tensor  # rad
    accel_diff: torch.Tensor  # m/s^2
    ade_1s: torch.Tensor  # m
    fde_1s: torch.Tensor  # m
    ade_2s: torch.Tensor  # m
    fde_2s: torch.Tensor  # m
    reason_differs: torch.Tensor  # bool; False where either driver gave no reason

    def record_fields(self) -> dict[str, torch.Tensor]:
        """The StepRecord fields (data.triggers) this disagreement fills."""
        return {
            "shadow_steer_diff": self.steer_diff,
            "shadow_accel_diff": self.accel_diff,
            "shadow_ade_1s": self.ade_1s,
            "shadow_fde_1s": self.fde_1s,
            "shadow_ade_2s": self.ade_2s,
            "shadow_fde_2s": self.fde_2s,
            "shadow_reason_differs": self.reason_differs,
        }


def plan_displacement(
    plan_a: torch.Tensor, plan_b: torch.Tensor, poses: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """(ADE, FDE), each (B,), over the first `poses` poses of two plans (B, P, >=2), ego frame."""
    d = (plan_a[:, :poses, :2].float() - plan_b[:, :poses, :2].float()).norm(dim=-1)  # (B, poses)
    return d.mean(-1), d[:, -1]


def disagreement(
    action: Action,
    plan: torch.Tensor | None,
    reasons: list[str] | None,
    shadow_action: Action,
    shadow_plan: torch.Tensor | None,
    shadow_reasons: list[str] | None,
) -> Disagreement:
    """Disagreement of the acting driver (action, plan (B, P, 2), reason texts) and the shadow."""
    B, dev = action.steer.shape[0], action.steer.device
    nan = torch.full((B,), float("nan"), device=dev)
    if plan is not None and shadow_plan is not None:
        shadow_plan = shadow_plan.to(dev)
        ade1, fde1 = plan_displacement(plan.to(dev), shadow_plan, POSES_1S)
        ade2, fde2 = plan_displacement(plan.to(dev), shadow_plan, POSES_2S)
    else:
        ade1 = fde1 = ade2 = fde2 = nan
    if reasons is not None and shadow_reasons is not None:
        differs = torch.tensor([a != b for a, b in zip(reasons, shadow_reasons)], device=dev)
    else:
        differs = torch.zeros(B, dtype=torch.bool, device=dev)
    return Disagreement(
        steer_diff=(action.steer.float() - shadow_action.steer.to(dev).float()).abs(),
        accel_diff=(action.accel.float() - shadow_action.accel.to(dev).float()).abs(),
        ade_1s=ade1,
        fde_1s=fde1,
        ade_2s=ade2,
        fde_2s=fde2,
        reason_differs=differs,
    )
