"""`train(cfg)`: imitation training of a driving network, in one process or under torchrun.

Read it top to bottom: set up the process (device, threads, DDP), open the data, build or resume
the model and optimizer, then for each epoch: shuffle, step, log, checkpoint, validate.

Exact resume. A checkpoint holds the step, the epoch, how many batches of the epoch were done,
the optimizer state and every RNG state; the epoch's sample order is a pure function of
(seed, epoch) (DistributedSampler), and the DataLoader draws its worker seeds from its own
generator seeded by (seed, epoch) instead of the global RNG. So a resumed run skips the batches
already seen and continues with the same batches, the same dropout masks and the same updates as
a run that was never stopped: on CPU the parameters are bit-identical (tests/test_train_resume.py).
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import math
import time
from collections.abc import Callable
from pathlib import Path

import torch
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import BatchSampler, DataLoader, DistributedSampler

from e2edrive.core.seeding import seed_everything
from e2edrive.model.base import DrivingPolicy
from e2edrive.model.migrate import pad_optimizer_moments
from e2edrive.model.open_loop import evaluate_open_loop, format_open_loop
from e2edrive.train import ddp
from e2edrive.train.augment import augment_clip, augment_seed
from e2edrive.train.checkpoint import (
    RunLock,
    TrainerState,
    capture_rng,
    find_checkpoint,
    load_model_weights,
    load_trainer_state,
    remove_stale_tmp,
    restore_rng,
    save_run_checkpoint,
    seeds_to_ranges,
)
from e2edrive.train.config import TrainConfig, config_mismatch
from e2edrive.train.data import collate_fn, dataset_seed_pairs, open_dataset, open_training_data
from e2edrive.train.models import build_model

LOG_FILE = "train_log.jsonl"


def train(
    cfg: TrainConfig,
    *,
    model: DrivingPolicy | None = None,
    dataset=None,
    val_dataset=None,
    on_step: Callable[[int], None] | None = None,
) -> TrainerState:
    """Train per cfg and return the final TrainerState. model/dataset/val_dataset override what
    cfg names (tests and online training pass their own); on_step(step) runs after each step."""
    check_config(cfg)
    d = ddp.setup(cfg.device, cfg.threads)
    try:
        # Rank 0 speaks for the run: it alone takes the lock and clears what a killed run left.
        with RunLock(cfg.out) if d.is_main else contextlib.nullcontext():
            if d.is_main:
                remove_stale_tmp(cfg.out)
            return _train(cfg, d, model, dataset, val_dataset, on_step)
    finally:
        ddp.cleanup(d)


def teacher_kwargs(model, clip) -> dict:
    """The labels for a network whose planner is taught from the ground truth (model.corridor)."""
    return {"labels": clip.labels} if getattr(model.config, "corridor_teacher", 0) > 0 else {}


def check_config(cfg: TrainConfig) -> None:
    """Refuse values that would fail later with an obscure error (a division by zero, CUDA init)."""
    for name in ("epochs", "batch_size", "history"):
        if getattr(cfg, name) < 1:
            raise ValueError(f"--{name.replace('_', '-')} must be >= 1, got {getattr(cfg, name)}")
    if cfg.threads < 0:
        raise ValueError(f"--threads must be >= 0 (0: automatic), got {cfg.threads}")
    if cfg.seed < 0:
        raise ValueError(f"--seed must be >= 0, got {cfg.seed}")
    if not cfg.lr > 0:
        raise ValueError(f"--lr must be > 0, got {cfg.lr}")
    if not cfg.balance_reasons >= 0:
        raise ValueError(f"--balance-reasons must be >= 0 (0: uniform), got {cfg.balance_reasons}")
    for name in ("fault_aug", "camera_dropout"):
        if not 0.0 <= getattr(cfg, name) <= 1.0:
            raise ValueError(
                f"--{name.replace('_', '-')} must be a probability in [0, 1], got {getattr(cfg, name)}"
            )
    if cfg.device != "auto":
        from e2edrive.core.device import as_device

        as_device(cfg.device)  # ValueError, one line, when CUDA is asked for and absent


def _train(cfg, d: ddp.Dist, model, dataset, val_dataset, on_step) -> TrainerState:
    run = Path(cfg.out)
    amp = cfg.amp and d.device.type == "cuda"

    # --- data ---------------------------------------------------------------------------------
    grids = cfg.model == "driving"  # only the full network reads the BEV and camera label grids
    if dataset is None:  # a manifest selects its clips' frames (open_training_data), else every frame
        dataset = open_training_data(cfg) if cfg.manifest else open_dataset(cfg.data, cfg.history, grids)
    if val_dataset is None and cfg.val_data:
        val_dataset = open_dataset(cfg.val_data, cfg.history, grids)
    collate = collate_fn(dataset)
    global_batch = cfg.batch_size * d.world_size
    if len(dataset) < global_batch:
        raise ValueError(
            f"dataset {cfg.data!r} has {len(dataset)} clips, fewer than one global batch of {global_batch} "
            f"({cfg.batch_size} x {d.world_size} processes): record more episodes or lower --batch-size"
        )

    # --- model, optimizer, resume --------------------------------------------------------------
    previous = find_checkpoint(run)
    if cfg.resume and previous is None:
        raise FileNotFoundError(f"--resume: no checkpoint in {run} to resume from")
    if not cfg.resume and previous is not None:
        raise FileExistsError(
            f"{run} already holds a checkpoint: pass --resume to continue it, or another --out"
        )
    seed_everything(cfg.seed + d.rank)  # ranks differ in dropout, not in initial weights (DDP broadcasts)
    model = model if model is not None else build_model(cfg.model, cfg.preset)
    seed_pairs = dataset_seed_pairs(dataset)
    state = TrainerState(config=dataclasses.asdict(cfg), train_seeds=seeds_to_ranges(seed_pairs))
    if previous is not None:
        state = load_trainer_state(previous)
        # a dataset that grew between rounds (DAgger) adds its episodes to the training set
        old = [(s, k) for s, ranges in state.train_seeds.items() for a, b in ranges for k in range(a, b)]
        state.train_seeds = seeds_to_ranges(old + list(seed_pairs))
        mismatch = config_mismatch(state.config, cfg)
        if mismatch:
            raise ValueError(
                f"--resume: the run in {run} was trained with another config:\n  " + "\n  ".join(mismatch)
            )
        load_model_weights(model, previous)
    model.to(d.device)
    optimizer = torch.optim.AdamW(_param_groups(model, cfg.weight_decay), lr=cfg.lr)
    if previous is not None:
        optimizer.load_state_dict(state.optimizer)
        pad_optimizer_moments(optimizer)  # a run saved under an older reason catalog
        if len(state.rng) == d.world_size:
            restore_rng(state.rng[d.rank])
        elif d.is_main:
            print(
                f"resume: checkpoint has RNG states of {len(state.rng)} processes, now {d.world_size}: "
                "continuing with fresh RNG (not bit-exact)"
            )
        state.config = dataclasses.asdict(cfg)
        if d.is_main:
            _truncate_log(run / LOG_FILE, state.step)
    net = (
        DistributedDataParallel(model, device_ids=[d.device.index] if d.device.type == "cuda" else None)
        if d.enabled
        else model
    )

    steps_per_epoch = len(dataset) // global_batch
    total_steps = steps_per_epoch * cfg.epochs
    if cfg.max_steps > 0:
        total_steps = min(total_steps, cfg.max_steps)
    logger = _Logger(run, cfg, d, total_steps, state.step)

    # --- the loop ------------------------------------------------------------------------------
    model.train()
    seen, t0 = 0, time.perf_counter()
    budget = _TimeBudget(cfg.time_limit_min, total_steps, d) if cfg.time_limit_min > 0 else None
    schedule_steps = total_steps  # the cosine's length: with a time limit, what the time holds
    while state.epoch < cfg.epochs and state.step < total_steps:
        for clip in _loader(dataset, collate, cfg, d, state.epoch, skip=state.batch_in_epoch):
            clip = clip.to(d.device)
            clip = augment_clip(
                clip, cfg.fault_aug, cfg.camera_dropout, augment_seed(cfg.seed, state.step, d.rank)
            )
            for group in optimizer.param_groups:
                group["lr"] = _lr(state.step, schedule_steps, cfg)
            with torch.autocast(d.device.type, dtype=torch.bfloat16, enabled=amp):
                out = net(clip.obs, **teacher_kwargs(model, clip))
                loss, parts = model.loss(out, clip.labels)
            if not torch.isfinite(loss):
                raise FloatingPointError(
                    f"loss is {loss.item()} at step {state.step}: parts "
                    f"{ {k: float(v) for k, v in parts.items()} }"
                )
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            grad_norm = (
                torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
                if cfg.grad_clip > 0
                else torch.tensor(0.0)
            )
            optimizer.step()
            state.step += 1
            state.batch_in_epoch += 1
            seen += clip.meta.shape[0] * d.world_size
            samples_per_s = seen / (time.perf_counter() - t0)
            if state.step % cfg.log_every == 0 or state.step == total_steps:  # host sync only here
                logger.log(
                    state.step,
                    loss.detach(),
                    parts,
                    grad_norm,
                    optimizer.param_groups[0]["lr"],
                    samples_per_s,
                )
            logger.bar(samples_per_s)
            if state.step % cfg.checkpoint_every == 0 and state.batch_in_epoch < steps_per_epoch:
                _checkpoint(run, model, optimizer, state, d)
            if on_step is not None:
                on_step(state.step)
            if budget is not None:
                schedule_steps, out_of_time = budget.update(schedule_steps, state.step)
                logger.set_total(schedule_steps)
                if out_of_time:
                    total_steps = state.step
            if state.step >= total_steps:
                break
        if state.batch_in_epoch >= steps_per_epoch:  # the epoch is complete
            state.epoch += 1
            state.batch_in_epoch = 0
            if val_dataset is not None:
                metrics = evaluate_open_loop(
                    model,
                    _loader(val_dataset, collate, cfg, d, 0, train=False),
                    d.device,
                    reduce=lambda v: ddp.all_reduce_sum(v, d),
                )
                state.history.append({"epoch": state.epoch, "step": state.step, **metrics})
                logger.validation(state.epoch, metrics)
        _checkpoint(run, model, optimizer, state, d)
    logger.close()
    return state


def _loader(dataset, collate, cfg: TrainConfig, d: ddp.Dist, epoch: int, skip: int = 0, train: bool = True):
    """Batches of `epoch` for this rank, without the first `skip` (already trained on).

    The order is DistributedSampler's: a permutation seeded by (seed, epoch), split over ranks, so
    it is the same after a restart; with cfg.balance_reasons, draws weighted by the expert's reason
    (data.balance), seeded the same way. Validation keeps every sample (no shuffle, no drop)."""
    epoch_seed = cfg.seed * 1_000_003 + epoch
    indices = _balanced(dataset, cfg, d, epoch, epoch_seed) if train and cfg.balance_reasons > 0 else None
    if indices is None:
        sampler = DistributedSampler(
            dataset, num_replicas=d.world_size, rank=d.rank, shuffle=train, seed=cfg.seed, drop_last=train
        )
        sampler.set_epoch(epoch)
        indices = list(sampler)
    indices = indices[skip * cfg.batch_size :]
    batches = BatchSampler(indices, cfg.batch_size, drop_last=train)
    generator = torch.Generator().manual_seed(epoch_seed)  # workers' seeds, not the global RNG
    return DataLoader(
        dataset,
        batch_sampler=batches,
        collate_fn=collate,
        num_workers=cfg.num_workers,
        generator=generator,
        pin_memory=d.device.type == "cuda",
    )


def _balanced(dataset, cfg: TrainConfig, d: ddp.Dist, epoch: int, seed: int) -> list[int] | None:
    """This rank's share of an epoch drawn by data.balance (every rank draws the same list, from a
    generator seeded by `seed`, a function of (cfg.seed, epoch), and takes every world_size-th);
    None: nothing to balance by."""
    from e2edrive.data.balance import balanced_indices

    per_rank = len(dataset) // d.world_size
    drawn = balanced_indices(dataset, cfg.balance_reasons, per_rank * d.world_size, seed)
    if drawn is None:
        if epoch == 0 and d.is_main:
            print("note: --balance-reasons ignored: this dataset has no expert reasons (synthetic clips)")
        return None
    return drawn[d.rank :: d.world_size]


class _TimeBudget:
    """A time limit. Training stops when it is spent; meanwhile, every 10 steps the speed measured
    since the last check (not since the start, which pays for warm-up) estimates how many steps
    the limit holds, and that sets the cosine schedule's length so the learning rate anneals by
    the end. The estimate never stops training early."""

    def __init__(self, minutes: float, max_total: int, d: ddp.Dist):
        self.limit, self.max_total, self.d = 60 * minutes, max_total, d
        self.t0 = time.perf_counter()
        self.elapsed_last = 0.0
        self.runs = self.runs_last = 0

    def update(self, schedule: int, step: int) -> tuple[int, bool]:
        """(schedule length, out of time)."""
        self.runs += 1
        if self.runs % 10:
            return schedule, False
        # ranks agree on the elapsed time (mean of each one's own clock: clocks of different nodes
        # have different origins), so they stop at the same step
        elapsed = float(
            ddp.all_reduce_mean(
                torch.tensor([time.perf_counter() - self.t0], dtype=torch.float64, device=self.d.device),
                self.d,
            )
        )
        if elapsed > self.limit:
            return schedule, True
        rate = (self.runs - self.runs_last) / max(1e-6, elapsed - self.elapsed_last)  # steps/s, recent
        self.elapsed_last, self.runs_last = elapsed, self.runs
        return min(self.max_total, step + max(1, int((self.limit - elapsed) * rate))), False


def _param_groups(model: torch.nn.Module, weight_decay: float) -> list[dict]:
    """No weight decay on biases and normalisation gains (1-D tensors), as is standard for AdamW."""
    decay = [p for p in model.parameters() if p.requires_grad and p.dim() >= 2]
    no_decay = [p for p in model.parameters() if p.requires_grad and p.dim() < 2]
    return [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]


def _lr(step: int, total: int, cfg: TrainConfig) -> float:
    """Linear warm-up, then cosine decay to lr/10: a pure function of step (resume-exact)."""
    if step < cfg.warmup_steps:
        return cfg.lr * (step + 1) / cfg.warmup_steps
    progress = min(1.0, (step - cfg.warmup_steps) / max(1, total - cfg.warmup_steps))
    return cfg.lr * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * progress)))


def _checkpoint(run: Path, model, optimizer, state: TrainerState, d: ddp.Dist) -> None:
    """Every rank contributes its RNG state; rank 0 writes; all wait so none races ahead."""
    rng = capture_rng()
    if d.enabled:
        gathered: list = [None] * d.world_size
        torch.distributed.all_gather_object(gathered, rng)
        state.rng = gathered
    else:
        state.rng = [rng]
    state.optimizer = optimizer.state_dict()
    if d.is_main:
        save_run_checkpoint(run, model, state)
    ddp.barrier(d)


def _truncate_log(path: Path, step: int) -> None:
    """Drop log lines a killed run wrote after its last checkpoint: the resumed run rewrites them."""
    if not path.exists():
        return
    keep = [
        line for line in path.read_text().splitlines() if line and json.loads(line).get("step", 0) <= step
    ]
    path.write_text("".join(line + "\n" for line in keep))


class _Logger:
    """Rank 0 only: tqdm bar (loss, samples/s), train_log.jsonl, optional TensorBoard."""

    def __init__(self, run: Path, cfg: TrainConfig, d: ddp.Dist, total: int, start: int):
        self.active = d.is_main
        self.bar_ = self.tb = None
        self.last_loss = float("nan")  # shown on the bar; refreshed at each log step
        if not self.active:
            return
        run.mkdir(parents=True, exist_ok=True)
        self.file = open(run / LOG_FILE, "a")
        if cfg.progress:
            from tqdm import tqdm

            self.bar_ = tqdm(total=total, initial=start, desc="train", unit="step", dynamic_ncols=True)
        if cfg.tensorboard:
            try:
                from torch.utils.tensorboard import SummaryWriter
            except ImportError as e:
                raise ImportError(
                    "--tensorboard needs the tensorboard package: pip install tensorboard"
                ) from e
            self.tb = SummaryWriter(str(run / "tensorboard"))

    def set_total(self, total: int) -> None:
        if self.bar_ is not None and self.bar_.total != total:
            self.bar_.total = total
            self.bar_.refresh()

    def bar(self, samples_per_s: float) -> None:
        if self.bar_ is not None:
            loss = "-" if math.isnan(self.last_loss) else f"{self.last_loss:.3f}"  # known at log steps only
            self.bar_.set_postfix(loss=loss, samples_s=f"{samples_per_s:.1f}", refresh=False)
            self.bar_.update(1)

    def log(self, step, loss, parts, grad_norm, lr, samples_per_s) -> None:
        if not self.active:
            return
        self.last_loss = float(loss)
        row = {
            "step": step,
            "loss": float(loss),
            **{f"loss/{k}": float(v.detach()) for k, v in parts.items()},
            "grad_norm": float(grad_norm),
            "lr": lr,
            "samples_per_s": samples_per_s,
        }
        self.file.write(json.dumps(row) + "\n")
        self.file.flush()
        if self.tb is not None:
            for k, v in row.items():
                if k != "step":
                    self.tb.add_scalar(k if "/" in k else f"train/{k}", v, step)

    def validation(self, epoch: int, metrics: dict) -> None:
        if not self.active:
            return
        self.file.write(json.dumps({"epoch": epoch, "validation": metrics}) + "\n")
        self.file.flush()
        msg = f"epoch {epoch} validation: {format_open_loop(metrics)}"
        if self.bar_ is not None:
            self.bar_.write(msg)
        else:
            print(msg, flush=True)
        if self.tb is not None:
            for k, v in metrics.items():
                if v is not None:
                    self.tb.add_scalar(f"val/{k}", v, epoch)

    def close(self) -> None:
        if not self.active:
            return
        if self.bar_ is not None:
            self.bar_.close()
        if self.tb is not None:
            self.tb.close()
        self.file.close()
