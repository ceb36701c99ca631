"""`DrivingDataset`: a torch Dataset of `Clip`s read lazily from a recorded dataset directory.

Sample k is one frame of one episode: T frames of history (every `stride` steps) ending at the
labelled frame, with the labels of that frame. History before the episode's start is padding that
repeats frame 0, whose `first` flag is set, so a streaming model resets on it and attention masks
can drop everything before the last `first`.

Only the index (a few hundred bytes per frame) is in memory; shards are memory-mapped per episode
when first touched (at most `max_open_episodes` at a time) and verified against their blake2b
checksum on that first touch (once per process), so a corrupt episode raises `CorruptShardError`
naming its file only when it is read, and every other episode reads normally.
"""

from __future__ import annotations

import json
import os
import warnings
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import fields
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import torch
from torch.utils.data import Dataset

from e2edrive.core.rig import CameraRig
from e2edrive.core.types import Clip, Labels, NavGoal, Observation
from e2edrive.data.format import (
    EPISODE_INFO_KEY,
    INDEX_DIR,
    MANIFEST_KEY,
    TMP_PREFIX,
    TRIGGERS_KEY,
    CorruptShardError,
    DatasetFormatError,
    conform_index,
    read_meta,
)
from e2edrive.data.shards import EpisodeShard

_OBS_ARRAYS = ("images", "speed", "accel", "yaw_rate", "steer", "odom", "first", "camera_valid")
_NAV_ARRAYS = {
    "route_points": "nav_route_points",
    "dist_to_turn": "nav_dist_to_turn",
    "turn_command": "nav_turn_command",
    "speed_limit": "nav_speed_limit",
}
# Labels kept in the index (one scalar per frame), not in the shards
_INDEX_LABELS = ("oncoming_gap",)
_LABEL_ARRAYS = tuple(f.name for f in fields(Labels) if f.name not in _INDEX_LABELS)


def index_parts(root: str | os.PathLike) -> list[Path]:
    """The committed index parts of a dataset, in episode order."""
    index = Path(root) / INDEX_DIR
    if not index.is_dir():
        return []
    parts = [p for p in index.glob("*.parquet") if not p.name.startswith(TMP_PREFIX)]
    # numeric: worker writers' ids (10 digits and more) must not sort by their first digit
    return sorted(parts, key=lambda p: (int(p.stem) if p.stem.isdigit() else -1, p.name))


def read_index(
    root: str | os.PathLike, skip_unreadable: bool = False
) -> tuple[pa.Table, dict[int, dict], dict[int, dict]]:
    """All committed episodes' index rows (one table, format.index_schema: columns a part lacks
    are filled with their defaults), their shard manifests and their episode info (by episode id)."""
    root = Path(root)
    tables, manifests, infos = [], {}, {}
    for p in index_parts(root):
        try:
            table = pq.ParquetFile(p).read()  # 3x faster than pq.read_table per small file
            manifest = json.loads(table.schema.metadata[MANIFEST_KEY])
            info = json.loads(table.schema.metadata.get(EPISODE_INFO_KEY, b"{}"))
            table = conform_index(table)
        except (pa.ArrowException, OSError, KeyError, TypeError, ValueError) as e:
            if not skip_unreadable:
                raise DatasetFormatError(f"index part {p} is unreadable: {e}") from None
            warnings.warn(f"skipping unreadable index part {p}: {e}", stacklevel=2)
            continue
        ep = int(table["episode"][0].as_py())
        manifests[ep], infos[ep] = manifest, info
        tables.append(table.replace_schema_metadata(None))
    if not tables:
        raise DatasetFormatError(f"{root} has no committed episodes (no {INDEX_DIR}/*.parquet)")
    return pa.concat_tables(tables), manifests, infos


def read_trigger_versions(root: str | os.PathLike) -> dict[int, dict[str, int]]:
    """Episode id -> {trigger name: version} recorded with its index part (none for older parts)."""
    out = {}
    for p in index_parts(root):
        meta = pq.read_schema(p).metadata or {}
        if TRIGGERS_KEY in meta:
            out[int(p.stem)] = json.loads(meta[TRIGGERS_KEY])
    return out


