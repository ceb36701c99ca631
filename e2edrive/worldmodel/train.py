"""`train_worldmodel(cfg)`: the tokenizer phase, then the dynamics phase, on recorded episodes.

Read it top to bottom: open the windows, build or resume the model, then for each phase (the
tokenizer alone; then the dynamics with the tokenizer frozen): AdamW, steps with a progress bar,
a log line per `log_every`, an atomic checkpoint every `checkpoint_every` steps and at the end of
each phase.

Each step's batch is drawn from a generator seeded by (seed, phase, step), and so is the
dynamics' context noise: a resumed run draws the same batches as one never stopped.

Checkpoint: OUT/checkpoint/ = the world model (model.safetensors + config.json, worldmodel.model)
and trainer_state.pt (phase, step, optimizer, this TrainConfig). It is written to a temporary
directory, fsynced, and swapped in by rename, so a kill leaves the old checkpoint or the new one.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

import torch

from e2edrive.worldmodel.config import check_rig, preset
from e2edrive.worldmodel.data import WindowDataset, collate_windows
from e2edrive.worldmodel.model import WorldModel, read_config, save_weights

CHECKPOINT, STATE, LOG = "checkpoint", "trainer_state.pt", "train_log.jsonl"
PHASES = ("tokenizer", "dynamics")


@dataclass
class WorldModelTrainConfig:
    data: str
    """dataset directory recorded by `e2edrive collect` (data/FORMAT.md)"""
    out: str
    """output directory: OUT/checkpoint and OUT/train_log.jsonl"""
    preset: str = "tiny"
    """world model preset: tiny (2 CPU cores) or base (GPU)"""
    tokenizer_steps: int = 2000
    """optimisation steps of the tokenizer phase"""
    dynamics_steps: int = 2000
    """optimisation steps of the dynamics phase"""
    batch_size: int = 4
    """windows per step (a window is context + unroll frames of 8 cameras)"""
    lr: float = 1e-3
    """AdamW learning rate, both phases"""
    weight_decay: float = 0.01
    """AdamW weight decay"""
    seed: int = 0
    """seed of the initial weights, the batches and the context noise"""
    resume: bool = False
    """continue OUT's checkpoint (same config) instead of refusing to overwrite it"""
    checkpoint_every: int = 200
    """steps between checkpoints (and always at the end of a phase)"""
    log_every: int = 10
    """steps between log lines in OUT/train_log.jsonl"""
    progress: bool = True
    """show a progress bar"""
    device: str = "cpu"
    """torch device"""
    num_workers: int = 0
    """processes reading batches ahead of the trainer (0: read in the training loop); the batches
    are the same either way"""
    phase_seconds: float = 0.0
    """> 0: end each phase after this many seconds of training (checkpointed as finished at the
    step reached), so a run with a fixed time budget always ends with both phases trained"""
    dynamics_seconds: float = 0.0
    """> 0: the dynamics phase's own time budget, in place of phase_seconds (the dynamics is what
    limits the dream once the tokenizer is near its ceiling, so a budget can give it the larger share)"""


