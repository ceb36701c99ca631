"""Trainer checkpoints: everything needed to continue a run bit for bit.

A run directory holds `checkpoint/` with
  - the model, in model/checkpoint.py's format (safetensors + JSON config), loadable on its own
    by `eval` and `export`;
  - `trainer_state.pt`: optimizer state, step, epoch and position inside the epoch's sampler
    order, the RNG states of python/numpy/torch (CPU and CUDA) of every rank, the TrainConfig and
    the (scenario, seed) set the model was trained on (evaluation refuses to test on it).

Atomicity: the whole directory is written under a temporary name (every file fsynced), then
swapped in by rename, so a kill at any instant leaves either the previous checkpoint or the new
one, never a mix of new weights with old optimizer state.
"""

from __future__ import annotations

import os
import random
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

STATE_FILE = "trainer_state.pt"
STATE_VERSION = 1
CHECKPOINT_DIR = "checkpoint"


@dataclass
class TrainerState:
    """Where a run stands. `batch_in_epoch` counts the batches of `epoch` already trained on."""

    step: int = 0
    epoch: int = 0
    batch_in_epoch: int = 0
    optimizer: dict = field(default_factory=dict)
    rng: list[dict] = field(default_factory=list)  # one per rank
    config: dict = field(default_factory=dict)
    train_seeds: dict[str, list[list[int]]] = field(default_factory=dict)  # scenario -> [[a, b), ...]
    history: list[dict] = field(default_factory=list)  # per-epoch validation metrics


