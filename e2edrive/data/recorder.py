"""`Recorder`: buffers batched steps per environment and commits each episode atomically.

A batched world runs B environments whose episodes end at different steps. The loop calls
`add_step(...)` once per world step with the whole batch (optionally masking environments that are
not recording) and `end_episode(i, scenario, seed)` when environment i finishes.

Each step converts the batch to its on-disk form once (host copy, float16, bit-packed grids) and
appends one frame record per environment to that environment's temp shard, so memory stays at one
step whatever the episode length; only the index scalars wait in memory. `end_episode` commits:
shard fsynced and renamed, then the index part fsynced and renamed. A crash at any point leaves
every previously committed episode readable and no visible trace of the unfinished ones.
"""

from __future__ import annotations

import datetime
import json
import os
import platform
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import torch

from e2edrive.core import constants as C
from e2edrive.core.reasons import REASON_TEXT, Reason
from e2edrive.core.rig import CameraRig
from e2edrive.core.types import Action, Labels, Observation
from e2edrive.data.format import (
    ARRAYS,
    CHECKSUM,
    EPISODE_INFO_KEY,
    EPISODES_DIR,
    FORMAT_NAME,
    FORMAT_VERSION,
    INDEX_DIR,
    INFRACTIONS,
    MANIFEST_KEY,
    META_FILE,
    RECORD_COLUMNS,
    SHARD_SUFFIX,
    TRIGGERS_KEY,
    DatasetFormatError,
    constants_dict,
    episode_name,
    fsync_dir,
    grid_dict,
    index_schema,
    read_meta,
    write_json_atomic,
)
from e2edrive.data.shards import ShardWriter, pack_array, record_dtype, record_layout
from e2edrive.data.triggers import StepRecord, fire, trigger_versions
from e2edrive.data.writers import (
    acquire_lock,
    canonical_float,
    check_worker,
    existing_ids,
    release_lock,
    remove_leftovers,
    tmp_prefix,
    worker_id_range,
)

# arrays whose per-frame values also go into the index (small: kept in memory until the episode ends)
_INDEX_ARRAYS = ("ego_pose", "speed", "accel", "steer", "yaw_rate", "action", "expert_action", "reason")


def _host(t: torch.Tensor, rows: torch.Tensor | None) -> np.ndarray:
    """A host copy the caller owns: a world may overwrite its preallocated device buffers next step."""
    t = t.detach()
    if rows is not None:
        t = t[rows.to(t.device)]  # advanced indexing copies
    elif t.device.type == "cpu":
        t = t.clone()
    return t.cpu().numpy()


