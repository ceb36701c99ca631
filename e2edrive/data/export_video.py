"""Export recorded episodes: the 8 cameras as one MP4 mosaic, or the whole dataset as Parquet +
per-camera MP4 ("parquet-mp4", below), both through core.video.VideoWriter (PyAV).

Mosaic layouts. "rig": the rig's own camera order, 4 per row, as `e2edrive drive --video` and the
evaluation videos tile them (front_main, front_wide, front_left, front_right / side_left,
side_right, rear_main, rear_left for the default rig). "driver": the views where a driver would
place them (forward on top, backward below); another rig falls back to its own order:

    front_left  | front_main | front_wide | front_right
    side_left   | rear_left  | rear_main  | side_right

Tiles are drawn by sim.topdown.mosaic (named at the top left). A camera whose frame was missing
(camera_valid False) is shown darkened, so dropouts are visible in the video.

Parquet + MP4 export (`e2edrive dataset export DIR --out OUT --format parquet-mp4`):

    OUT/info.json                          format "e2edrive-parquet-mp4", version, source dataset,
                                           rig, fps, array shapes, and per episode: scenario, seed,
                                           frames, tags, results (EpisodeResult) and its files
    OUT/data/episode_NNNNNN.parquet        one row per frame, frame t in row t
    OUT/videos/episode_NNNNNN/CAMERA.mp4   one video per camera (rig names), frame t = row t

A Parquet row holds every column of the dataset's index (FORMAT.md) except `shard` and `row`,
plus each low-dimensional shard array as `array.NAME`, flattened to a fixed-size list whose
per-frame shape is in info.json's `shapes` (`array.boxes`: [MAX_BOXES, 9]). The dense grids
(occupancy, flow, lanes, drivable, depth, semantics) stay in the dataset's shards: they are not
exported. Video is lossy (H.264, CRF 23): train from the dataset, share and browse the export.
"""

from __future__ import annotations

import json
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
LAYOUTS = ("rig", "driver")
EXPORT_FORMAT, EXPORT_VERSION = "e2edrive-parquet-mp4", 1
# per-frame arrays small enough for a Parquet row; images go to MP4, dense grids stay in the shards
LOWDIM_ARRAYS: tuple[str, ...] = (
    "speed", "accel", "yaw_rate", "steer", "odom", "first", "camera_valid",
    "nav_route_points", "nav_dist_to_turn", "nav_turn_command", "nav_speed_limit",
    "boxes", "box_class", "box_valid", "lane_polylines", "lane_polyline_type", "lane_polyline_valid",
    "traffic_light", "expert_plan", "expert_speed", "expert_action", "reason", "ego_pose", "action",
)  # fmt: skip
_CHUNK = 64  # frames read at a time: bounds memory on long episodes


def mosaic_order(rig: CameraRig, layout: str = "driver") -> list[int]:
    """Camera indices into rig.names in tiling order (rows of 4)."""
    if layout not in LAYOUTS:
        raise ValueError(f"layout must be one of {', '.join(LAYOUTS)}, got {layout!r}")
    if layout == "driver" and set(rig.names) == set(MOSAIC_ORDER):
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
    layout: str = "driver",
) -> Path:
    """Write episode `episode_id` of the dataset at `root` as an MP4 camera mosaic at `path`."""
    from e2edrive.data.dataset import DrivingDataset  # the reader checks meta, index and checksums

    ds = DrivingDataset(root, history=1, episodes=[episode_id], verify=verify)
    shard = ds.shard(episode_id)
    order = mosaic_order(ds.rig, layout)
    with VideoWriter(path, fps=fps) as writer:
        for rows in _chunks(shard.length):
            images, valid = shard.read("images", rows), shard.read("camera_valid", rows)
            for k in range(len(rows)):
                writer.write(episode_frame(images[k], valid[k], ds.rig, order))
    return Path(path)


def _chunks(length: int):
    for t0 in range(0, length, _CHUNK):
        yield np.arange(t0, min(t0 + _CHUNK, length))


def export_parquet_mp4(
    root: str | os.PathLike, out: str | os.PathLike, fps: int = round(1 / DT), verify: bool = True
) -> Path:
    """Export every episode of the dataset at `root` into `out` (layout in the module docstring);
    returns the path of OUT/info.json, written last (a reader that finds it finds every file)."""
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    from e2edrive.data.dataset import DrivingDataset

    ds = DrivingDataset(root, history=1, verify=verify)
    out = Path(out)
    (out / "data").mkdir(parents=True, exist_ok=True)
    index = ds.index.drop_columns(["shard", "row"])
    episodes, shapes = [], {}
    for ep in ds.episodes:
        shard = ds.shard(ep)
        rows = index.filter(pc.equal(index["episode"], ep)).sort_by("t")
        name = f"episode_{ep:06d}"
        table = rows
        for arr in LOWDIM_ARRAYS:
            values = shard.read(arr, np.arange(shard.length))  # (T, ...) small: a few kB per frame
            shapes[f"array.{arr}"] = list(values.shape[1:])
            table = table.append_column(f"array.{arr}", _fixed_list(pa, values))
        pq.write_table(table, out / "data" / f"{name}.parquet")
        video_dir = out / "videos" / name
        video_dir.mkdir(parents=True, exist_ok=True)
        writers = [VideoWriter(video_dir / f"{cam}.mp4", fps=fps) for cam in ds.rig.names]
        try:
            for chunk in _chunks(shard.length):
                images = shard.read("images", chunk)  # (t, N_cam, 3, H, W)
                for w, cam_images in zip(writers, images.transpose(1, 0, 3, 4, 2)):  # (N_cam, t, H, W, 3)
                    for frame in cam_images:
                        w.write(frame)
        except BaseException:
            for w in writers:
                w.abort()
            raise
        for w in writers:
            w.close()
        head = rows.slice(0, 1).to_pylist()[0]
        episodes.append(
            {
                "episode": ep,
                "scenario": head["scenario"],
                "seed": head["seed"],
                "frames": shard.length,
                "tags": head["tags"],
                "result": ds.episode_info.get(ep, {}),
                "data": f"data/{name}.parquet",
                "videos": {cam: f"videos/{name}/{cam}.mp4" for cam in ds.rig.names},
            }
        )
    info = {
        "format": EXPORT_FORMAT,
        "version": EXPORT_VERSION,
        "source": str(Path(root).resolve()),
        "fps": fps,
        "rig": ds.rig.to_dict(),
        "shapes": shapes,
        "episodes": episodes,
    }
    path = out / "info.json"
    path.write_text(json.dumps(info, indent=1, allow_nan=False))
    return path


def _fixed_list(pa, values: np.ndarray):
    """(T, ...) -> a column of T values: scalars as they are, arrays as fixed-size lists (flattened)."""
    if values.ndim == 1:
        return pa.array(values)
    flat = np.ascontiguousarray(values).reshape(len(values), -1)
    return pa.FixedSizeListArray.from_arrays(pa.array(flat.reshape(-1)), flat.shape[1])