def capture_rng() -> dict[str, Any]:
    """The RNG states that decide shuffling, dropout, augmentation and noise in this process."""
    state = {
        "python": random.getstate(),
        "numpy": np.random.get_state(),
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def restore_rng(state: dict[str, Any]) -> None:
    random.setstate(state["python"])
    np.random.set_state(state["numpy"])
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def _fsync_file(path: Path) -> None:
    with open(path, "rb+") as f:
        f.flush()
        os.fsync(f.fileno())


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


PROBE_WEIGHTS = "probe.safetensors"


def _registered(model: torch.nn.Module) -> bool:
    """False only for the trainer's test double (train/synthetic.py ProbePolicy)."""
    return getattr(model, "name", None) != "probe"


def save_model(model: torch.nn.Module, directory: Path, extra: dict | None = None) -> None:
    """Write the model in model/checkpoint.py's format (the one eval and export read), with `extra`
    in its config.json. The trainer's test double (not a registered network) is saved as bare
    safetensors weights instead."""
    if _registered(model):
        from e2edrive.model.checkpoint import save_checkpoint

        save_checkpoint(model, directory, extra=extra)
    else:
        from safetensors.torch import save_file

        save_file(
            {k: v.contiguous() for k, v in model.state_dict().items()}, str(Path(directory) / PROBE_WEIGHTS)
        )


def load_model_weights(model: torch.nn.Module, directory: Path) -> None:
    """Load the weights of a checkpoint directory into an already built model (exact copy)."""
    if _registered(model):
        from e2edrive.model.checkpoint import load_checkpoint

        state = load_checkpoint(directory, expect_model=model.name).state_dict()
    else:
        from safetensors.torch import load_file

        state = load_file(str(Path(directory) / PROBE_WEIGHTS))
    model.load_state_dict(state, strict=True)


def save_run_checkpoint(run_dir: str | Path, model: torch.nn.Module, state: TrainerState) -> Path:
    """Atomically replace RUN/checkpoint with the model and trainer state. Returns its path."""
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    final = run_dir / CHECKPOINT_DIR
    tmp = run_dir / f".{CHECKPOINT_DIR}.tmp-{os.getpid()}"
    old = run_dir / f".{CHECKPOINT_DIR}.old"
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir()
    # eval reads the training seed set from config.json alone, without unpickling trainer state
    save_model(
        model,
        tmp,
        extra={
            "step": state.step,
            "epoch": state.epoch,
            "train_seeds": state.train_seeds,
            "train_config": state.config,
        },
    )
    payload = {"version": STATE_VERSION, **state.__dict__}
    torch.save(payload, tmp / STATE_FILE)
    for p in tmp.rglob("*"):
        if p.is_file():
            _fsync_file(p)
    _fsync_dir(tmp)
    if final.exists():
        if old.exists():
            shutil.rmtree(old)
        os.replace(final, old)
    os.replace(tmp, final)
    _fsync_dir(run_dir)
    if old.exists():
        shutil.rmtree(old)
    return final


def find_checkpoint(run_dir: str | Path) -> Path | None:
    """RUN/checkpoint, or the previous one if a kill fell between the two renames of a swap."""
    run_dir = Path(run_dir)
    for name in (CHECKPOINT_DIR, f".{CHECKPOINT_DIR}.old"):
        if (run_dir / name / STATE_FILE).is_file():
            return run_dir / name
    return None


def load_trainer_state(checkpoint_dir: str | Path) -> TrainerState:
    path = Path(checkpoint_dir) / STATE_FILE
    if not path.is_file():
        raise FileNotFoundError(f"no trainer state at {path}: not a training checkpoint")
    try:
        # weights_only=False: the state holds numpy RNG tuples; the file is our own run's output.
        payload = torch.load(path, map_location="cpu", weights_only=False)
    except Exception as e:  # noqa: BLE001 - any unpickling failure means the same thing here
        raise ValueError(f"trainer state {path} is corrupt or unreadable: {e}") from e
    version = payload.pop("version", None)
    if version != STATE_VERSION:
        raise ValueError(f"trainer state {path} has version {version}, this code reads {STATE_VERSION}")
    return TrainerState(**payload)


# --- training seed sets, stored compactly as ranges per scenario ---------------------------------


def seeds_to_ranges(pairs: list[tuple[str, int]]) -> dict[str, list[list[int]]]:
    """[(scenario, seed), ...] -> {scenario: [[a, b), ...]} with merged consecutive seeds."""
    by_scenario: dict[str, list[int]] = {}
    for scenario, seed in pairs:
        by_scenario.setdefault(scenario, []).append(int(seed))
    out: dict[str, list[list[int]]] = {}
    for scenario, seeds in sorted(by_scenario.items()):
        ranges: list[list[int]] = []
        for s in sorted(set(seeds)):
            if ranges and ranges[-1][1] == s:
                ranges[-1][1] = s + 1
            else:
                ranges.append([s, s + 1])
        out[scenario] = ranges
    return out


# --- one trainer per run directory --------------------------------------------------------------

LOCK_FILE = ".train.lock"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    return True


class RunLock:
    """RUN/.train.lock holding the trainer's pid, taken with O_EXCL: a second `train` into the same
    --out refuses instead of interleaving checkpoints. A lock left by a killed process (its pid is
    gone) is taken over."""

    def __init__(self, run_dir: str | Path):
        self.path = Path(run_dir) / LOCK_FILE
        self.held = False

    def __enter__(self) -> RunLock:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        for _ in range(2):  # the second try follows the removal of a stale lock
            try:
                fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            except FileExistsError:
                try:
                    pid = int(self.path.read_text().strip() or 0)
                except (OSError, ValueError):
                    pid = 0
                if pid and pid != os.getpid() and _alive(pid):
                    raise FileExistsError(
                        f"{self.path.parent} is being trained by another process (pid {pid}, lock "
                        f"{self.path}): wait for it or choose another --out"
                    ) from None
                self.path.unlink(missing_ok=True)  # stale: its trainer is gone
                continue
            with os.fdopen(fd, "w") as f:
                f.write(str(os.getpid()))
            self.held = True
            return self
        raise FileExistsError(f"could not take the lock {self.path}")

    def __exit__(self, *exc) -> None:
        if self.held:
            self.path.unlink(missing_ok=True)
            self.held = False


def remove_stale_tmp(run_dir: str | Path) -> list[Path]:
    """Delete RUN/.checkpoint.tmp-PID folders a killed trainer left half-written (call it with the
    RunLock held: then no live trainer is writing one). The previous checkpoint is untouched."""
    run_dir = Path(run_dir)
    stale = sorted(run_dir.glob(f".{CHECKPOINT_DIR}.tmp-*")) if run_dir.is_dir() else []
    for p in stale:
        shutil.rmtree(p, ignore_errors=True)
    return stale
