"""Episode shards: one file per episode, a sequence of fixed-size frame records.

A record holds every per-frame array of one frame (images, depth, labels, ...) at 64-byte-aligned
offsets; its layout is a numpy structured dtype, so the shard memory-maps as `(T,)` records and
`records["depth"][rows]` reads only the bytes it needs. Frame-major order is what makes recording
stream: each step appends one record per environment to the episode's temp file, so the recorder
holds nothing but the small index scalars in memory, however long the episode. It also means a
clip's frames are contiguous on disk.

The layout (per array: offset, dtype, per-frame shape, size before bit packing), the frame count
and the file's sha256 form the episode's manifest, which the caller stores in the episode's index
part. A shard is committed by fsync + rename from its temp name; the index part follows it.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import numpy as np

from e2edrive.data.format import ARRAY_BY_NAME, CHECKSUM, CorruptShardError, fsync_dir

_ALIGN = 64  # bytes: cache-line / SIMD aligned array starts inside a record
_CHUNK = 1 << 22  # 4 MiB reads when verifying a checksum


def pack_array(name: str, arr: np.ndarray) -> np.ndarray:
    """The on-disk form of a (B, ...) array: the dtype of its spec, bits packed along the last axis
    where the spec says (values must then be 0 or 1), float16 only for values that fit."""
    spec = ARRAY_BY_NAME[name]
    if spec.packed:
        if arr.size and arr.max() > 1:
            raise ValueError(f"{name}: a packed binary grid must hold only 0 and 1, found max {arr.max()}")
        return np.packbits(arr.astype(np.uint8, copy=False), axis=-1)
    if spec.dtype == "float16" and arr.size:
        peak = float(np.abs(arr).max())
        if not np.isfinite(peak) or peak > np.finfo(np.float16).max:
            raise ValueError(f"{name}: values up to {peak} do not fit float16 (max 65504); clamp them first")
    return np.ascontiguousarray(arr, dtype=spec.dtype)


def record_layout(arrays: dict[str, np.ndarray], packed_dims: dict[str, int]) -> dict:
    """Layout of one frame record from a batch of on-disk arrays (B, ...): JSON-able manifest part."""
    fields, offset = {}, 0
    for name, arr in arrays.items():
        offset += -offset % _ALIGN
        fields[name] = {
            "offset": offset,
            "dtype": arr.dtype.str,
            "shape": list(arr.shape[1:]),
            "packed_last_dim": packed_dims.get(name),
        }
        offset += arr[0].nbytes if len(arr) else int(np.prod(arr.shape[1:])) * arr.dtype.itemsize
    return {"fields": fields, "record_bytes": offset + (-offset % _ALIGN)}


def record_dtype(layout: dict) -> np.dtype:
    f = layout["fields"]
    return np.dtype(
        {
            "names": list(f),
            "offsets": [e["offset"] for e in f.values()],
            "formats": [(np.dtype(e["dtype"]), tuple(e["shape"])) for e in f.values()],
            "itemsize": layout["record_bytes"],
        }
    )


class ShardWriter:
    """Appends frame records to a temp file, hashing as it goes; `commit` makes it durable."""

    def __init__(self, tmp_path: Path):
        self.tmp_path = Path(tmp_path)
        self._file = open(self.tmp_path, "wb")
        self._hash = hashlib.sha256()
        self.frames = 0

    def append(self, record: np.ndarray) -> None:
        """record: (1,) structured array of the shard's record dtype (padding bytes zeroed)."""
        data = record.data
        self._file.write(data)
        self._hash.update(data)
        self.frames += 1

    def commit(self, final_path: Path) -> str:
        """fsync, rename onto final_path, fsync the directory; return the sha256 hex digest."""
        if final_path.exists():
            self.abort()
            raise FileExistsError(f"shard {final_path} already exists; refusing to overwrite it")
        self._file.flush()
        os.fsync(self._file.fileno())
        self._file.close()
        os.rename(self.tmp_path, final_path)
        fsync_dir(final_path.parent)
        return self._hash.hexdigest()

    def abort(self) -> None:
        if not self._file.closed:
            self._file.close()
        self.tmp_path.unlink(missing_ok=True)


def file_digest(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(_CHUNK):
            h.update(chunk)
    return h.hexdigest()


class EpisodeShard:
    """Memory-mapped records of one episode, checked against its manifest when opened.

    Opening checks the file exists and has exactly frames x record_bytes bytes (truncation, for
    free) and, with verify=True, its sha256; failures raise CorruptShardError naming the file.
    """

    def __init__(self, path: Path, manifest: dict, verify: bool = True):
        self.path = Path(path)
        self.manifest = manifest
        if not self.path.is_file():
            raise CorruptShardError(self.path, "file is missing")
        size, need = self.path.stat().st_size, manifest["frames"] * manifest["record_bytes"]
        if size != need:
            raise CorruptShardError(self.path, f"size {size} bytes, the manifest says {need} (truncated?)")
        if verify and file_digest(self.path) != manifest[CHECKSUM]:
            raise CorruptShardError(self.path, f"{CHECKSUM} mismatch (bytes changed since recording)")
        dtype = record_dtype(manifest)
        self.records = np.memmap(self.path, dtype=dtype, mode="r", shape=(manifest["frames"],))  # (T,)

    @property
    def length(self) -> int:
        return int(self.manifest["frames"])

    def read(self, name: str, rows: np.ndarray) -> np.ndarray:
        """Rows (an index array) of one array, copied into memory, unpacked, float16 -> float32."""
        arr = np.array(self.records[name][np.asarray(rows)])  # (len(rows), ...) copy out of the map
        packed = self.manifest["fields"][name]["packed_last_dim"]
        if packed is not None:
            arr = np.unpackbits(arr, axis=-1, count=packed)
        if arr.dtype == np.float16:
            arr = arr.astype(np.float32)
        return arr
