"""Clip manifests: a named selection of clips of a dataset, what `e2edrive mine --out` and
`e2edrive curate --out` write and what training reads to train on a subset.

    {"dataset": "runs/data",                  the dataset directory the clips index
     "query": "curate --data runs/data ...",  how the selection was made (to redo it)
     "clips": [{"episode": 3, "start_t": 40, "end_t": 90, "tag": "hard_brake", "priority": 1.0}, ...],
     "sha256": sha256 of json.dumps(clips, sort_keys=True)}

A clip is the frames start_t..end_t of one episode, both ends included. The checksum covers the
clips only (dataset and query are provenance), so two selections of the same clips compare equal
whoever made them, and a hand-edited clip list is caught on reading.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path


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


def manifest_dict(dataset: str | os.PathLike, query: str, clips: list[ClipRef]) -> dict:
    rows = [asdict(c) for c in clips]
    return {"dataset": str(dataset), "query": query, "clips": rows, "sha256": clips_sha256(rows)}


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
