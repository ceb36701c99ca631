"""Open-loop metrics: how well a network's outputs match the expert's labels on recorded clips.

    plan L2 @ t   mean Euclidean xy distance between predicted and expert pose at time t
    ADE / FDE     mean over the 10 plan poses / at the last one (2 s)
    control error mean |steer - expert steer| (rad) and |accel - expert accel| (m/s^2)
    per-head      the network's own loss terms (occupancy, objects, lanes, depth, ...) and the
                  accuracies of the classification heads (traffic light, reason)

The plan holds PLAN_STEPS = 10 poses at PLAN_DT = 0.2 s: pose i is at (i + 1) * 0.2 s, so 1 s is
index 4 and 2 s index 9. 3 s is beyond the plan's 2 s horizon: it is reported as None (not
available) rather than extrapolated, since an invented number would look like a measurement.

Open-loop numbers alone do not predict driving (Zhai et al. 2023, Codevilla et al. 2018): they
are reported beside the closed-loop driving score, never instead of it.
"""

from __future__ import annotations

import torch

from e2edrive.core.constants import PLAN_DT, PLAN_STEPS
from e2edrive.core.types import Clip, Labels
from e2edrive.model.output import DrivingOutput

HORIZONS_S = (1.0, 2.0, 3.0)


def horizon_index(t_s: float) -> int | None:
    """Index of the plan pose at t_s seconds, or None when t_s is past the plan's horizon."""
    i = round(t_s / PLAN_DT) - 1
    if i < 0 or abs((i + 1) * PLAN_DT - t_s) > 1e-6:
        raise ValueError(f"{t_s} s is not a multiple of the plan step {PLAN_DT} s")
    return i if i < PLAN_STEPS else None


class OpenLoopMetrics:
    """Accumulates sums on the model's device (no host sync per batch); `compute()` at the end.

    Sums live in one dict so a DDP job can all-reduce `vector()` and write it back with
    `load_vector()` before `compute()`.
    """

    def __init__(self) -> None:
        self.sums: dict[str, torch.Tensor] = {}

    def _add(self, name: str, value: torch.Tensor) -> None:
        value = value.detach().double()
        self.sums[name] = self.sums[name] + value if name in self.sums else value

    @torch.no_grad()
    def update(
        self, out: DrivingOutput, labels: Labels, loss_parts: dict[str, torch.Tensor] | None = None
    ) -> None:
        n = out.action.shape[0]
        self._add("n", torch.tensor(float(n), device=out.action.device))
        err = (out.plan[..., :2] - labels.expert_plan[..., :2]).norm(dim=-1)  # (B, PLAN_STEPS)
        self._add("ade", err.mean(-1).sum())
        self._add("fde", err[:, -1].sum())
        for t in HORIZONS_S:
            i = horizon_index(t)
            if i is not None:
                self._add(f"l2_{t:g}s", err[:, i].sum())
        self._add("yaw_err", (out.plan[..., 2] - labels.expert_plan[..., 2]).abs().mean(-1).sum())
        act_err = (out.action - labels.expert_action).abs()  # (B, 2)
        self._add("steer_err", act_err[:, 0].sum())
        self._add("accel_err", act_err[:, 1].sum())
        self._add("speed_err", (out.speed - labels.expert_speed).abs().sum())
        if out.traffic_light is not None:
            self._add("light_correct", (out.traffic_light.argmax(-1) == labels.traffic_light).sum())
        if out.reason is not None:
            self._add("reason_correct", (out.reason.argmax(-1) == labels.reason).sum())
        for name, value in (loss_parts or {}).items():
            self._add(f"loss_{name}", value * n)  # parts are batch means: weight by batch size

    def vector(self) -> torch.Tensor:
        return torch.stack([self.sums[k] for k in sorted(self.sums)])

    def load_vector(self, v: torch.Tensor) -> None:
        self.sums = {k: v[i] for i, k in enumerate(sorted(self.sums))}

    def compute(self) -> dict[str, float | None]:
        """Means over every sample seen. Keys: l2_1s, l2_2s, l2_3s (None), ade, fde, yaw_err,
        steer_err, accel_err, speed_err, light_acc / reason_acc (if the heads exist), loss_*."""
        if not self.sums or float(self.sums["n"]) == 0:
            raise ValueError("no samples were evaluated: the validation set is empty")
        n = float(self.sums["n"])
        out: dict[str, float | None] = {}
        for k, v in sorted(self.sums.items()):
            if k == "n":
                continue
            name = k.replace("_correct", "_acc")
            out[name] = float(v) / n
        for t in HORIZONS_S:
            out.setdefault(f"l2_{t:g}s", None)
        out["samples"] = n
        return out


@torch.no_grad()
def evaluate_open_loop(model, batches, device: torch.device | str, reduce=None) -> dict[str, float | None]:
    """Run `model` over an iterable of `Clip` batches and return `OpenLoopMetrics.compute()`.

    reduce: optional function (vector) -> vector summing the metric sums over DDP ranks.
    """
    was_training = model.training
    model.eval()
    metrics = OpenLoopMetrics()
    try:
        for clip in batches:
            clip: Clip = clip.to(device)
            out = model(clip.obs)
            _, parts = model.loss(out, clip.labels)
            metrics.update(out, clip.labels, parts)
    finally:
        model.train(was_training)
    if reduce is not None and metrics.sums:
        metrics.load_vector(reduce(metrics.vector()))
    return metrics.compute()


def format_open_loop(m: dict[str, float | None]) -> str:
    """One line for logs: L2 at 1/2/3 s and the control errors."""

    def f(v: float | None, unit: str) -> str:
        return "n/a" if v is None else f"{v:.3f}{unit}"

    return (
        f"L2@1s {f(m.get('l2_1s'), 'm')}  L2@2s {f(m.get('l2_2s'), 'm')}  L2@3s {f(m.get('l2_3s'), '')}"
        f" (plan is 2 s)  steer {f(m.get('steer_err'), 'rad')}  accel {f(m.get('accel_err'), 'm/s2')}"
    )
