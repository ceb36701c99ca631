"""The failure bank: closed-loop episodes a policy failed (or passed, as a regression set), kept by
reference so that any later checkpoint can be re-driven on exactly those episodes.

    BANK/meta.json     {"format": "e2edrive-failure-bank", "version": 1, "created": UTC time}
    BANK/bank.jsonl    one JSON object per line, append-only

An entry names its episode by key (scenario, seed, sim_version, init_hash): every episode is a
function of (scenario, seed) for one simulator version, and `init_hash` (sha256 of the episode's
initial state) catches a simulator change that forgot to bump SIM_VERSION. Beside the key: the
checkpoint that failed (path and the sha256 of its weights file), the driver name, the failure
type, kind ("failure" or "regression"), the EpisodeResult as a dict and the UTC time.

Durability. Each entry is one write(2) of one line to a file opened with O_APPEND, then fsync: a
crash leaves at worst a truncated last line, which the reader skips with a warning (and the next
append starts on a fresh line, so it never glues itself to the fragment). Nothing is rewritten.
Reading de-duplicates on the key: the first entry stands, and later failures of the same episode
only update `last_checkpoint` / `last_checkpoint_hash` (which checkpoint failed it most recently).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import warnings
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path

import torch

from e2edrive.sim.metrics import EpisodeResult
from e2edrive.sim.version import SIM_VERSION

BANK_FORMAT, BANK_VERSION = "e2edrive-failure-bank", 1
BANK_FILE, META_FILE = "bank.jsonl", "meta.json"
KINDS = ("failure", "regression")
FAILURE_TYPES = (
    "collision_pedestrian_animal",
    "collision_vehicle",
    "collision_static",
    "off_road",
    "red_light",
    "timeout_or_stuck",
    "rule",
)
ROUTE_DONE = 0.99  # route_completion at or above this counts as having reached the end of the route


class BankError(ValueError):
    """A bank directory that is missing, empty or not a failure bank (the CLI prints it, exit 2)."""


@dataclass
class BankEntry:
    """One banked episode. `result` is EpisodeResult.to_dict(); `failure_type` is None for passes."""

    scenario: str
    seed: int
    sim_version: str
    init_hash: str
    checkpoint: str | None  # path as given; None for drivers without weights
    checkpoint_hash: str | None  # sha256 of the weights file
    driver: str
    failure_type: str | None
    kind: str
    result: dict
    time_utc: str
    last_checkpoint: str | None = None  # filled on read: the latest failing checkpoint of the key
    last_checkpoint_hash: str | None = None

    @property
    def key(self) -> tuple[str, int, str, str]:
        return (self.scenario, self.seed, self.sim_version, self.init_hash)


def failure_type(r: EpisodeResult) -> str | None:
    """Why an episode failed, named by its most severe infraction (CARLA's penalty order: pedestrian
    0.50, vehicle 0.60, static 0.65; then leaving the road, then a red light). An episode with no
    infraction that did not finish its route timed out or got stuck; one that finished it broke the
    scenario's own rule (e.g. did not keep headway, waited forever). None if it passed."""
    if r.passed:
        return None
    for kind in ("pedestrian_animal", "vehicle", "static"):
        if r.collisions.get(kind, 0) > 0:
            return f"collision_{kind}"
    if r.off_road:
        return "off_road"
    if r.red_light_runs > 0:
        return "red_light"
    if r.route_completion < ROUTE_DONE:
        return "timeout_or_stuck"
    return "rule"


def _hash_value(h, v) -> None:
    """Feed a tensor, a (nested) dataclass of tensors or a plain value to the hash, in field order."""
    if isinstance(v, torch.Tensor):
        t = v.detach().to("cpu").contiguous()
        h.update(f"{t.dtype}{tuple(t.shape)}".encode())  # (2, 3) and (3, 2) must not collide
        h.update(t.numpy().tobytes() if t.dtype != torch.bool else t.to(torch.uint8).numpy().tobytes())
    elif dataclasses.is_dataclass(v):
        for f in dataclasses.fields(v):
            h.update(f.name.encode())
            _hash_value(h, getattr(v, f.name))
    else:
        h.update(repr(v).encode())


_OBS_STATE = ("speed", "accel", "yaw_rate", "steer", "odom", "nav", "first")  # no images, no rig


def init_hash(scenario: str, seed: int) -> str:
    """sha256 (hex) of the episode's initial state: the world's Scene and the observation's state.

    The world is built alone (B = 1) on the CPU, so padding never depends on other episodes."""
    from e2edrive.sim.world import World

    world = World([scenario], [int(seed)])
    h = hashlib.sha256()
    _hash_value(h, world.scene())
    obs = world.observation()
    for name in _OBS_STATE:
        h.update(name.encode())
        _hash_value(h, getattr(obs, name))
    return h.hexdigest()


