"""One place that turns a device name into a `torch.device` the whole stack agrees on.

`torch.device("cuda")` has no index, while every tensor created on it reports `cuda:0`: code that
compares devices (the metrics check that their inputs live where they do) must see the same
name on both sides, so the simulator and the renderer hold a device with its index.
"""

from __future__ import annotations

import torch


def as_device(device: torch.device | str) -> torch.device:
    """'auto' -> the current GPU when CUDA is available, else CPU; 'cuda' -> 'cuda:CURRENT'.
    Asking for CUDA on a machine without it raises ValueError with one line saying so."""
    if str(device) == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    dev = torch.device(device)
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise ValueError(
                f"device {str(device)!r} requested but no CUDA GPU is available (use --device cpu)"
            )
        if dev.index is None:
            dev = torch.device("cuda", torch.cuda.current_device())
    return dev
