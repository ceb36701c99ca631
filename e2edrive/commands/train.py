"""`e2edrive train --data DIR --out RUN [--resume] ...`: imitation training (one process or torchrun).

e2edrive train --data runs/data --preset tiny --out runs/tiny
e2edrive train --manifest runs/cut_in.json --out runs/cut_in   (the frames of mined clips only)
torchrun --standalone --nproc_per_node=2 -m e2edrive.cli train --data runs/data --out runs/tiny
e2edrive train --resume --out runs/tiny   (the run's saved config: no need to repeat --data)
"""

from __future__ import annotations

import dataclasses
import json
import os
import sys
from pathlib import Path

import tyro

from e2edrive.train.config import TrainConfig


def saved_config(cfg: TrainConfig) -> TrainConfig:
    """--resume without --data or --manifest: the run's stored TrainConfig, with every field given
    on this command line (any value other than the default) taking precedence."""
    path = Path(cfg.out) / "checkpoint" / "config.json"
    if not path.is_file():
        raise FileNotFoundError(
            f"--resume: no checkpoint in {cfg.out} to resume from (give --data for a new run)"
        )
    stored = json.loads(path.read_text()).get("extra", {}).get("train_config")
    if not isinstance(stored, dict):
        raise ValueError(f"{path} holds no training config; give --data DIR")
    defaults = dataclasses.asdict(TrainConfig(data=""))
    names = {f.name for f in dataclasses.fields(TrainConfig)}
    given = {k: v for k, v in dataclasses.asdict(cfg).items() if v != defaults[k]}
    return TrainConfig(**{**{k: v for k, v in stored.items() if k in names}, **given, "resume": True})


def main(argv: list[str]) -> int:
    cfg = tyro.cli(TrainConfig, args=argv, prog="e2edrive train", description=__doc__)
    from e2edrive.data.format import CorruptShardError, DatasetFormatError
    from e2edrive.train.data import open_training_data
    from e2edrive.train.loop import train

    try:
        if cfg.resume and not cfg.data and cfg.manifest is None:
            cfg = saved_config(cfg)
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
