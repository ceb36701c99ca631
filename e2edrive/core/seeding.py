"""Seeding: every episode is a pure function of (scenario, seed)."""

from __future__ import annotations

import hashlib
import random

import numpy as np
import torch


def episode_seed(scenario: str, seed: int) -> int:
    """A 63-bit seed from (scenario, seed), stable across processes and Python versions (no hash())."""
    digest = hashlib.blake2b(f"{scenario}:{seed}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little") & ((1 << 63) - 1)


def episode_rng(scenario: str, seed: int) -> np.random.Generator:
    """The random generator that draws every parameter of one episode, on the host."""
    return np.random.default_rng(episode_seed(scenario, seed))


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and torch (all devices) for a training run."""
    random.seed(seed)
    np.random.seed(seed % (1 << 32))
    torch.manual_seed(seed)


def parse_seed_range(text: str) -> range:
    """'A:B' -> range(A, B); 'A' -> range(A, A + 1). Errors say what was expected."""
    try:
        if ":" in text:
            a, b = text.split(":", 1)
            r = range(int(a), int(b))
        else:
            r = range(int(text), int(text) + 1)
    except ValueError:
        raise ValueError(f"seeds must be 'A:B' or 'A' with integers, got {text!r}") from None
    if len(r) == 0:
        raise ValueError(f"empty seed range {text!r}: need A < B")
    if r.start < 0:
        raise ValueError(f"seeds must be non-negative, got {text!r}")
    return r
