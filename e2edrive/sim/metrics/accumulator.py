"""Closed-loop driving metrics: per-step infractions in, per-episode results and a CARLA-style
driving score out.

The world fills a `StepInfractions` every control step; `MetricsAccumulator` folds it into
per-environment tensors on the world's device with no host sync, so it costs nothing inside a
batched rollout. Only `episode_result` / `results` move numbers to the host, once per episode.

Driving score (CARLA leaderboard 2.0, leaderboard/utils/statistics_manager.py):
    score = 100 x route_completion_effective x prod_events(penalty)
    penalties per event: pedestrian/animal 0.50, vehicle 0.60, static 0.65, red light 0.70.
Off-road: the CARLA leaderboard page says the part of the route driven off road "will not be
considered towards the computation of the route completion score", so here the route metres
driven off road are subtracted from the route completion before the penalties multiply it.
(The leaderboard's code applies the same percentage as a factor (1 - off%) on the penalty; both
agree when the route is completed, the subtraction is harsher on unfinished routes.)

Comfort uses nuPlan's `ego_is_comfortable` limits (see `ComfortLimits`). Jerk and yaw
acceleration, when the world does not give them, are least-squares slopes over a 0.7 s window
(a Savitzky-Golay first derivative, as nuPlan filters its signals), not raw 10 Hz differences
that would flag every step change of the accel command.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from e2edrive.core.constants import DT
from e2edrive.core.env import StepInfractions
from e2edrive.sim.metrics.result import COLLISION_TYPES, EpisodeResult


@dataclass(frozen=True)
class ComfortLimits:
    """nuPlan's comfort thresholds (nuplan-devkit, config/common/simulation_metric/low_level:
    ego_lon_acceleration, ego_lat_acceleration, ego_yaw_acceleration, ego_yaw_rate, ego_lon_jerk,
    ego_jerk), which `ego_is_comfortable` requires all to hold over the whole episode."""

    min_lon_accel: float = -4.05  # m/s^2
    max_lon_accel: float = 2.40  # m/s^2
    max_abs_lat_accel: float = 4.89  # m/s^2
    max_abs_yaw_accel: float = 1.93  # rad/s^2
    max_abs_yaw_rate: float = 0.95  # rad/s
    max_abs_lon_jerk: float = 4.13  # m/s^3
    max_abs_mag_jerk: float = 8.37  # m/s^3, derivative of the acceleration magnitude


# CARLA leaderboard 2.0 penalty per infraction event (multiplicative).
PENALTY_PEDESTRIAN_ANIMAL = 0.50
PENALTY_VEHICLE = 0.60
PENALTY_STATIC = 0.65
PENALTY_RED_LIGHT = 0.70
COLLISION_PENALTIES = (PENALTY_VEHICLE, PENALTY_PEDESTRIAN_ANIMAL, PENALTY_STATIC)  # COLLISION_TYPES order

# Comfort peaks kept per environment, in this column order; the sign says how each is compared.
_PEAKS = (
    "max_lon_accel",
    "min_lon_accel",
    "max_abs_lat_accel",
    "max_abs_yaw_accel",
    "max_abs_yaw_rate",
    "max_abs_lon_jerk",
    "max_abs_mag_jerk",
)
_DERIV_WINDOW = 7  # samples (0.7 s at 10 Hz); nuPlan uses a 15-sample window at 20 Hz
_K = torch.arange(_DERIV_WINDOW, dtype=torch.float32) - (_DERIV_WINDOW - 1) / 2
_SLOPE_WEIGHTS = _K / (_K**2).sum()  # least-squares slope per sample, centred window


def driving_score(
    route_completion, off_road_fraction_of_route, n_vehicle, n_pedestrian_animal, n_static, n_red_light
):
    """CARLA leaderboard 2.0 driving score in [0, 100]; floats or tensors of one shape.

    route_completion: fraction of the route driven (0..1); off_road_fraction_of_route: route
    metres driven off road / route length, subtracted from it; n_*: infraction event counts.
    """
    rc = route_completion - off_road_fraction_of_route
    rc = rc.clamp(0.0, 1.0) if isinstance(rc, torch.Tensor) else min(max(rc, 0.0), 1.0)
    penalty = (
        PENALTY_VEHICLE**n_vehicle
        * PENALTY_PEDESTRIAN_ANIMAL**n_pedestrian_animal
        * PENALTY_STATIC**n_static
        * PENALTY_RED_LIGHT**n_red_light
    )
    return 100.0 * rc * penalty


class MetricsAccumulator:
    """Per-episode metrics of B environments, accumulated on `device`.

    reset(mask, route_length) starts new episodes (also called by __init__ for all envs); the
    route length (m) is given there or to __init__, and results refuse envs that never got one;
    update(step, active) folds one step in for the envs where active is True; results come out
    with episode_result(i) / results(). Collisions and red-light runs count rising edges, so a
    contact lasting several steps with the same class of object is one event.
    """

    def __init__(
        self,
        batch_size: int,
        device: torch.device | str = "cpu",
        route_length: torch.Tensor | float | None = None,
        limits: ComfortLimits = ComfortLimits(),
        dt: float = DT,
    ):
        if batch_size <= 0:
            raise ValueError(f"batch_size must be positive, got {batch_size}")
        self.B, self.device, self.limits, self.dt = batch_size, torch.device(device), limits, dt
        B, dev = batch_size, self.device
        f32 = dict(device=dev, dtype=torch.float32)
        self.route_length = torch.full((B,), float("nan"), **f32)  # NaN: not given yet
        self.steps = torch.zeros(B, device=dev, dtype=torch.long)
        self.progress_m = torch.zeros(B, **f32)
        self.off_road_m = torch.zeros(B, **f32)  # route metres driven while off road
        self.off_road_steps = torch.zeros(B, device=dev, dtype=torch.long)
        self.collisions = torch.zeros(B, len(COLLISION_TYPES), device=dev, dtype=torch.long)
        self.prev_collision = torch.zeros(B, len(COLLISION_TYPES), device=dev, dtype=torch.bool)
        self.red_light_runs = torch.zeros(B, device=dev, dtype=torch.long)
        self.prev_red = torch.zeros(B, device=dev, dtype=torch.bool)
        self.min_ttc = torch.full((B,), float("inf"), **f32)
        self.peaks = torch.zeros(B, len(_PEAKS), **f32)  # see _PEAKS
        self.hist = torch.zeros(B, _DERIV_WINDOW, 3, **f32)  # accel_lon, |accel|, yaw_rate; oldest first
        self._w = _SLOPE_WEIGHTS.to(dev)
        self.reset(None, route_length)

    def reset(
        self, mask: torch.Tensor | None = None, route_length: torch.Tensor | float | None = None
    ) -> None:
        """Start new episodes where mask (B,) is True (all if None); route_length (B,) or scalar, m."""
        m = (
            torch.ones(self.B, dtype=torch.bool, device=self.device)
            if mask is None
            else mask.to(self.device).bool()
        )
        if m.shape != (self.B,):
            raise ValueError(f"reset mask has shape {tuple(m.shape)}, expected ({self.B},)")
        if route_length is not None:
            rl = torch.as_tensor(route_length, dtype=torch.float32, device=self.device).expand(self.B)
            if not (torch.isfinite(rl) & (rl > 0))[m].all():  # one sync per reset, not per step
                raise ValueError("route_length must be finite and > 0 m for every environment being reset")
            self.route_length = torch.where(m, rl, self.route_length)
        for name in (
            "steps",
            "progress_m",
            "off_road_m",
            "off_road_steps",
            "red_light_runs",
            "prev_red",
            "collisions",
            "prev_collision",
            "peaks",
            "hist",
        ):
            t = getattr(self, name)
            t.masked_fill_(m.view(-1, *([1] * (t.dim() - 1))), 0)
        self.min_ttc.masked_fill_(m, float("inf"))

    def update(self, step: StepInfractions, active: torch.Tensor | None = None) -> None:
        """Fold one step into the envs where active (B,) is True (finished episodes pass False)."""
        step.check(self.B, self.device)
        a = (
            torch.ones(self.B, dtype=torch.bool, device=self.device)
            if active is None
            else active.to(self.device).bool()
        )
        if a.shape != (self.B,):
            raise ValueError(f"active has shape {tuple(a.shape)}, expected ({self.B},)")
        af = a.float()
        self.steps += a.long()
        progress = step.progress.float()
        self.progress_m += af * progress
        off = step.off_road.bool() & a
        self.off_road_steps += off.long()
        self.off_road_m += off.float() * progress.clamp(min=0.0)

        hit = torch.stack(
            [step.collision_vehicle, step.collision_pedestrian_animal, step.collision_static], -1
        ).bool()
        hit = hit & a[:, None]  # (B, 3)
        self.collisions += (hit & ~self.prev_collision).long()
        self.prev_collision = torch.where(a[:, None], hit, self.prev_collision)
        red = step.red_light_run.bool() & a
        self.red_light_runs += (red & ~self.prev_red).long()
        self.prev_red = torch.where(a, red, self.prev_red)
        ttc = torch.where(a, step.ttc.float(), torch.full_like(self.min_ttc, float("inf")))
        self.min_ttc = torch.minimum(self.min_ttc, ttc)
        self._update_comfort(step, a)

    def _update_comfort(self, step: StepInfractions, a: torch.Tensor) -> None:
        lon, lat, yr = step.accel_lon.float(), step.accel_lat.float(), step.yaw_rate.float()
        sample = torch.stack([lon, torch.hypot(lon, lat), yr], -1)  # (B, 3)
        shifted = torch.cat([self.hist[:, 1:], sample[:, None]], 1)  # (B, W, 3)
        self.hist = torch.where(a[:, None, None], shifted, self.hist)
        # Slope of the last W samples, valid once the episode has W of them.
        slope = torch.einsum("bwc,w->bc", self.hist, self._w) / self.dt  # (B, 3) per second
        full = (self.steps >= _DERIV_WINDOW) & a
        jerk_lon = slope[:, 0] if step.jerk_lon is None else step.jerk_lon.float()
        jerk = slope[:, 1] if step.jerk is None else step.jerk.float()
        yaw_acc = slope[:, 2] if step.yaw_accel is None else step.yaw_accel.float()
        zero = torch.zeros_like(lon)

        def d_ok(x: torch.Tensor, given: bool) -> torch.Tensor:  # estimates need a full window
            return torch.where(a if given else full, x, zero)

        new = torch.stack(
            [
                torch.where(a, lon, zero),
                torch.where(a, lon, zero),
                torch.where(a, lat.abs(), zero),
                d_ok(yaw_acc.abs(), step.yaw_accel is not None),
                torch.where(a, yr.abs(), zero),
                d_ok(jerk_lon.abs(), step.jerk_lon is not None),
                d_ok(jerk.abs(), step.jerk is not None),
            ],
            -1,
        )  # (B, 7) in _PEAKS order
        lowest = torch.minimum(self.peaks[:, 1], new[:, 1])  # min_lon_accel is a minimum
        self.peaks = torch.maximum(self.peaks, new)
        self.peaks[:, 1] = lowest

    def episode_result(
        self, i: int, scenario: str = "", seed: int = 0, passed: bool = False
    ) -> EpisodeResult:
        """EpisodeResult of environment i (one host transfer)."""
        if not 0 <= i < self.B:
            raise IndexError(f"environment {i} out of range for batch of {self.B}")
        return self._results([i], [scenario], [seed], [passed])[0]

    def results(
        self,
        scenarios: list[str] | None = None,
        seeds: list[int] | None = None,
        passed: list[bool] | torch.Tensor | None = None,
    ) -> list[EpisodeResult]:
        """EpisodeResult of every environment, in order."""
        idx = list(range(self.B))
        passed_list = passed.tolist() if isinstance(passed, torch.Tensor) else passed
        for name, v in (("scenarios", scenarios), ("seeds", seeds), ("passed", passed_list)):
            if v is not None and len(v) != self.B:
                raise ValueError(f"{name} has {len(v)} entries, expected {self.B}")
        return self._results(
            idx,
            scenarios or [""] * self.B,
            seeds or [0] * self.B,
            passed_list if passed_list is not None else [False] * self.B,
        )

    def _results(self, idx, scenarios, seeds, passed) -> list[EpisodeResult]:
        rl = self.route_length.cpu()
        unset = [i for i in idx if math.isnan(float(rl[i]))]
        if unset:
            raise ValueError(f"route_length was never given for environments {unset[:10]} (pass it to reset)")
        finite = torch.isfinite(self.progress_m) & torch.isfinite(self.peaks).all(-1) & ~self.min_ttc.isnan()
        bad = [i for i in idx if not bool(finite[i])]
        if bad:
            raise ValueError(
                f"NaN or inf reached the metrics of environments {bad[:10]}: check the world's step values"
            )
        rc = (self.progress_m.cpu() / rl).clamp(0.0, 1.0)
        off_frac_route = self.off_road_m.cpu() / rl
        col, red = self.collisions.cpu(), self.red_light_runs.cpu()
        score = driving_score(rc, off_frac_route, col[:, 0], col[:, 1], col[:, 2], red)
        steps, off_steps = self.steps.cpu(), self.off_road_steps.cpu()
        peaks, min_ttc, progress, off_m = (
            self.peaks.cpu(),
            self.min_ttc.cpu(),
            self.progress_m.cpu(),
            self.off_road_m.cpu(),
        )
        out = []
        for k, i in enumerate(idx):
            violations = self._violations(peaks[i].tolist())
            out.append(
                EpisodeResult(
                    scenario=scenarios[k],
                    seed=int(seeds[k]),
                    passed=bool(passed[k]),
                    route_completion=float(rc[i]),
                    driving_score=float(score[i]),
                    collisions={name: int(col[i, c]) for c, name in enumerate(COLLISION_TYPES)},
                    off_road=bool(off_steps[i] > 0),
                    off_road_fraction=float(off_steps[i]) / max(int(steps[i]), 1),
                    off_road_m=float(off_m[i]),
                    red_light_runs=int(red[i]),
                    min_ttc=float(min_ttc[i]),
                    comfortable=not violations,
                    comfort_violations=violations,
                    progress_m=float(progress[i]),
                    steps=int(steps[i]),
                    route_length_m=float(rl[i]),
                )
            )
        return out

    def _violations(self, peak: list[float]) -> dict[str, float]:
        """{limit name: worst value seen} for every nuPlan comfort limit exceeded."""
        lim, v = self.limits, dict(zip(_PEAKS, peak))
        out = {}
        if v["max_lon_accel"] > lim.max_lon_accel:
            out["max_lon_accel"] = v["max_lon_accel"]
        if v["min_lon_accel"] < lim.min_lon_accel:
            out["min_lon_accel"] = v["min_lon_accel"]
        for name in _PEAKS[2:]:
            if v[name] > getattr(lim, name):
                out[name] = v[name]
        return out
