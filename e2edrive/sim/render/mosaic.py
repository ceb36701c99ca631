"""Pictures of the cameras: a 2 x 4 mosaic with each camera's name, and a dependency-free PNG
writer (zlib + struct) for checking renders by eye.
"""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import numpy as np
import torch

from e2edrive.core.rig import CAMERA_NAMES

# 5x5 glyphs for the characters of camera names ('#' = ink); others draw as a blank.
_GLYPHS = {
    "a": [".###.", "#...#", "#####", "#...#", "#...#"],
    "d": ["####.", "#...#", "#...#", "#...#", "####."],
    "e": ["#####", "#....", "####.", "#....", "#####"],
    "f": ["#####", "#....", "####.", "#....", "#...."],
    "g": [".####", "#....", "#..##", "#...#", ".###."],
    "h": ["#...#", "#...#", "#####", "#...#", "#...#"],
    "i": ["#####", "..#..", "..#..", "..#..", "#####"],
    "l": ["#....", "#....", "#....", "#....", "#####"],
    "m": ["#...#", "##.##", "#.#.#", "#...#", "#...#"],
    "n": ["#...#", "##..#", "#.#.#", "#..##", "#...#"],
    "o": [".###.", "#...#", "#...#", "#...#", ".###."],
    "r": ["####.", "#...#", "####.", "#..#.", "#...#"],
    "s": [".####", "#....", ".###.", "....#", "####."],
    "t": ["#####", "..#..", "..#..", "..#..", "..#.."],
    "w": ["#...#", "#...#", "#.#.#", "##.##", "#...#"],
    "_": [".....", ".....", ".....", ".....", "#####"],
    "c": [".####", "#....", "#....", "#....", ".####"],
    "b": ["####.", "#...#", "####.", "#...#", "####."],
    "k": ["#...#", "#..#.", "###..", "#..#.", "#...#"],
    "p": ["####.", "#...#", "####.", "#....", "#...."],
    "u": ["#...#", "#...#", "#...#", "#...#", ".###."],
    "v": ["#...#", "#...#", "#...#", ".#.#.", "..#.."],
    "y": ["#...#", ".#.#.", "..#..", "..#..", "..#.."],
    "x": ["#...#", ".#.#.", "..#..", ".#.#.", "#...#"],
}
LABEL_H = 9  # px, caption strip above each camera


def draw_text(img: np.ndarray, text: str, x: int, y: int, color=(255, 255, 255)) -> None:
    """Draw lowercase `text` into img (H, W, 3) uint8 with its top-left at (x, y), clipped."""
    for ch in text.lower():
        glyph = _GLYPHS.get(ch)
        if glyph is not None:
            for r, row in enumerate(glyph):
                for c, cell in enumerate(row):
                    yy, xx = y + r, x + c
                    if cell == "#" and 0 <= yy < img.shape[0] and 0 <= xx < img.shape[1]:
                        img[yy, xx] = color
        x += 6


def camera_mosaic(rgb: torch.Tensor, names: tuple[str, ...] = CAMERA_NAMES, cols: int = 4) -> np.ndarray:
    """Tile (N_cam, 3, H, W) uint8 images in rows of `cols` with captions -> (H', W', 3) uint8.

    The default 8 cameras give 2 rows x 4: front row front_main, front_wide, front_left,
    front_right; back row side_left, side_right, rear_main, rear_left.
    """
    if rgb.dim() != 4 or rgb.shape[1] != 3 or rgb.dtype != torch.uint8:
        raise ValueError(f"camera_mosaic wants (N_cam, 3, H, W) uint8, got {tuple(rgb.shape)} {rgb.dtype}")
    n, _, h, w = rgb.shape
    if len(names) != n:
        raise ValueError(f"{n} images but {len(names)} names")
    rows = (n + cols - 1) // cols
    gap = 2
    out = np.zeros((rows * (h + LABEL_H + gap), cols * (w + gap), 3), dtype=np.uint8)
    imgs = rgb.permute(0, 2, 3, 1).cpu().numpy()
    for i in range(n):
        r, c = divmod(i, cols)
        y, x = r * (h + LABEL_H + gap), c * (w + gap)
        draw_text(out, names[i], x + 2, y + 2)
        out[y + LABEL_H : y + LABEL_H + h, x : x + w] = imgs[i]
    return out


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