def checkpoint_hash(checkpoint: str | os.PathLike) -> str:
    """sha256 of a run's (RUN/checkpoint/) or a checkpoint directory's weights file."""
    from e2edrive.model.checkpoint import WEIGHTS

    path = Path(checkpoint)
    if (path / "checkpoint").is_dir():
        path = path / "checkpoint"
    weights = path / WEIGHTS
    if not weights.is_file():
        raise FileNotFoundError(f"no checkpoint weights at {weights}")
    h = hashlib.sha256()
    with open(weights, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _utc_now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


class FailureBank:
    """A bank directory. `FailureBank(dir, create=True)` makes it if absent; reading needs one."""

    def __init__(self, root: str | os.PathLike, create: bool = False):
        self.root = Path(root)
        meta = self.root / META_FILE
        if not meta.is_file():
            if not create:
                raise BankError(f"no failure bank at {self.root} (no {META_FILE})")
            self.root.mkdir(parents=True, exist_ok=True)
            tmp = meta.with_suffix(".tmp")
            tmp.write_text(
                json.dumps({"format": BANK_FORMAT, "version": BANK_VERSION, "created": _utc_now()})
            )
            os.replace(tmp, meta)  # atomic: a reader sees no meta or a whole one
        try:
            info = json.loads(meta.read_text())
        except ValueError as e:
            raise BankError(f"{meta} is not JSON: {e}") from None
        if info.get("format") != BANK_FORMAT or info.get("version") != BANK_VERSION:
            raise BankError(f"{meta}: not a version-{BANK_VERSION} {BANK_FORMAT} ({info})")

    @property
    def path(self) -> Path:
        return self.root / BANK_FILE

    def append(self, entries: list[BankEntry]) -> None:
        """Append entries, one atomic line each (O_APPEND write, then fsync)."""
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            # A crash may have left a fragment without its newline: start on a line of our own.
            size = os.fstat(fd).st_size
            if size > 0:
                with open(self.path, "rb") as f:
                    f.seek(size - 1)
                    if f.read(1) != b"\n":
                        os.write(fd, b"\n")
            for e in entries:
                os.write(fd, (json.dumps(asdict(e), sort_keys=True, allow_nan=False) + "\n").encode())
                os.fsync(fd)
        finally:
            os.close(fd)

    def read_all(self) -> list[BankEntry]:
        """Every readable line in file order, duplicates included; bad lines are skipped with a
        warning (a truncated last line is what a crash mid-append leaves)."""
        if not self.path.is_file():
            return []
        lines = self.path.read_bytes().split(b"\n")
        out = []
        for i, line in enumerate(lines, 1):
            if not line.strip():
                continue
            try:
                d = json.loads(line)
                out.append(BankEntry(**d))
            except (ValueError, TypeError) as e:
                where = "truncated last line" if i == len(lines) else "unreadable line"
                warnings.warn(f"{self.path}:{i}: skipping {where} ({e})", stacklevel=2)
        return out

    def entries(self) -> list[BankEntry]:
        """De-duplicated on the key, first entry kept, in file order; `last_checkpoint` says which
        checkpoint failed that episode most recently."""
        kept: dict[tuple, BankEntry] = {}
        for e in self.read_all():
            first = kept.setdefault(e.key, e)
            if e.kind == "failure":
                first.last_checkpoint, first.last_checkpoint_hash = e.checkpoint, e.checkpoint_hash
        return list(kept.values())


def make_entries(
    results: list[EpisodeResult],
    checkpoint: str | os.PathLike | None,
    driver_name: str,
    include_passed: bool = False,
) -> list[BankEntry]:
    """Bank entries for the failed results (and the passed ones as regression entries)."""
    ckpt_hash = checkpoint_hash(checkpoint) if checkpoint is not None else None
    now = _utc_now()
    out = []
    for r in results:
        if r.passed and not include_passed:
            continue
        out.append(
            BankEntry(
                scenario=r.scenario,
                seed=int(r.seed),
                sim_version=SIM_VERSION,
                init_hash=init_hash(r.scenario, r.seed),
                checkpoint=None if checkpoint is None else str(checkpoint),
                checkpoint_hash=ckpt_hash,
                driver=driver_name,
                failure_type=failure_type(r),
                kind="regression" if r.passed else "failure",
                result=r.to_dict(),
                time_utc=now,
            )
        )
    return out


def bank_results(
    bank_dir: str | os.PathLike,
    results: list[EpisodeResult],
    checkpoint: str | os.PathLike | None,
    driver_name: str,
    include_passed: bool = False,
) -> int:
    """Bank an evaluation's failed episodes (and its passed ones as regressions with include_passed)
    into bank_dir, created if absent; returns the number of entries appended. Callers: eval --bank,
    DAgger, quickstart."""
    entries = make_entries(results, checkpoint, driver_name, include_passed)
    bank = FailureBank(bank_dir, create=True)
    bank.append(entries)
    return len(entries)
