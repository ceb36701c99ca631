"""Pictures of the cameras: the 2 x 4 mosaic with camera names (sim.topdown.mosaic, shared with
the video export) as a host array, and a dependency-free PNG writer (zlib + struct) for checking
renders by eye.
"""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import numpy as np
import torch

from e2edrive.core.rig import CAMERA_NAMES
from e2edrive.sim.topdown import mosaic


def camera_mosaic(rgb: torch.Tensor, names: tuple[str, ...] = CAMERA_NAMES, cols: int = 4) -> np.ndarray:
    """Tile (N_cam, 3, H, W) uint8 images in rows of `cols`, each named at its top left
    -> (rows H, cols W, 3) uint8. The default rig gives front_main, front_wide, front_left,
    front_right on top and side_left, side_right, rear_main, rear_left below."""
    return mosaic(rgb, list(names), cols).cpu().numpy()


def write_png(path: str | Path, img: np.ndarray) -> None:
    """Write an (H, W, 3) uint8 image as an 8-bit RGB PNG."""
    if img.ndim != 3 or img.shape[2] != 3 or img.dtype != np.uint8:
        raise ValueError(f"write_png wants (H, W, 3) uint8, got {img.shape} {img.dtype}")
    h, w, _ = img.shape
    raw = b"".join(b"\x00" + img[y].tobytes() for y in range(h))  # filter type 0 per row

    def chunk(tag: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data) & 0xFFFFFFFF)
        )

    png = (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0))
        + chunk(b"IDAT", zlib.compress(raw, 6))
        + chunk(b"IEND", b"")
    )
    Path(path).write_bytes(png)
