"""`e2edrive export --checkpoint DIR --onnx OUT.onnx`: the streaming step `act` of a checkpoint as an
ONNX graph (dynamo exporter), checked against PyTorch with ONNX Runtime before it is reported done.

The graph's inputs and outputs are listed in e2edrive/model/export.py. A network whose config
carries a rig (the full DrivingModel) is exported for that rig; the baselines, which take any rig
with their camera, are exported for the default 8-camera rig.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

import tyro


@dataclass
class ExportArgs:
    checkpoint: Path
    """checkpoint directory (model.safetensors + config.json), as written by `train`"""
    onnx: Path
    """output ONNX file"""
    check: bool = True
    """run the graph in ONNX Runtime on random inputs and fail if it differs from PyTorch"""
    atol: float = 1e-4
    """largest |torch - onnxruntime| accepted by the check, over every output"""


def main(argv: list[str] | None = None) -> int:
    args = tyro.cli(ExportArgs, args=argv, prog="e2edrive export")
    import torch  # after parsing: --help stays fast

    torch.set_num_threads(min(2, torch.get_num_threads()))
    from e2edrive.core.rig import make_rig
    from e2edrive.model.checkpoint import load_checkpoint
    from e2edrive.model.export import OBS_INPUTS, OUTPUTS, export_onnx, onnx_parity

    try:
        policy = load_checkpoint(args.checkpoint)
    except (FileNotFoundError, KeyError, ValueError) as e:
        print(f"e2edrive export: cannot load {args.checkpoint}: {e}", file=sys.stderr)
        return 1
    rig = getattr(policy.config, "rig", None) or make_rig()
    if args.onnx.suffix != ".onnx":
        print(f"e2edrive export: --onnx must name a .onnx file, got {args.onnx}", file=sys.stderr)
        return 2
    path = export_onnx(policy, rig, args.onnx)
    print(f"exported {policy.name} act step to {path} ({path.stat().st_size / 1e6:.1f} MB)")
    print(f"  inputs:  {', '.join(OBS_INPUTS)}, state_* ; outputs: {', '.join(OUTPUTS)}, new_state_*")
    if args.check:
        err = onnx_parity(policy, rig, path)
        verdict = "ok" if err <= args.atol else "FAILED"
        print(f"  onnxruntime vs torch: max abs difference {err:.2e} (atol {args.atol:g}) {verdict}")
        if err > args.atol:
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
