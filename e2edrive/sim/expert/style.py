"""Driving style of the expert, drawn per episode, and counter-based noise.

A style (desired-speed factor, time headway, reaction lag, steering noise) varies the recorded
data the way different careful drivers would. Noise comes from a hash of (episode seed, step,
stream): it is a pure function of the episode and the time, so an episode's trajectory does not
depend on which other environments share the batch or on the device's RNG state.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from e2edrive.core.seeding import episode_rng, episode_seed

_MASK63 = (1 << 63) - 1


@dataclass
class DrivingStyle:
    """(B,) tensors.

    speed_factor: fraction of the speed limit the driver cruises at
    headway:      s, desired time gap to the car ahead (IDM T)
    reaction:     s, time constant of the driver's acceleration response (first-order lag)
    steer_noise:  rad, standard deviation of the driver's steering noise
    """

    speed_factor: torch.Tensor
    headway: torch.Tensor
    reaction: torch.Tensor
    steer_noise: torch.Tensor

    @staticmethod
    def sample(scenarios: list[str], seeds: list[int], device) -> DrivingStyle:
        """One style per (scenario, seed), from its own RNG stream ("style")."""
        rows = []
        for name, seed in zip(scenarios, seeds):
            rng = episode_rng(f"{name}/style", seed)
            rows.append(
                (
                    rng.uniform(0.85, 1.0),
                    rng.uniform(1.3, 1.9),
                    rng.uniform(0.05, 0.25),
                    rng.uniform(0.0, 0.004),
                )
            )
        t = torch.tensor(rows, dtype=torch.float32, device=device)
        return DrivingStyle(
            t[:, 0].contiguous(), t[:, 1].contiguous(), t[:, 2].contiguous(), t[:, 3].contiguous()
        )


def episode_keys(scenarios: list[str], seeds: list[int], device) -> torch.Tensor:
    """(B,) int64 keys of the episodes, for hash_noise."""
    return torch.tensor(
        [episode_seed(n, s) & _MASK63 for n, s in zip(scenarios, seeds)], dtype=torch.long, device=device
    )


def _mix(x: torch.Tensor) -> torch.Tensor:
    """splitmix64 finaliser on int64 (wrapping multiplication is two's complement in torch)."""
    x = x ^ ((x >> 30) & ((1 << 34) - 1))
    x = x * -4658895280553007687  # 0xbf58476d1ce4e5b9 as signed int64
    x = x ^ ((x >> 27) & ((1 << 37) - 1))
    x = x * -7723592293110705685  # 0x94d049bb133111eb
    return x ^ ((x >> 31) & ((1 << 33) - 1))


def hash_uniform(keys: torch.Tensor, step: torch.Tensor, stream: int) -> torch.Tensor:
    """(B,) uniform in (0, 1) from (episode key, step, stream)."""
    x = _mix(keys ^ _mix(step.long() * 1000003 + stream))
    return (((x >> 40) & ((1 << 23) - 1)).float() + 0.5) / float(1 << 23)


def hash_normal(keys: torch.Tensor, step: torch.Tensor, stream: int) -> torch.Tensor:
    """(B,) standard normal (Box-Muller) from (episode key, step, stream)."""
    u1 = hash_uniform(keys, step, 2 * stream)
    u2 = hash_uniform(keys, step, 2 * stream + 1)
    return torch.sqrt(-2.0 * torch.log(u1)) * torch.cos(2 * math.pi * u2)
