"""How much disk a recording needs, checked before it starts instead of failing deep in a writer.

Every recorded frame stores, per camera, RGB (3 bytes per pixel), depth (float16, 2 bytes) and
semantics (1 byte), plus the label grids and the index row. Measured on the quickstart's datasets
(session 10): 451 kB per frame on the default rig (8 cameras, 64 x 128), 73,133 frames in 33 GB;
the estimate below gives 459 kB. A `quick` quickstart writes about 37,000 frames (17 GB); without
this check a full disk ended it after 17 minutes with a traceback from the shard writer.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from e2edrive.core.rig import CameraRig

BYTES_PER_PIXEL = 3 + 2 + 1  # RGB uint8, depth float16, semantic class uint8
LABEL_BYTES = 64 * 1024  # BEV label grids, boxes, the index row: measured remainder, rounded up


def frame_bytes(rig: CameraRig) -> int:
    """Bytes one recorded frame takes on disk, estimated from the rig."""
    return len(rig.names) * rig.height * rig.width * BYTES_PER_PIXEL + LABEL_BYTES


def check_free_space(path: str | Path, need_bytes: int, what: str) -> None:
    """Raise ValueError with one line saying how much is needed and free (a refusal before anything
    is written, as for any bad argument), when the filesystem holding `path` (or its nearest
    existing parent) has less than need_bytes free."""
    p = Path(path).absolute()
    while not p.exists():
        p = p.parent
    free = shutil.disk_usage(p).free
    if free < need_bytes:
        raise ValueError(
            f"{what} needs about {need_bytes / 1e9:.1f} GB of disk and {p} has {free / 1e9:.1f} GB free: "
            "free some space or give another --out",
        )
