"""Shadow mode: a second driver runs silently beside the one that acts.

    driver = ShadowDriver(acting=ExpertDriver(), shadow=PolicyDriver(net))   # the fleet case
    driver = ShadowDriver(acting=PolicyDriver(net), shadow=ExpertDriver())   # a safety driver watches

Both see the same observation (and the privileged view, if they need it) at every step; only the
acting driver's action reaches the environment. After each `act`, `shadow_action` and
`shadow_reasons` hold what the silent driver would have done, `last` the per-step disagreement
(data.shadow.Disagreement) and `last_output` the network's heads (whichever of the two is a
network), for the triggers; `episode_summary` keeps per-episode means and maxima so that
evaluation can report where the two part ways.
"""

from __future__ import annotations

import math

import torch

from e2edrive.core.env import Driver
from e2edrive.data.shadow import Disagreement, disagreement


class ShadowDriver(Driver):
    def __init__(self, acting: Driver, shadow: Driver):
        self.acting, self.shadow = acting, shadow
        self.name = f"{acting.name} (shadow: {shadow.name})"
        self.needs_images = acting.needs_images or shadow.needs_images
        self.needs_privileged = acting.needs_privileged or shadow.needs_privileged
        self.last: Disagreement | None = None
        self.shadow_action, self.shadow_reasons = None, None  # the silent driver's, last step
        self._sums: dict[str, torch.Tensor] = {}
        self.episode_summary: dict[tuple[str, int], dict[str, float]] = {}

    @property
    def last_output(self):
        """The heads of whichever driver is a network (the acting one first), or None."""
        for d in (self.acting, self.shadow):
            if getattr(d, "last_output", None) is not None:
                return d.last_output
        return None

    def reset(self, batch: int, device: torch.device) -> None:
        self.acting.reset(batch, device)
        self.shadow.reset(batch, device)
        z = torch.zeros(batch, device=device)
        self._sums = {"steps": z.clone(), "accel": z.clone(), "steer": z.clone(), "ade_2s": z.clone()}
        self._sums["max_accel"] = z.clone()

    def act(self, obs, privileged=None):
        priv_a = privileged if self.acting.needs_privileged else None
        priv_s = privileged if self.shadow.needs_privileged else None
        action, plan, reasons = self.acting.act(obs, priv_a)
        s_action, s_plan, s_reasons = self.shadow.act(obs, priv_s)
        self.shadow_action, self.shadow_reasons = s_action, s_reasons  # what it would have done
        self.last = disagreement(action, plan, reasons, s_action, s_plan, s_reasons)
        self._accumulate(obs.first.to(self.last.accel_diff.device))
        return action, plan, reasons

    def _accumulate(self, first: torch.Tensor) -> None:
        """Running per-environment sums; a new episode (obs.first) starts them afresh."""
        d, s = self.last, self._sums
        for k in s:
            s[k] = torch.where(first, torch.zeros_like(s[k]), s[k])
        s["steps"] += 1
        s["accel"] += d.accel_diff
        s["steer"] += d.steer_diff
        s["ade_2s"] += torch.nan_to_num(d.ade_2s, nan=0.0)
        s["max_accel"] = torch.maximum(s["max_accel"], d.accel_diff)

    def observe(self, step_output) -> None:
        self.acting.observe(step_output)
        self.shadow.observe(step_output)

    def episode_end(self, env: int, scenario: str, seed: int, result) -> None:
        s = {k: float(v[env]) for k, v in self._sums.items()}
        n = max(s["steps"], 1.0)
        self.episode_summary[(scenario, int(seed))] = {
            "mean_accel_diff": s["accel"] / n,
            "mean_steer_diff": s["steer"] / n,
            "mean_ade_2s": s["ade_2s"] / n if not math.isnan(s["ade_2s"]) else float("nan"),
            "max_accel_diff": s["max_accel"],
        }
        self.acting.episode_end(env, scenario, seed, result)
        self.shadow.episode_end(env, scenario, seed, result)
