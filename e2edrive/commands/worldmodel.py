"""`e2edrive worldmodel train|eval`: train the action-conditioned 8-camera world model, and measure
its fidelity against held-out recordings.

    e2edrive worldmodel train --data runs/data --out runs/wm [--resume] [--steps N]
    e2edrive worldmodel eval --worldmodel runs/wm --data runs/heldout [--json]

`train` runs the tokenizer phase, then the dynamics phase (worldmodel.train); `--steps N` sets
both phases to N steps. `eval` prints PSNR, depth abs-rel and semantic mIoU per camera at 0.5, 1
and 2 s of open-loop dreaming, beside the repeat-last-frame baseline and the tokenizer's ceiling
(worldmodel.evaluate).
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass

import tyro

USAGE = "usage: e2edrive worldmodel {train,eval} [options]   (e2edrive worldmodel SUBCOMMAND --help)"


@dataclass
class TrainArgs:
    """Train a world model on a recorded dataset."""

    data: str
    """dataset directory (e2edrive collect)"""
    out: str
    """output directory of the world model (OUT/checkpoint)"""
    resume: bool = False
    """continue OUT's checkpoint"""
    steps: int | None = None
    """steps of each phase (tokenizer, dynamics); default: the trainer's"""
    preset: str = "tiny"
    """world model preset: tiny (2 CPU cores) or base (GPU)"""
    batch_size: int = 4
    """windows per step"""
    device: str = "cpu"
    """torch device"""
    threads: int = 2
    """torch CPU threads"""


@dataclass
class EvalArgs:
    """Fidelity of a world model against held-out recordings, by horizon and camera."""

    worldmodel: str
    """world model directory (OUT of `worldmodel train`, or its checkpoint/)"""
    data: str
    """held-out dataset directory"""
    json: bool = False
    """print one JSON object instead of the table"""
    max_windows: int = 64
    """evaluate at most this many windows"""
    device: str = "cpu"
    """torch device"""
    threads: int = 2
    """torch CPU threads"""


def _train(argv: list[str]) -> int:
    import torch

    from e2edrive.worldmodel.train import WorldModelTrainConfig, train_worldmodel

    args = tyro.cli(TrainArgs, args=argv, prog="e2edrive worldmodel train", description=TrainArgs.__doc__)
    torch.set_num_threads(args.threads)
    cfg = WorldModelTrainConfig(
        data=args.data,
        out=args.out,
        preset=args.preset,
        resume=args.resume,
        batch_size=args.batch_size,
        device=args.device,
    )
    if args.steps is not None:
        if args.steps < 0:
            raise ValueError(f"--steps must be >= 0, got {args.steps}")
        cfg.tokenizer_steps = cfg.dynamics_steps = args.steps
    train_worldmodel(cfg)
    print(
        f"trained the world model ({cfg.tokenizer_steps} tokenizer + {cfg.dynamics_steps} dynamics steps); "
        f"checkpoint in {cfg.out}/checkpoint"
    )
    return 0


def _eval(argv: list[str]) -> int:
    import torch

    from e2edrive.worldmodel.evaluate import evaluate_fidelity, format_fidelity
    from e2edrive.worldmodel.model import load_worldmodel

    args = tyro.cli(EvalArgs, args=argv, prog="e2edrive worldmodel eval", description=EvalArgs.__doc__)
    torch.set_num_threads(args.threads)
    model = load_worldmodel(args.worldmodel, map_location=args.device)
    result = evaluate_fidelity(model, args.data, max_windows=args.max_windows)
    print(json.dumps(result, allow_nan=False) if args.json else format_fidelity(result))
    return 0


SUBCOMMANDS = {"train": _train, "eval": _eval}


def main(argv: list[str]) -> int:
    if not argv:
        print(USAGE, file=sys.stderr)
        return 2
    if argv[0] in ("-h", "--help"):
        print(f"{USAGE}\n\n{__doc__}")
        return 0
    from e2edrive.data.format import CorruptShardError, DatasetFormatError  # loads torch: not for --help

    if argv[0] not in SUBCOMMANDS:
        print(f"e2edrive worldmodel: unknown subcommand {argv[0]!r}\n{USAGE}", file=sys.stderr)
        return 2
    try:
        return SUBCOMMANDS[argv[0]](argv[1:])
    except (
        FileNotFoundError,
        FileExistsError,
        ValueError,
        KeyError,
        DatasetFormatError,
        CorruptShardError,
    ) as e:
        print(f"e2edrive worldmodel {argv[0]}: error: {e.args[0] if e.args else e}", file=sys.stderr)
        return 2
