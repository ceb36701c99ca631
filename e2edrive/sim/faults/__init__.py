"""Sensor and actuator faults injected between the renderer and the driver (closed loop).

    faults = parse_faults(["fog:2", "action_latency:1"])
    results = run_closed_loop(driver, pairs, faults=faults)

Every corruption is deterministic: a function of (scenario, seed, fault, severity) and the step,
computed on the batch's device (see base.py). `FAULTS` names them; `parse_fault` reads
`NAME:SEVERITY`, and `fault_grid("all")` expands to every fault at every severity (the
robustness grid). `FaultInjector` is what the closed-loop runner holds: it keeps the per-slot
episode keys and applies the faults in order.
"""

from __future__ import annotations

import torch

from e2edrive.core.env import Driver
from e2edrive.core.types import Observation
from e2edrive.sim.faults.base import SEVERITIES, Fault, FaultContext, ImageFault, episode_key
from e2edrive.sim.faults.camera import (
    CameraCrash,
    Fog,
    FrameLost,
    Frozen,
    Glare,
    LowLight,
    MotionBlur,
    Quantize,
    Rain,
)
from e2edrive.sim.faults.vehicle import ActionLatency, LatencyDriver, SpeedNoise

__all__ = [
    "CAMERA_FAULTS",
    "FAULTS",
    "SEVERITIES",
    "Fault",
    "FaultContext",
    "FaultInjector",
    "LatencyDriver",
    "episode_key",
    "fault_grid",
    "parse_fault",
    "parse_faults",
]

FAULTS: dict[str, type[Fault]] = {
    "camera_crash": CameraCrash,
    "frame_lost": FrameLost,
    "frozen": Frozen,
    "motion_blur": MotionBlur,
    "low_light": LowLight,
    "glare": Glare,
    "fog": Fog,
    "quantize": Quantize,
    "rain": Rain,
    "action_latency": ActionLatency,
    "speed_noise": SpeedNoise,
}
# The faults of the camera frames (the rest act on the car): what the health monitor must catch and
# what training-time fault augmentation (train.augment) draws from.
CAMERA_FAULTS = tuple(n for n, f in FAULTS.items() if issubclass(f, (ImageFault, CameraCrash)))


def parse_fault(spec: str) -> Fault:
    """'NAME:SEVERITY' (severity 1, 2 or 3) -> a Fault; ValueError naming the problem."""
    name, sep, sev = spec.strip().partition(":")
    if name not in FAULTS:
        raise ValueError(f"unknown fault {name!r}; faults: {', '.join(FAULTS)} (or 'all')")
    if not sep or not sev.strip().isdigit() or int(sev) not in SEVERITIES:
        raise ValueError(f"fault {spec!r}: write NAME:SEVERITY with severity 1, 2 or 3, e.g. {name}:2")
    return FAULTS[name](int(sev))


def fault_grid(spec: str = "all", severities: tuple[int, ...] = SEVERITIES) -> list[str]:
    """'all' -> every NAME:S over `severities`; 'all:2' -> every fault at 2; 'a,b' -> those faults
    at `severities`; 'NAME:S' -> itself. Checked: every returned spec parses."""
    bad = [s for s in severities if s not in SEVERITIES]
    if bad:
        raise ValueError(f"severities must be among 1, 2, 3, got {bad}")
    out: list[str] = []
    for part in spec.split(","):
        name, sep, sev = part.strip().partition(":")
        names = list(FAULTS) if name == "all" else [name]
        sevs = [sev] if sep else [str(s) for s in severities]
        out += [f"{n}:{s}" for n in names for s in sevs]
    for s in out:
        parse_fault(s)
    return out


def parse_faults(specs: list[str]) -> list[Fault]:
    """Faults applied together, in order; 'all' is a grid, not one condition: see fault_grid."""
    if any(s.strip().split(":")[0] == "all" for s in specs):
        raise ValueError("'all' names a grid of conditions, not faults applied together")
    return [parse_fault(s) for s in specs]


class FaultInjector:
    """Applies `faults` to the observation of B environment slots, each with its own episode."""

    def __init__(self, faults: list[Fault]):
        self.faults = list(faults)
        self._keys: dict[tuple, torch.Tensor] = {}

    @property
    def needs_depth(self) -> bool:
        return any(f.needs_depth for f in self.faults)

    def wrap(self, driver: Driver) -> Driver:
        """The driver with the actuator faults around it (a no-op without them)."""
        for f in self.faults:
            driver = f.wrap(driver)
        return driver

    def keys(self, fault: Fault, episodes: list[tuple[str, int] | None], device) -> torch.Tensor:
        """(B,) int64 episode keys; cached, since the slots' episodes change only at resets."""
        ck = (fault.label, tuple(episodes), str(device))
        if ck not in self._keys:
            if len(self._keys) > 256:
                self._keys.clear()
            ks = [-1 if e is None else episode_key(e[0], e[1], fault.name, fault.severity) for e in episodes]
            # An idle slot (-1) still gets a valid residue: its frames are never scored.
            self._keys[ck] = torch.tensor([k % (2**31 - 1) for k in ks], dtype=torch.int64, device=device)
        return self._keys[ck]

    def apply(
        self,
        obs: Observation,
        episodes: list[tuple[str, int] | None],
        step: torch.Tensor,
        depth: torch.Tensor | None = None,
    ) -> Observation:
        """episodes[b]: (scenario, seed) of slot b or None; step (B,) long; depth (B, N, H, W)."""
        for f in self.faults:
            ctx = FaultContext(self.keys(f, episodes, obs.speed.device), step.long(), depth)
            obs = f.apply(obs, ctx)
        return obs
