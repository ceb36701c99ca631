"""`e2edrive train --data DIR --out RUN [--resume] ...`: imitation training (one process or torchrun).

e2edrive train --data runs/data --preset tiny --out runs/tiny
e2edrive train --manifest runs/cut_in.json --out runs/cut_in   (the frames of mined clips only)
torchrun --standalone --nproc_per_node=2 -m e2edrive.cli train --data runs/data --out runs/tiny
"""

from __future__ import annotations

import os
import sys

import tyro

from e2edrive.train.config import TrainConfig


def main(argv: list[str]) -> int:
    cfg = tyro.cli(TrainConfig, args=argv, prog="e2edrive train", description=__doc__)
    from e2edrive.data.format import CorruptShardError, DatasetFormatError
    from e2edrive.train.data import open_training_data
    from e2edrive.train.loop import train

    try:
        dataset = open_training_data(cfg) if cfg.manifest is not None or not cfg.data else None
        if dataset is not None and not cfg.data:
            cfg.data = str(dataset.root)  # what the checkpoint's config and the error messages name
        state = train(cfg, dataset=dataset)
    except (
        FileNotFoundError,
        FileExistsError,
        ValueError,
        KeyError,
        DatasetFormatError,
        CorruptShardError,
    ) as e:
        print(f"e2edrive train: error: {e}", file=sys.stderr)
        return 2
    if os.environ.get("RANK", "0") == "0":
        print(f"trained {state.step} steps ({state.epoch} epochs); checkpoint in {cfg.out}/checkpoint")
    return 0
