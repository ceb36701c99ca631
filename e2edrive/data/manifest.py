"""Clip manifests: a named selection of clips of a dataset, what `e2edrive mine --out` and
`e2edrive curate --out` write and what training reads to train on a subset.

    {"dataset": "runs/data",                  the dataset directory the clips index
     "query": "curate --data runs/data ...",  how the selection was made (to redo it)
     "clips": [{"episode": 3, "start_t": 40, "end_t": 90, "tag": "hard_brake", "priority": 1.0}, ...],
     "sha256": sha256 of json.dumps(clips, sort_keys=True),
     "dataset_meta_sha256": sha256 of the dataset's meta.json bytes,
     "episodes_sha256": sha256 of the named episodes' shard checksums}

A clip is the frames start_t..end_t of one episode, both ends included. The checksum covers the
clips only (dataset and query are provenance), so two selections of the same clips compare equal
whoever made them, and a hand-edited clip list is caught on reading.

The two dataset hashes pin what the clips index: meta.json holds the recording's creation time and
host (a dataset recorded again at the same path differs), the shard checksums the named episodes'
bytes (episodes appended later change neither). `check_dataset` compares them before training; a
manifest written without them (the dataset was not readable then) is checked for episodes only.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path

import pyarrow.parquet as pq

from e2edrive.data.format import CHECKSUM, INDEX_DIR, MANIFEST_KEY, META_FILE, episode_name


@dataclass(frozen=True)
class ClipRef:
    """Frames start_t..end_t (inclusive) of `episode`; `tag` says why it was chosen."""

    episode: int
    start_t: int
    end_t: int
    tag: str
    priority: float = 0.0

    @property
    def frames(self) -> int:
        return self.end_t - self.start_t + 1


class ManifestError(ValueError):
    """A manifest file that is missing, not JSON, lacks a key or fails its checksum."""


def clips_sha256(clips: list[dict]) -> str:
    return hashlib.sha256(json.dumps(clips, sort_keys=True).encode()).hexdigest()


def dataset_hashes(root: str | os.PathLike, episodes: list[int]) -> dict[str, str]:
    """{"dataset_meta_sha256", "episodes_sha256"} of the dataset at root for these episodes; {} when
    root holds no dataset. An episode without an index part raises ManifestError naming it."""
    root = Path(root)
    if not (root / META_FILE).is_file():
        return {}
    shards = []
    for ep in sorted(set(episodes)):
        part = root / INDEX_DIR / f"{episode_name(ep)}.parquet"
        if not part.is_file():
            raise ManifestError(f"episode {ep} is not in dataset {root} (no {part.relative_to(root)})")
        shards.append([ep, json.loads(pq.read_schema(part).metadata[MANIFEST_KEY])[CHECKSUM]])
    return {
        "dataset_meta_sha256": hashlib.sha256((root / META_FILE).read_bytes()).hexdigest(),
        "episodes_sha256": hashlib.sha256(json.dumps(shards).encode()).hexdigest(),
    }


def check_dataset(manifest: dict, clips: list[ClipRef], root: str | os.PathLike) -> None:
    """Raise ManifestError unless the dataset at root has every episode the clips name (the first
    missing one is named) and, where the manifest stored them, the same hashes."""
    now = dataset_hashes(root, [c.episode for c in clips])
    if not now:
        raise ManifestError(f"the manifest's dataset {root} is not a dataset (no {META_FILE})")
    for key, what in (
        ("dataset_meta_sha256", "meta.json"),
        ("episodes_sha256", "the named episodes' shards"),
    ):
        if key in manifest and manifest[key] != now[key]:
            raise ManifestError(
                f"dataset {root} is not the one the manifest was made from: {what} changed "
                f"({key} {now[key][:12]}... vs {manifest[key][:12]}... in the manifest)"
            )


def manifest_dict(dataset: str | os.PathLike, query: str, clips: list[ClipRef]) -> dict:
    rows = [asdict(c) for c in clips]
    hashes = dataset_hashes(dataset, [c.episode for c in clips])
    return {"dataset": str(dataset), "query": query, "clips": rows, "sha256": clips_sha256(rows), **hashes}


def write_manifest(
    path: str | os.PathLike, dataset: str | os.PathLike, query: str, clips: list[ClipRef]
) -> dict:
    """Write the manifest atomically (temp file, fsync, rename); returns what was written."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    out = manifest_dict(dataset, query, clips)
    tmp = path.with_name(f".tmp-{path.name}")
    with open(tmp, "w") as f:
        json.dump(out, f, indent=1, sort_keys=True)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    return out


def read_manifest(path: str | os.PathLike) -> tuple[dict, list[ClipRef]]:
    """(the manifest dict, its clips), the checksum verified."""
    path = Path(path)
    if not path.is_file():
        raise ManifestError(f"no manifest at {path}")
    try:
        d = json.loads(path.read_text())
        rows, digest = d["clips"], d["sha256"]
        clips = [ClipRef(**r) for r in rows]
    except (ValueError, KeyError, TypeError) as e:
        raise ManifestError(f"{path} is not a clip manifest: {e!r}") from None
    if clips_sha256(rows) != digest:
        raise ManifestError(f"{path}: the clips do not match the manifest's sha256 (edited by hand?)")
    return d, clips
