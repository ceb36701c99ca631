"""What every fault shares: the per-episode key, a counter-based random stream, and the base class.

A fault is a pure function of (scenario, seed, fault, severity) and the step: the randomness comes
from an integer hash evaluated on the device, never from a global generator, so the same episode
sees the same corruption bit for bit on any device, in any batch composition, with any number of
other faults beside it. Stateful faults (a frozen camera) keep only what the step index lets them
rebuild: state resets by itself when an environment's step counter goes back to 0.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass

import torch

from e2edrive.core.env import Driver
from e2edrive.core.types import Observation

SEVERITIES = (1, 2, 3)
_P = 2**31 - 1  # Mersenne prime: products of two residues fit in int64, no overflow on any device


def episode_key(scenario: str, seed: int, fault: str, severity: int) -> int:
    """A 31-bit integer naming one corrupted episode (stable across runs: crc32, not hash())."""
    return zlib.crc32(f"{scenario}|{seed}|{fault}|{severity}".encode()) % _P


def _mix(x: torch.Tensor) -> torch.Tensor:
    """int64 residues in [0, P) -> scrambled residues in [0, P); two Lehmer rounds and xor-shifts."""
    x = (x * 48271) % _P
    x = x ^ (x >> 13)
    x = (x * 69621 + 12345) % _P
    x = x ^ (x >> 11)
    return (x * 48271 + 1) % _P


def uniform(key: torch.Tensor, step: torch.Tensor, salt: int, shape: tuple[int, ...]) -> torch.Tensor:
    """(B, *shape) float32 in [0, 1): element i of episode key[b] at step[b], stream `salt`.

    key, step: (B,) int64. The value depends on (key, step, salt, i) only."""
    h = _mix((key * 1_000_003 + salt * 7919) % _P)  # (B,)
    h = _mix((h + step) % _P)
    n = 1
    for s in shape:
        n *= s
    idx = torch.arange(n, device=key.device, dtype=torch.int64)
    v = _mix((h[:, None] + _mix(idx)[None]) % _P)  # (B, n)
    return (v.float() / _P).view(key.shape[0], *shape)


def normal(key: torch.Tensor, step: torch.Tensor, salt: int, shape: tuple[int, ...]) -> torch.Tensor:
    """(B, *shape) standard normal (Box-Muller on two uniform streams)."""
    u1 = uniform(key, step, 2 * salt, shape).clamp(min=1e-7)
    u2 = uniform(key, step, 2 * salt + 1, shape)
    return torch.sqrt(-2 * torch.log(u1)) * torch.cos(2 * torch.pi * u2)


def pick_cameras(key: torch.Tensor, n_cam: int, k: int, salt: int) -> torch.Tensor:
    """(B, n_cam) bool: k cameras per episode, drawn from the key (the same for every step)."""
    score = uniform(key, torch.zeros_like(key), salt, (n_cam,))  # (B, N)
    rank = score.argsort(1).argsort(1)
    return rank < k


@dataclass
class FaultContext:
    """Where the batch stands when a fault is applied.

    key:   (B,) int64 episode_key of each environment's episode (-1 where the slot is idle)
    step:  (B,) int64 control steps since the episode started (0 on its first observation)
    depth: (B, N_cam, H, W) float32 metres of the rendered frame, or None (no renderer)
    """

    key: torch.Tensor
    step: torch.Tensor
    depth: torch.Tensor | None = None


class Fault:
    """One corruption at one severity. Observation faults override `apply`; actuator faults
    override `wrap` (they sit between the driver and the car, not between the camera and it)."""

    name = "fault"
    needs_depth = False

    def __init__(self, severity: int):
        if severity not in SEVERITIES:
            raise ValueError(f"fault {self.name}: severity must be 1, 2 or 3, got {severity}")
        self.severity = severity

    @property
    def label(self) -> str:
        return f"{self.name}:{self.severity}"

    def apply(self, obs: Observation, ctx: FaultContext) -> Observation:
        return obs

    def wrap(self, driver: Driver) -> Driver:
        return driver

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.severity})"


class ImageFault(Fault):
    """A fault of the camera frames: `corrupt` maps (B, N, 3, H, W) float 0..255 to the same."""

    def apply(self, obs: Observation, ctx: FaultContext) -> Observation:
        from dataclasses import replace

        if obs.images.shape[1] == 0:  # a state-only driver: no frames to corrupt
            return obs
        out = self.corrupt(obs.images.float(), obs, ctx)
        return replace(obs, images=out.round().clamp(0, 255).to(torch.uint8))

    def corrupt(self, img: torch.Tensor, obs: Observation, ctx: FaultContext) -> torch.Tensor:
        raise NotImplementedError
