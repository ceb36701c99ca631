"""Parameters and GFLOPs of one streaming `act` step, per model preset and baseline.

FLOPs are counted by `torch.utils.flop_counter.FlopCounterMode`: 2 per multiply-add, for the ops it
knows (convolutions, matmuls, attention, their batched forms). Elementwise ops, normalisation,
interpolation and grid sampling are not counted, so the figure is a lower bound dominated, as in
any CNN/transformer, by convolutions and matmuls. It is the compute of one step at batch 1 in
steady state (after the first frame), with the rig the model was built for.

    python -m e2edrive.model.flops            # table for tiny, base, large, dave2, ego_mlp
"""

from __future__ import annotations

import sys
from dataclasses import dataclass

import torch
from torch.utils.flop_counter import FlopCounterMode

from e2edrive.core.rig import CameraRig, make_rig
from e2edrive.model.base import DrivingPolicy
from e2edrive.model.dave2 import Dave2
from e2edrive.model.ego_mlp import EgoMLP

BASELINES = {"dave2": Dave2, "ego_mlp": EgoMLP}
DEFAULT_NAMES = ("tiny", "base", "large", "dave2", "ego_mlp")


@dataclass
class ActCost:
    """Size and compute of one model."""

    name: str
    params: int
    """trainable and frozen parameters"""
    gflops: float
    """GFLOPs of one act step at batch 1 (2 per multiply-add, convs and matmuls)"""


def build_policy(name: str, rig: CameraRig | None = None) -> tuple[DrivingPolicy, CameraRig]:
    """A freshly initialised policy by name: a DrivingModel preset (tiny, base, large) or a baseline
    (dave2, ego_mlp). Returns the policy and the rig it expects."""
    if name in BASELINES:
        return BASELINES[name](), rig or make_rig()
    from e2edrive.model.config import PRESETS, make_config  # the full network, imported on demand

    if name not in PRESETS:
        raise KeyError(f"unknown model {name!r}; known: {sorted(PRESETS) + sorted(BASELINES)}")
    from e2edrive.model.driving_model import DrivingModel

    cfg = make_config(name, rig=rig)
    return DrivingModel(cfg), cfg.rig


def count_params(policy: torch.nn.Module) -> int:
    return sum(p.numel() for p in policy.parameters())


def act_flops(policy: DrivingPolicy, rig: CameraRig, batch: int = 1) -> int:
    """FLOPs of one act step in steady state: a first step (episode start) runs uncounted, so a
    model that does extra work at an episode start is measured on the ordinary step."""
    from e2edrive.model.export import example_observation

    device = next(policy.parameters()).device
    policy = policy.eval()
    obs = example_observation(rig, batch, seed=0, device=device)
    obs.first = torch.ones_like(obs.first)
    # FlopCounterMode's module tracker fails on parameters that require grad under no_grad (views
    # of a parameter fed to a submodule), so gradients are switched off on the parameters instead.
    needs_grad = [p for p in policy.parameters() if p.requires_grad]
    for p in needs_grad:
        p.requires_grad_(False)
    try:
        _, state, _ = policy.act(obs, policy.init_state(batch, device))
        obs = example_observation(rig, batch, seed=1, device=device)
        counter = FlopCounterMode(display=False)
        with counter:
            policy.act(obs, state)
    finally:
        for p in needs_grad:
            p.requires_grad_(True)
    return int(counter.get_total_flops())


def act_cost(name: str, rig: CameraRig | None = None) -> ActCost:
    policy, rig = build_policy(name, rig)
    return ActCost(name, count_params(policy), act_flops(policy, rig) / 1e9)


def main(argv: list[str] | None = None) -> int:
    torch.set_num_threads(1)
    names = (argv if argv is not None else sys.argv[1:]) or DEFAULT_NAMES
    print("| model | params (M) | GFLOPs / act step |\n|---|---:|---:|")
    for name in names:
        c = act_cost(name)
        print(f"| {c.name} | {c.params / 1e6:.3f} | {c.gflops:.3f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