def frame_ranges_mask(
    episode: np.ndarray, t: np.ndarray, clips: Iterable[tuple[int, int, int]]
) -> np.ndarray:
    """(N,) bool: frame (episode[k], t[k]) lies in some clip (episode, start_t, end_t), ends included."""
    c = np.array(list(clips), np.int64).reshape(-1, 3)  # (K, 3)
    if len(c) == 0:
        return np.zeros(len(t), bool)
    span = int(max(t.max(initial=0), c[:, 2].max())) + 1  # one key per (episode, t): episode * span + t
    starts, ends = c[:, 0] * span + c[:, 1], c[:, 0] * span + c[:, 2]
    order = np.argsort(starts, kind="stable")
    starts, reach = starts[order], np.maximum.accumulate(ends[order])  # reach: furthest end so far
    key = episode.astype(np.int64) * span + t
    k = np.searchsorted(starts, key, side="right") - 1  # last clip starting at or before the frame
    return (k >= 0) & (key <= reach[np.maximum(k, 0)])


class DrivingDataset(Dataset):
    """Clips of `history` frames from a dataset directory.

    history:   T, frames per clip (the last one is labelled)
    stride:    steps between clip frames (stride 2 at dt 0.1 s gives 0.2 s spacing)
    seeds / episodes / scenarios: keep only matching frames (train/val splits by seed)
    clips:     keep only frames inside these (episode, start_t, end_t) ranges, ends included (a
               mined manifest); an episode the dataset lacks is an error naming it
    verify:    check each episode's checksums on first read (once per process)
    skip_corrupt: verify every episode now and drop the corrupt ones (listed in `.corrupt`) instead
               of raising when they are read
    """

    def __init__(
        self,
        root: str | os.PathLike,
        history: int = 4,
        stride: int = 1,
        seeds: Iterable[int] | None = None,
        episodes: Iterable[int] | None = None,
        scenarios: Iterable[str] | None = None,
        clips: Iterable[tuple[int, int, int]] | None = None,
        verify: bool = True,
        skip_corrupt: bool = False,
        max_open_episodes: int = 32,
    ):
        if history < 1 or stride < 1:
            raise ValueError(f"history and stride must be >= 1, got history={history} stride={stride}")
        self.root = Path(root)
        self.meta = read_meta(self.root)
        self.rig = CameraRig.from_dict(self.meta["rig"])
        self.history, self.stride, self.verify = history, stride, verify
        self.max_open_episodes = max_open_episodes
        table, self.manifests, self.episode_info = read_index(self.root, skip_unreadable=skip_corrupt)
        heads = table.filter(pc.equal(table["row"], 0))  # one row per episode
        self._shard = dict(zip(heads["episode"].to_pylist(), heads["shard"].to_pylist()))
        self.corrupt: dict[int, str] = {}
        if skip_corrupt:
            for ep in sorted(self.manifests):
                try:
                    EpisodeShard(self._shard_path(ep), self.manifests[ep], verify=True)
                except CorruptShardError as e:
                    self.corrupt[ep] = str(e)
            if self.corrupt:
                warnings.warn(
                    f"skipping {len(self.corrupt)} corrupt episodes: " + "; ".join(self.corrupt.values()),
                    stacklevel=2,
                )
        if clips is not None:
            clips = [tuple(int(v) for v in c) for c in clips]
            missing = sorted({c[0] for c in clips} - set(self.manifests))
            if missing:
                raise DatasetFormatError(
                    f"episode {missing[0]} is not in {self.root} ({len(missing)} missing)"
                )
            table = table.filter(frame_ranges_mask(table["episode"].to_numpy(), table["t"].to_numpy(), clips))
        table = self._filter(table, seeds, episodes, scenarios)
        self.index = table  # pyarrow.Table, one row per frame: the data engine queries it
        self._episode = table["episode"].to_numpy()
        self._t = table["t"].to_numpy().astype(np.int64)
        self._seed = table["seed"].to_numpy()
        # read_index fills the columns an older part lacks with their defaults (NaN: unknown)
        self._oncoming_gap = table["oncoming_gap"].to_numpy().astype(np.float32)
        self._shard = {ep: self._shard[ep] for ep in np.unique(self._episode).tolist()}
        self._open: OrderedDict[int, EpisodeShard] = OrderedDict()
        self._verified: set[int] = set(self.manifests) - set(self.corrupt) if skip_corrupt else set()

    def _filter(self, table: pa.Table, seeds, episodes, scenarios) -> pa.Table:
        mask = pc.invert(pc.is_in(table["episode"], pa.array(sorted(self.corrupt), pa.int64())))
        for col, values in (("seed", seeds), ("episode", episodes), ("scenario", scenarios)):
            if values is not None:
                allowed = pa.array(list(values), table.schema.field(col).type)
                mask = pc.and_(mask, pc.is_in(table[col], allowed))
        table = table.filter(mask)
        if table.num_rows == 0:
            raise DatasetFormatError(
                f"no frames of {self.root} match seeds={seeds} episodes={episodes} "
                f"scenarios={scenarios} (after dropping {len(self.corrupt)} corrupt)"
            )
        return table

    def _shard_path(self, ep: int) -> Path:
        return self.root / self._shard[ep]

    @property
    def episodes(self) -> list[int]:
        return sorted(self._shard)

    def shard(self, ep: int) -> EpisodeShard:
        """The open (memory-mapped, verified) shards of episode ep."""
        if ep in self._open:
            self._open.move_to_end(ep)
            return self._open[ep]
        verify = self.verify and ep not in self._verified
        sh = EpisodeShard(self._shard_path(ep), self.manifests[ep], verify=verify)
        self._verified.add(ep)
        self._open[ep] = sh
        if len(self._open) > self.max_open_episodes:
            self._open.popitem(last=False)
        return sh

    def __len__(self) -> int:
        return len(self._episode)

    def __getitem__(self, k: int) -> Clip:
        ep, t = int(self._episode[k]), int(self._t[k])
        sh = self.shard(ep)
        rows = np.maximum(t - self.stride * np.arange(self.history - 1, -1, -1), 0)  # (T,) oldest first

        def hist(name: str) -> torch.Tensor:
            return torch.from_numpy(sh.read(name, rows))[None]  # (1, T, ...)

        nav = NavGoal(**{f: hist(a) for f, a in _NAV_ARRAYS.items()})
        obs = Observation(rig=self.rig, nav=nav, **{a: hist(a) for a in _OBS_ARRAYS})
        last = np.array([t])
        labels = Labels(
            **{a: torch.from_numpy(sh.read(a, last)) for a in _LABEL_ARRAYS},  # (1, ...)
            oncoming_gap=torch.from_numpy(self._oncoming_gap[k : k + 1]),
        )
        meta = torch.tensor([[ep, t, int(self._seed[k])]], dtype=torch.long)
        return Clip(obs, labels, meta)

    def __getstate__(self) -> dict:
        # DataLoader workers reopen their own memory maps instead of receiving pickled arrays
        state = self.__dict__.copy()
        state["_open"] = OrderedDict()
        return state


def _cat(values: list):
    first = values[0]
    if first is None or any(v is None for v in values):  # an optional field some clips lack
        return None
    if isinstance(first, torch.Tensor):
        return torch.cat(values, 0)
    if isinstance(first, CameraRig):
        if any(v is not first and not v.matches(first) for v in values[1:]):
            raise ValueError("cannot collate clips recorded with different camera rigs")
        return first
    return type(first)(**{f.name: _cat([getattr(v, f.name) for v in values]) for f in fields(first)})


def collate_clips(clips: list[Clip]) -> Clip:
    """Stack clips along B (a DataLoader's collate_fn). Clips must share T and the rig."""
    if not clips:
        raise ValueError("collate_clips needs at least one clip")
    return _cat(clips)