class Recorder:
    """Writes a dataset directory (format.py, FORMAT.md). One plain recorder per directory at a
    time (an flock on DIR/.lock enforces it; the kernel drops it if the process dies), plus any
    number of workers with distinct ids beside it (each its own DIR/.lock-wNN, id span and temp
    file prefix: FORMAT.md, "Several writers").

    out_dir: created if missing; an existing dataset is appended to if its rig and grid match
    rig:     camera rig of every observation recorded
    creation: free-form provenance stored in meta.json (command line, scenario list, driver)
    worker:  0..99, this writer's id among concurrent writers of DIR (None: the plain writer)
    """

    def __init__(
        self,
        out_dir: str | os.PathLike,
        rig: CameraRig,
        grid: C.BevGrid = C.LABEL_GRID,
        creation: dict | None = None,
        worker: int | None = None,
    ):
        check_worker(worker)
        self.root = Path(out_dir)
        self.rig, self.grid, self.worker = rig, grid, worker
        self._tmp = tmp_prefix(worker)
        self.root.mkdir(parents=True, exist_ok=True)
        self._lock = acquire_lock(self.root, worker)
        try:
            self._open_dataset(creation or {})
        except BaseException:
            self.close()
            raise
        self._writers: dict[int, ShardWriter] = {}  # env -> its current episode's shard, being appended
        self._steps: dict[int, list[dict]] = {}  # env -> per-step index scalars of that episode
        self._layout: dict | None = None  # frame record layout, fixed by the first step
        self._dtype: np.dtype | None = None

    def _open_dataset(self, creation: dict) -> None:
        remove_leftovers(self.root, self.worker)
        if (self.root / META_FILE).exists():
            meta = read_meta(self.root)
            if not CameraRig.from_dict(meta["rig"]).matches(self.rig):
                raise DatasetFormatError(f"{self.root} was recorded with another camera rig; use a new --out")
            if meta["label_grid"] != grid_dict(self.grid):
                raise DatasetFormatError(
                    f"{self.root} has label grid {meta['label_grid']}, recorder has {grid_dict(self.grid)}"
                )
        else:
            write_json_atomic(
                self.root / META_FILE,
                {
                    "format": FORMAT_NAME,
                    "version": FORMAT_VERSION,
                    "rig": self.rig.to_dict(),
                    "label_grid": grid_dict(self.grid),
                    "constants": constants_dict(),
                    "infractions": list(INFRACTIONS),
                    "arrays": [{"name": a.name, "dtype": a.dtype, "packed": a.packed} for a in ARRAYS],
                    "created": {
                        "utc": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
                        "host": platform.node(),
                        "python": platform.python_version(),
                        "torch": torch.__version__,
                        "numpy": np.__version__,
                        **creation,
                    },
                },
            )
        span = worker_id_range(self.worker)
        ids = existing_ids(self.root, span)
        self._next_id = max(ids) + 1 if ids else span.start

    # ---------------------------------------------------------------- recording
    def add_step(
        self,
        obs: Observation,
        labels: Labels,
        action: Action,
        ego_pose: torch.Tensor,
        *,
        infractions: dict[str, torch.Tensor] | None = None,
        intervention: torch.Tensor | None = None,
        priority: torch.Tensor | None = None,
        flags: Sequence[Sequence[str]] | None = None,
        active: torch.Tensor | None = None,
        record: StepRecord | None = None,
    ) -> None:
        """Append one frame of every active environment to its current episode.

        obs, labels:  the frame (B, ...); labels carry the expert's action and reason
        action:       (B,) the action executed from this frame (policy, expert or noisy expert)
        ego_pose:     (B, 3) world-frame (x, y, yaw) of the ego at this frame
        infractions:  name -> (B,) bool for names in format.INFRACTIONS; absent names are False
        intervention: (B,) bool, a safety driver / expert took over at this step (data engine)
        priority:     (B,) float, mining priority (higher = rarer / more useful), default 0
        flags:        B lists of trigger names that fired at this step
        active:       (B,) bool, environments to record (default all)
        record:       what the triggers read (data.triggers.StepRecord): its scalars become the index's
                      data-engine columns (format.RECORD_COLUMNS; their defaults without it), and
                      when flags / priority are not given, triggers.fire(record) gives them
        """
        B = obs.batch_size
        if obs.images.shape[1:] != (self.rig.num_cameras, 3, self.rig.height, self.rig.width):
            raise ValueError(
                f"images {tuple(obs.images.shape)} do not match the rig "
                f"(B, {self.rig.num_cameras}, 3, {self.rig.height}, {self.rig.width})"
            )
        g = self.grid
        if labels.occupancy.shape[1:] != (g.nz, g.nx, g.ny):
            raise ValueError(
                f"occupancy {tuple(labels.occupancy.shape)} does not match the label grid "
                f"(B, {g.nz}, {g.nx}, {g.ny})"
            )
        extra = {"ego_pose": ego_pose, "action": action.as_tensor()}
        for name, t in (("ego_pose", ego_pose), ("action", extra["action"])):
            if t.shape[0] != B:
                raise ValueError(f"{name} has batch {t.shape[0]}, observation has {B}")
        unknown = set(infractions or {}) - set(INFRACTIONS)
        if unknown:
            raise ValueError(f"unknown infractions {sorted(unknown)}; known: {list(INFRACTIONS)}")
        if record is not None:
            if record.ttc.shape != (B,):
                raise ValueError(f"record has batch {tuple(record.ttc.shape)}, observation has {B}")
            if flags is None or priority is None:
                fired, fired_priority = fire(record)
                flags = fired if flags is None else flags
                priority = fired_priority if priority is None else priority
        if flags is not None and len(flags) != B:
            raise ValueError(f"flags must hold one list per environment ({B}), got {len(flags)}")
        rows = None if active is None or bool(active.all()) else active.nonzero().flatten()
        envs = list(range(B)) if rows is None else rows.tolist()
        if not envs:
            return
        first = _host(obs.first, rows)
        for k, i in enumerate(envs):
            if first[k] and i in self._writers:
                raise ValueError(
                    f"environment {i}: obs.first is set but its episode has {self._writers[i].frames} "
                    "uncommitted steps; call end_episode(i) (or discard(i)) before the new episode"
                )
        batch, packed_dims = {}, {}
        sources = {"obs": obs, "nav": obs.nav, "labels": labels, "extra": extra}
        for spec in ARRAYS:
            src = sources[spec.source]
            value = src[spec.field] if isinstance(src, dict) else getattr(src, spec.field)
            if value.shape[0] != B:
                raise ValueError(f"{spec.source}.{spec.field} has batch {value.shape[0]}, observation {B}")
            if spec.packed:
                packed_dims[spec.name] = int(value.shape[-1])
            batch[spec.name] = pack_array(spec.name, canonical_float(_host(value, rows)))
        layout = record_layout(batch, packed_dims)
        if self._layout is None:
            self._layout, self._dtype = layout, record_dtype(layout)
        elif layout != self._layout:
            raise ValueError(
                "array shapes changed between steps; a dataset has one frame layout: "
                f"{self._layout['fields']} vs {layout['fields']}"
            )
        # (n_envs,) frame records; zeros because padding bytes are hashed and must be defined
        records = np.zeros(len(envs), self._dtype)
        for name, arr in batch.items():
            records[name] = arr
        n_envs = len(envs)
        infr = {
            name: _host(infractions[name], rows).astype(bool)
            if infractions and name in infractions
            else np.zeros(n_envs, bool)
            for name in INFRACTIONS
        }
        if intervention is None:
            intervention = np.zeros(n_envs, bool)
        else:
            intervention = _host(intervention, rows).astype(bool)
        if priority is None:
            priority = np.zeros(n_envs, np.float32)
        else:
            priority = _host(priority, rows).astype(np.float32)
        columns = self._record_columns(record, labels, rows, n_envs)
        for k, i in enumerate(envs):
            if i not in self._writers:
                tmp = self.root / EPISODES_DIR / f"{self._tmp}env{i:05d}{SHARD_SUFFIX}"
                self._writers[i] = ShardWriter(tmp)
                self._steps[i] = []
                records["first"][k] = True  # an episode starts at its first recorded frame, by definition
            self._writers[i].append(records[k : k + 1])
            step = {name: batch[name][k] for name in _INDEX_ARRAYS}
            step["infractions"] = {n: bool(v[k]) for n, v in infr.items()}
            step["intervention"], step["priority"] = bool(intervention[k]), float(priority[k])
            step["flags"] = list(flags[i]) if flags is not None else []
            step["record"] = {name: v[k] for name, v in columns.items()}
            self._steps[i].append(step)

    @staticmethod
    def _record_columns(record: StepRecord | None, labels: Labels, rows, n: int) -> dict[str, np.ndarray]:
        """(n,) values of each data-engine column for the recorded environments. The light comes
        from the record where it knows it (>= 0), else from the frame's label: always known here; the
        oncoming gap likewise (from the record, else from Labels.oncoming_gap)."""
        out = {}
        for name, (typ, default) in RECORD_COLUMNS.items():
            dtype = typ.to_pandas_dtype()
            if record is None:
                out[name] = np.full(n, default, dtype)
            else:
                out[name] = _host(getattr(record, name), rows).astype(dtype)
        light = _host(labels.traffic_light, rows).astype(np.int8)
        out["traffic_light"] = np.where(out["traffic_light"] >= 0, out["traffic_light"], light)
        if labels.oncoming_gap is not None:  # likewise the oncoming gap, where no record carries it
            gap = _host(labels.oncoming_gap, rows).astype(np.float32)
            out["oncoming_gap"] = np.where(np.isnan(out["oncoming_gap"]), gap, out["oncoming_gap"])
        return out

    def pending(self, i: int) -> int:
        """Steps recorded for environment i's current (uncommitted) episode."""
        return self._writers[i].frames if i in self._writers else 0

    def discard(self, i: int) -> None:
        """Drop environment i's current episode (one not worth keeping)."""
        if i in self._writers:
            self._writers.pop(i).abort()
            self._steps.pop(i)

    def end_episode(
        self, i: int, scenario: str, seed: int, tags: Sequence[str] = (), info: dict | None = None
    ) -> int:
        """Commit environment i's current episode; return its episode id.

        tags: episode-level strings copied into every index row (filterable, e.g. "passed=False")
        info: JSON-able episode results (e.g. EpisodeResult.to_dict()), read back as
              DrivingDataset.episode_info[episode]
        """
        if i not in self._writers:
            raise ValueError(f"environment {i} has no recorded steps to commit")
        info_json = json.dumps(info or {}, allow_nan=False)  # before any write: bad info loses nothing
        writer, steps = self._writers.pop(i), self._steps.pop(i)
        episode = self._next_id
        final = self.root / EPISODES_DIR / f"{episode_name(episode)}{SHARD_SUFFIX}"
        digest = writer.commit(final)
        self._next_id += 1  # the id is taken even if the index write below fails: never reuse a shard name
        manifest = {**self._layout, "frames": writer.frames, CHECKSUM: digest}
        shard = f"{EPISODES_DIR}/{final.name}"
        self._write_index(episode, scenario, seed, tags, steps, shard, manifest, info_json)
        return episode

    def _write_index(self, episode, scenario, seed, tags, steps, shard, manifest, info_json) -> None:
        T = len(steps)
        arrays = {name: np.stack([s[name] for s in steps]) for name in _INDEX_ARRAYS}
        pose, act, exp = arrays["ego_pose"], arrays["action"], arrays["expert_action"]
        reason = arrays["reason"].astype(np.int16)
        cols = {
            "episode": np.full(T, episode, np.int64),
            "t": np.arange(T, dtype=np.int32),
            "time_s": np.arange(T) * C.DT,
            "scenario": [scenario] * T,
            "seed": np.full(T, seed, np.int64),
            "tags": [list(tags)] * T,
            "ego_x": pose[:, 0].astype(np.float64),
            "ego_y": pose[:, 1].astype(np.float64),
            "ego_yaw": pose[:, 2].astype(np.float64),
            "speed": arrays["speed"],
            "accel": arrays["accel"],
            "steer": arrays["steer"],
            "yaw_rate": arrays["yaw_rate"],
            "action_steer": act[:, 0],
            "action_accel": act[:, 1],
            "expert_steer": exp[:, 0],
            "expert_accel": exp[:, 1],
            "expert_reason": reason,
            "expert_reason_text": [
                REASON_TEXT.get(Reason(r), "") if r in Reason._value2member_map_ else ""
                for r in reason.tolist()
            ],
        }
        for n in INFRACTIONS:
            cols[f"infraction_{n}"] = np.array([s["infractions"][n] for s in steps])
        cols["intervention"] = np.array([s["intervention"] for s in steps])
        cols["priority"] = np.array([s["priority"] for s in steps], np.float32)
        cols["flags"] = [s["flags"] for s in steps]
        for name, (typ, _) in RECORD_COLUMNS.items():
            cols[name] = np.array([s["record"][name] for s in steps], typ.to_pandas_dtype())
        cols["shard"] = [shard] * T
        cols["row"] = np.arange(T, dtype=np.int32)
        metadata = {
            MANIFEST_KEY: json.dumps(manifest).encode(),
            EPISODE_INFO_KEY: info_json.encode(),
            TRIGGERS_KEY: json.dumps(trigger_versions()).encode(),  # what the `flags` names meant
        }
        schema = index_schema().with_metadata(metadata)
        table = pa.table(cols, schema=schema)
        final = self.root / INDEX_DIR / f"{episode_name(episode)}.parquet"
        tmp = final.with_name(self._tmp + final.name)
        with open(tmp, "wb") as f:
            pq.write_table(table, f)
            f.flush()
            os.fsync(f.fileno())
        os.rename(tmp, final)  # the commit point of the episode
        fsync_dir(final.parent)

    def close(self) -> None:
        """Release the directory. Uncommitted episodes are dropped (they are unfinished)."""
        for i in list(getattr(self, "_writers", {})):
            self.discard(i)
        release_lock(self._lock)

    def __enter__(self) -> Recorder:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
