"""Export a recorded episode's 8 cameras as one MP4 mosaic (core.video.VideoWriter, PyAV).

Layout for the default rig, as a driver would place the views (forward on top, backward below):

    front_left  | front_main | front_wide | front_right
    side_left   | rear_left  | rear_main  | side_right

Another rig is tiled in its own camera order, 4 per row. Tiles are drawn by sim.topdown.mosaic
(named at the top left). A camera whose frame was missing (camera_valid False) is shown darkened,
so dropouts are visible in the video.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch

from e2edrive.core.constants import DT
from e2edrive.core.rig import CameraRig
from e2edrive.core.video import VideoWriter
from e2edrive.sim.topdown import mosaic

MOSAIC_ORDER: tuple[str, ...] = (
    "front_left",
    "front_main",
    "front_wide",
    "front_right",
    "side_left",
    "rear_left",
    "rear_main",
    "side_right",
)


def mosaic_order(rig: CameraRig) -> list[int]:
    """Camera indices into rig.names in tiling order (rows of 4)."""
    if set(rig.names) == set(MOSAIC_ORDER):
        return [rig.index(n) for n in MOSAIC_ORDER]
    return list(range(rig.num_cameras))


def episode_frame(images: np.ndarray, valid: np.ndarray, rig: CameraRig, order: list[int]) -> torch.Tensor:
    """(N_cam, 3, H, W) uint8 of one frame -> (2 H, 4 W, 3) uint8 mosaic labelled with camera names."""
    tiles = torch.from_numpy(images[order])
    dark = torch.from_numpy(~valid[order])
    tiles[dark] //= 4  # a dropped camera stays visible as a dark tile
    return mosaic(tiles, [rig.names[i] for i in order])


def export_episode_video(
    root: str | os.PathLike,
    episode_id: int,
    path: str | os.PathLike,
    fps: int = round(1 / DT),
    verify: bool = True,
) -> Path:
    """Write episode `episode_id` of the dataset at `root` as an MP4 camera mosaic at `path`."""
    from e2edrive.data.dataset import DrivingDataset  # the reader checks meta, index and checksums

    ds = DrivingDataset(root, history=1, episodes=[episode_id], verify=verify)
    shard = ds.shard(episode_id)
    order = mosaic_order(ds.rig)
    with VideoWriter(path, fps=fps) as writer:
        for t0 in range(0, shard.length, 64):  # chunks bound memory on long episodes
            rows = np.arange(t0, min(t0 + 64, shard.length))
            images, valid = shard.read("images", rows), shard.read("camera_valid", rows)
            for k in range(len(rows)):
                writer.write(episode_frame(images[k], valid[k], ds.rig, order))
    return Path(path)