def train_worldmodel(cfg: WorldModelTrainConfig) -> WorldModel:
    dev = torch.device(cfg.device)
    run = Path(cfg.out)
    model_cfg = preset(cfg.preset)
    windows = WindowDataset(cfg.data, model_cfg.context + model_cfg.unroll)
    model_cfg = preset(cfg.preset, windows.rig)  # the dataset's rig is the model's

    # --- model and where the run stands --------------------------------------------------------
    ckpt = run / CHECKPOINT
    state: dict = {"phase": 0, "step": 0, "optimizer": None}
    if cfg.resume:
        if not (ckpt / STATE).is_file():
            raise FileNotFoundError(f"--resume: no checkpoint in {run} to resume from")
        saved_cfg, _ = read_config(ckpt)
        check_rig(saved_cfg, windows.rig, f"dataset {cfg.data}")
        state = torch.load(ckpt / STATE, map_location="cpu", weights_only=False)  # our own file
        if state["train_config"] != _comparable(cfg):
            raise ValueError(
                f"--resume: the run in {run} was trained with another config: {state['train_config']}"
            )
    elif ckpt.exists():
        raise FileExistsError(
            f"{run} already holds a checkpoint: pass --resume to continue it, or another --out"
        )
    torch.manual_seed(cfg.seed)
    model = WorldModel(model_cfg)
    if cfg.resume:
        from safetensors.torch import load_file

        model.load_state_dict(load_file(str(ckpt / "model.safetensors")), strict=True)
    model.to(dev)
    run.mkdir(parents=True, exist_ok=True)
    log = open(run / LOG, "a")

    # --- the two phases ------------------------------------------------------------------------
    steps = (cfg.tokenizer_steps, cfg.dynamics_steps)
    for phase in range(state["phase"], len(PHASES)):
        name = PHASES[phase]
        part = model.tokenizer if name == "tokenizer" else model.dynamics
        loss_fn = model.tokenizer_loss if name == "tokenizer" else model.dynamics_loss
        optimizer = torch.optim.AdamW(part.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
        start = state["step"] if phase == state["phase"] else 0
        if start > 0 and state["optimizer"] is not None:
            optimizer.load_state_dict(state["optimizer"])
        model.train()
        bar = _bar(cfg, name, steps[phase], start)
        t0 = time.perf_counter()
        budget = (
            cfg.dynamics_seconds if name == "dynamics" and cfg.dynamics_seconds > 0 else cfg.phase_seconds
        )
        batches = _batches(windows, cfg, phase, start, steps[phase])
        for step, batch in zip(range(start, steps[phase]), batches):
            batch = batch.to(dev)
            if name == "dynamics":
                loss, parts = loss_fn(batch, generator=torch.Generator(dev).manual_seed(step))
            else:
                loss, parts = loss_fn(batch)
            if not torch.isfinite(loss):
                raise FloatingPointError(f"{name} loss is {loss.item()} at step {step}")
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(part.parameters(), 1.0)
            optimizer.step()
            done = step + 1
            if done % cfg.log_every == 0 or done == steps[phase]:
                row = {
                    "phase": name,
                    "step": done,
                    "loss": loss.item(),
                    **{k: v.item() for k, v in parts.items()},
                }
                row["steps_per_s"] = (done - start) / (time.perf_counter() - t0)
                log.write(json.dumps(row) + "\n")
                log.flush()
                if bar is not None:
                    bar.set_postfix(loss=f"{row['loss']:.3f}", refresh=False)
            if bar is not None:
                bar.update(1)
            out_of_time = budget > 0 and time.perf_counter() - t0 > budget
            if done % cfg.checkpoint_every == 0 or done == steps[phase] or out_of_time:
                finished = done == steps[phase] or out_of_time
                next_state = {
                    "phase": phase + 1 if finished else phase,
                    "step": 0 if finished else done,
                    "optimizer": None if finished else optimizer.state_dict(),
                    "train_config": _comparable(cfg),
                }
                save_checkpoint(run, model, next_state)
            if out_of_time:
                log.write(
                    json.dumps({"phase": name, "stopped_at_step": done, "phase_seconds": budget}) + "\n"
                )
                break
        if bar is not None:
            bar.close()
        if steps[phase] == 0 or start >= steps[phase]:  # nothing to run: still record the phase as done
            save_checkpoint(
                run,
                model,
                {"phase": phase + 1, "step": 0, "optimizer": None, "train_config": _comparable(cfg)},
            )
        state = {"phase": phase + 1, "step": 0, "optimizer": None}
    log.close()
    return model.eval()


class _StepBatches(torch.utils.data.Dataset):
    """Item k = the batch of step `start + k`, drawn from a generator seeded by (seed, phase, step):
    any reader, in any process, gets the same batches."""

    def __init__(self, windows: WindowDataset, cfg: WorldModelTrainConfig, phase: int, start: int, stop: int):
        self.windows, self.cfg, self.phase, self.start, self.stop = windows, cfg, phase, start, stop

    def __len__(self) -> int:
        return max(0, self.stop - self.start)

    def __getitem__(self, k: int):
        step = self.start + k
        g = torch.Generator().manual_seed(self.cfg.seed * 1_000_003 + self.phase * 100_003 + step)
        idx = torch.randint(len(self.windows), (self.cfg.batch_size,), generator=g).tolist()
        return collate_windows([self.windows[i] for i in idx])


def _batches(windows: WindowDataset, cfg: WorldModelTrainConfig, phase: int, start: int, stop: int):
    steps = _StepBatches(windows, cfg, phase, start, stop)
    if cfg.num_workers == 0:
        return (steps[k] for k in range(len(steps)))
    return iter(
        torch.utils.data.DataLoader(
            steps,
            batch_size=None,
            num_workers=cfg.num_workers,
            prefetch_factor=4,
        )
    )


def _comparable(cfg: WorldModelTrainConfig) -> dict:
    """What must not change across --resume (step counts, logging and the device may)."""
    d = dataclasses.asdict(cfg)
    for k in (
        "resume",
        "progress",
        "device",
        "tokenizer_steps",
        "dynamics_steps",
        "checkpoint_every",
        "log_every",
        "phase_seconds",
        "dynamics_seconds",
        "num_workers",
        "out",
        "data",
    ):
        d.pop(k)
    return d


def _bar(cfg: WorldModelTrainConfig, name: str, total: int, start: int):
    if not cfg.progress or total == 0:
        return None
    from tqdm import tqdm

    return tqdm(total=total, initial=start, desc=f"worldmodel {name}", unit="step", dynamic_ncols=True)


def save_checkpoint(run: Path, model: WorldModel, state: dict) -> Path:
    """Atomically replace RUN/checkpoint with the weights, the config and the trainer state."""
    final, tmp, old = run / CHECKPOINT, run / f".{CHECKPOINT}.tmp-{os.getpid()}", run / f".{CHECKPOINT}.old"
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir(parents=True)
    save_weights(model, tmp, extra={"phase": state["phase"], "step": state["step"]})
    torch.save(state, tmp / STATE)
    for p in tmp.iterdir():
        with open(p, "rb+") as f:
            os.fsync(f.fileno())
    if final.exists():
        if old.exists():
            shutil.rmtree(old)
        os.replace(final, old)
    os.replace(tmp, final)
    fd = os.open(run, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
    if old.exists():
        shutil.rmtree(old)
    return final
