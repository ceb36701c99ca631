"""Several writers on one dataset directory (`Recorder(worker=w)`, one per Ray task of
`collect --ray`) without a global lock: what keeps them apart (FORMAT.md, "Several writers").

- ids:   worker w numbers its episodes from (w + 1) * WORKER_ID_SPAN, the plain writer below it
- locks: the plain writer holds DIR/.lock, worker w DIR/.lock-wNN (with its PID inside)
- temp files: the plain writer's start `.tmp-`, worker w's `.tmp-wNN-`; a writer sweeps its own
  leftovers and those of workers whose lock is free (they died), never a running writer's

Plus `canonical_float`: one bit pattern per value, so that a shard's checksum, and hence "the
same episode" across writers, depends on values only.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import re
import shutil
import time
from pathlib import Path
from typing import IO

import numpy as np

from e2edrive.data.format import EPISODES_DIR, INDEX_DIR, LOCK_FILE, SHARD_SUFFIX, TMP_PREFIX

WORKER_ID_SPAN = 10**9  # episodes one writer can commit; int64 ids leave room for MAX_WORKERS spans
MAX_WORKERS = 100  # worker ids 0..99: two digits in `.lock-wNN` and `.tmp-wNN-`
_WORKER_TMP = re.compile(re.escape(TMP_PREFIX) + r"w(\d{2})-")


def check_worker(worker: int | None) -> None:
    if worker is not None and not 0 <= worker < MAX_WORKERS:
        raise ValueError(f"recorder worker id must be in 0..{MAX_WORKERS - 1}, got {worker}")


def worker_id_range(worker: int | None) -> range:
    """The episode ids a writer allocates: worker w's own span, or the plain writer's."""
    start = 0 if worker is None else (worker + 1) * WORKER_ID_SPAN
    return range(start, start + WORKER_ID_SPAN)


def lock_name(worker: int | None) -> str:
    return LOCK_FILE if worker is None else f"{LOCK_FILE}-w{worker:02d}"


def tmp_prefix(worker: int | None) -> str:
    return TMP_PREFIX if worker is None else f"{TMP_PREFIX}w{worker:02d}-"


def _try_lock(path: Path) -> IO | None:
    """The open file, flock'ed exclusively, or None if another process holds it."""
    f = open(path, "a+")
    try:
        fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        f.close()
        return None
    return f


def acquire_lock(root: Path, worker: int | None) -> IO:
    """This writer's lock on root (the kernel drops it if the process dies); RuntimeError if taken."""
    check_worker(worker)
    # another writer's sweep (remove_leftovers) may hold a worker's lock for an instant: retry briefly
    for _ in range(1 if worker is None else 50):
        lock = _try_lock(root / lock_name(worker))
        if lock is not None:
            break
        time.sleep(0.02)
    else:
        who = "another recorder" if worker is None else f"another recorder with worker id {worker}"
        raise RuntimeError(f"{who} is writing {root}; one writer per dataset and id")
    if worker is not None:  # who holds it, for operators (and tests that kill a worker)
        lock.truncate(0)
        lock.write(f"{os.getpid()}\n")
        lock.flush()
    return lock


def release_lock(lock: IO) -> None:
    if not lock.closed:
        fcntl.flock(lock, fcntl.LOCK_UN)
        lock.close()


def remove_leftovers(root: Path, worker: int | None) -> None:
    """Create index/ and episodes/ if missing and delete the temp files of writers that died
    mid-episode: this writer's own, and those of any worker whose lock is free."""
    free: dict[int, bool] = {}
    for sub in (INDEX_DIR, EPISODES_DIR):
        (root / sub).mkdir(exist_ok=True)
        for p in (root / sub).iterdir():
            if not p.name.startswith(TMP_PREFIX):
                continue
            m = _WORKER_TMP.match(p.name)
            owner = None if m is None else int(m.group(1))
            if owner != worker:
                if owner is None:
                    continue  # the plain writer's: only it cleans them (it holds .lock)
                if owner not in free:
                    f = _try_lock(root / lock_name(owner))
                    free[owner] = f is not None
                    if f is not None:
                        release_lock(f)
                if not free[owner]:
                    continue
            with contextlib.suppress(FileNotFoundError):  # a concurrent sweep took it first
                shutil.rmtree(p) if p.is_dir() else p.unlink()


def existing_ids(root: Path, span: range) -> list[int]:
    """Ids in `span` taken by a committed index part or shard (a shard without its part, left by
    a writer killed between the two renames, still holds its id: names are never reused)."""
    ids = []
    for sub, suffix in ((INDEX_DIR, ".parquet"), (EPISODES_DIR, SHARD_SUFFIX)):
        for p in (root / sub).iterdir():
            if not p.name.startswith(TMP_PREFIX) and p.name.removesuffix(suffix).isdigit():
                ids.append(int(p.name.removesuffix(suffix)))
    return [i for i in ids if i in span]


def canonical_float(a: np.ndarray) -> np.ndarray:
    """In place: -0.0 becomes +0.0 and every NaN +NaN. Both signs occur for the same value
    depending on history, not on the episode: label slots beyond the valid boxes hold a previous
    episode's leftovers times 0, and x86 arithmetic yields -NaN where a constant is +NaN."""
    if a.dtype.kind == "f":
        np.add(a, 0, out=a)  # -0.0 + 0.0 = +0.0 (round to nearest)
        nan = np.isnan(a)
        if nan.any():
            a[nan] = np.nan
    return a
