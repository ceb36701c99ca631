"""`TrainConfig`: every knob of an imitation-training run, one docstring per field (parsed by tyro).

The config is stored in the run's checkpoint; `--resume` refuses a run whose stored config differs
in a field that changes the optimisation (model, preset, batch size, ...), because a "resume" that
silently trains something else is worse than an error.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import ClassVar


@dataclass
class TrainConfig:
    # Fields added after runs were stored, with the value that trains what those runs trained: a
    # checkpoint without one resumes as if it had stored that value (config_mismatch).
    ADDED_FIELDS: ClassVar[dict] = {"fault_aug": 0.0, "camera_dropout": 0.0, "balance_reasons": 0.0}

    data: str = ""
    """dataset directory written by `e2edrive collect` (or `synthetic:N` for N synthetic clips, for
    smoke tests and benchmarks); may be left out with --manifest, which names its dataset"""
    manifest: str | None = None
    """clip manifest (`e2edrive mine --out`, `e2edrive curate --out`): train on its clips' frames
    only; --data, if given, says where the manifest's dataset is now (its hashes must match)"""
    out: str = "runs/train"
    """run directory: checkpoint/, train_log.jsonl, tensorboard/"""
    model: str = "driving"
    """network from model.registry.MODELS: driving | dave2 | ego_mlp"""
    preset: str = "tiny"
    """preset of the driving network (model.config.PRESETS); ignored by the baselines"""
    epochs: int = 10
    """passes over the training set"""
    batch_size: int = 16
    """clips per optimisation step, per process (the global batch is batch_size x world size)"""
    lr: float = 1e-3
    """AdamW peak learning rate (cosine decay to lr/10 after a linear warm-up)"""
    warmup_steps: int = 50
    """linear learning-rate warm-up steps"""
    weight_decay: float = 0.01
    """AdamW decoupled weight decay"""
    grad_clip: float = 1.0
    """clip the global gradient norm to this value (0 disables)"""
    history: int = 2
    """frames per clip (T): the labelled frame and T-1 past frames for temporal fusion"""
    val_data: str | None = None
    """held-out dataset for open-loop validation after each epoch"""
    resume: bool = False
    """continue the run in --out exactly where its last checkpoint left it"""
    seed: int = 0
    """seed of initialisation, shuffling and dropout"""
    fault_aug: float = 0.0
    """probability that a training clip gets a camera fault of sim.faults (random fault and severity,
    train.augment); 0: off, the default until it is shown not to cost clean driving score"""
    camera_dropout: float = 0.0
    """probability that each camera of a training clip is masked invalid for the whole clip (a
    failed camera, train.augment); 0: off"""
    balance_reasons: float = 0.0
    """draw training samples with probability proportional to count(expert reason) ** -P
    (data.balance): 0 uniform (a seeded permutation per epoch), 0.5 the square root of each
    decision's count, 1 every decision equally often. An epoch is still len(dataset) samples,
    drawn with replacement. 0.5 cost driving in its one paired test (BENCHMARKS.md, session 10)"""
    num_workers: int = 0
    """DataLoader worker processes (0 reads in the training process)"""
    device: str = "auto"
    """cpu | cuda | cuda:N | auto (cuda when available; under torchrun each rank takes its local GPU)"""
    amp: bool = True
    """bfloat16 autocast on CUDA; ignored on CPU, where it is slower and changes the numerics"""
    threads: int = 0
    """torch intra-op threads per process (0: the cores divided by the processes on this node)"""
    checkpoint_every: int = 200
    """steps between checkpoints (one is also written at the end of every epoch)"""
    max_steps: int = 0
    """stop after this many optimisation steps in total (0: run all epochs)"""
    time_limit_min: float = 0.0
    """train for about this many minutes (0: no limit): after a few steps the measured speed sets the
    number of steps, so the learning rate still anneals; for fixed-budget runs like the quickstart
    (a time-limited run is not reproducible step for step)"""
    log_every: int = 10
    """steps between log lines in train_log.jsonl and TensorBoard"""
    tensorboard: bool = False
    """also write TensorBoard event files to OUT/tensorboard (needs the tensorboard package)"""
    progress: bool = True
    """show a tqdm progress bar (rank 0 only)"""


# Fields that may change between a run and its resume without changing what is optimised.
RESUMABLE_FIELDS = frozenset(
    {
        "out",
        "resume",
        "num_workers",
        "device",
        "threads",
        "checkpoint_every",
        "log_every",
        "tensorboard",
        "progress",
        "val_data",
        "epochs",
        "max_steps",
        "time_limit_min",
        "data",
    }
)


def config_mismatch(stored: dict, cfg: TrainConfig) -> list[str]:
    """Fields whose stored value differs from cfg, among those that change the optimisation."""
    now = dataclasses.asdict(cfg)
    was = {k: stored.get(k, TrainConfig.ADDED_FIELDS.get(k)) for k in now}
    return [
        f"{k}: checkpoint has {was[k]!r}, now {now[k]!r}"
        for k in now
        if k not in RESUMABLE_FIELDS and was[k] != now[k]
    ]
