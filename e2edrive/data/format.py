"""The on-disk dataset format: layout, version, the per-frame arrays and the index schema.

A dataset is a directory (FORMAT.md has the full description):

    DIR/meta.json                 format version, rig, label grid, constants, creation info
    DIR/index/000123.parquet      one Parquet part per committed episode (one row per frame);
                                  its schema metadata holds the episode's shard manifest
    DIR/episodes/000123.shard     T fixed-size frame records (every array of a frame at aligned
                                  offsets), memory-mappable; its sha256 is in the manifest
    DIR/.lock                     held (flock) by the one recorder writing the directory

An episode exists once its index part exists: the part is written last, by rename, after every
shard is on disk (fsynced), so an interrupted writer leaves only complete episodes visible.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa

from e2edrive.core import constants as C

FORMAT_NAME = "e2edrive-dataset"
FORMAT_VERSION = 1  # bump on any change a reader of the old version would misread
META_FILE = "meta.json"
INDEX_DIR = "index"
EPISODES_DIR = "episodes"
LOCK_FILE = ".lock"
TMP_PREFIX = ".tmp-"  # in-progress files and directories; readers never look at them
MANIFEST_KEY = b"e2edrive.manifest"  # Parquet schema-metadata key of an episode's shard manifest
EPISODE_INFO_KEY = b"e2edrive.episode"  # and of its episode-level results (JSON, e.g. EpisodeResult)
TRIGGERS_KEY = b"e2edrive.triggers"  # and of the versions of the triggers its `flags` name (JSON)
SHARD_SUFFIX = ".shard"
CHECKSUM = "sha256"  # hashlib; 1.3 GB/s with the SHA extensions of current x86/ARM CPUs (blake2b: 0.7)

# Infractions the world reports per step, named as the fields of sim.metrics.StepInfractions;
# one bool column `infraction_<name>` each.
INFRACTIONS: tuple[str, ...] = (
    "collision_vehicle",
    "collision_pedestrian_animal",
    "collision_static",
    "off_road",
    "red_light_run",
)


@dataclass(frozen=True)
class ArraySpec:
    """One per-frame array of an episode shard.

    source: "obs", "nav", "labels" or "extra": where the recorder reads it (attribute `field`)
    dtype:  numpy dtype on disk; floats stored as float16 are widened to float32 on read
    packed: stored with np.packbits along the last axis (binary grids, {0,1} values)
    """

    name: str
    source: str
    field: str
    dtype: str
    packed: bool = False


# Order is the order of FORMAT.md's table. Shapes are per frame (the shard adds a leading T).
ARRAYS: tuple[ArraySpec, ...] = (
    ArraySpec("images", "obs", "images", "uint8"),  # (N_cam, 3, H, W)
    ArraySpec("speed", "obs", "speed", "float32"),  # ()
    ArraySpec("accel", "obs", "accel", "float32"),  # ()
    ArraySpec("yaw_rate", "obs", "yaw_rate", "float32"),  # ()
    ArraySpec("steer", "obs", "steer", "float32"),  # ()
    ArraySpec("odom", "obs", "odom", "float32"),  # (3,)
    ArraySpec("first", "obs", "first", "bool"),  # ()
    ArraySpec("camera_valid", "obs", "camera_valid", "bool"),  # (N_cam,)
    ArraySpec("nav_route_points", "nav", "route_points", "float32"),  # (10, 2)
    ArraySpec("nav_dist_to_turn", "nav", "dist_to_turn", "float32"),  # ()
    ArraySpec("nav_turn_command", "nav", "turn_command", "int64"),  # ()
    ArraySpec("nav_speed_limit", "nav", "speed_limit", "float32"),  # ()
    ArraySpec("occupancy", "labels", "occupancy", "uint8", packed=True),  # (nz, nx, ny)
    ArraySpec("flow", "labels", "flow", "float16"),  # (2, nx, ny)
    ArraySpec("boxes", "labels", "boxes", "float32"),  # (MAX_BOXES, 9)
    ArraySpec("box_class", "labels", "box_class", "int64"),  # (MAX_BOXES,)
    ArraySpec("box_valid", "labels", "box_valid", "bool"),  # (MAX_BOXES,)
    ArraySpec("lanes", "labels", "lanes", "uint8", packed=True),  # (2, nx, ny)
    ArraySpec("lane_polylines", "labels", "lane_polylines", "float32"),  # (L, P, 2)
    ArraySpec("lane_polyline_type", "labels", "lane_polyline_type", "int64"),  # (L,)
    ArraySpec("lane_polyline_valid", "labels", "lane_polyline_valid", "bool"),  # (L,)
    ArraySpec("drivable", "labels", "drivable", "uint8", packed=True),  # (nx, ny)
    ArraySpec("traffic_light", "labels", "traffic_light", "int64"),  # ()
    ArraySpec("depth", "labels", "depth", "float16"),  # (N_cam, H, W)
    ArraySpec("semantics", "labels", "semantics", "uint8"),  # (N_cam, H, W)
    ArraySpec("expert_plan", "labels", "expert_plan", "float32"),  # (PLAN_STEPS, 3)
    ArraySpec("expert_speed", "labels", "expert_speed", "float32"),  # ()
    ArraySpec("expert_action", "labels", "expert_action", "float32"),  # (2,)
    ArraySpec("reason", "labels", "reason", "int64"),  # ()
    ArraySpec("ego_pose", "extra", "ego_pose", "float32"),  # (3,) world x, y, yaw (world model, replay)
    ArraySpec("action", "extra", "action", "float32"),  # (2,) executed [steer, accel]
)
ARRAY_BY_NAME = {a.name: a for a in ARRAYS}

# Data-engine columns of the index, one per scalar field of data.triggers.StepRecord (same names),
# with the value a frame recorded without that information gets. They were added to version 1 after
# its first datasets: a column is only ever added, so an older reader still reads a newer dataset
# correctly (it ignores them), and this reader fills them in parts that lack them (`conform_index`).
NAN, INF = float("nan"), float("inf")
RECORD_COLUMNS: dict[str, tuple[pa.DataType, object]] = {
    "ttc": (pa.float32(), INF),  # s, time to collision; inf: nothing on a collision course
    "shadow_steer_diff": (pa.float32(), NAN),  # rad, |acting - shadow|; NaN: no shadow driver
    "shadow_accel_diff": (pa.float32(), NAN),  # m/s^2
    "shadow_ade_1s": (pa.float32(), NAN),  # m, mean displacement of the two plans over 1 s
    "shadow_fde_1s": (pa.float32(), NAN),  # m, displacement at 1 s
    "shadow_ade_2s": (pa.float32(), NAN),
    "shadow_fde_2s": (pa.float32(), NAN),
    "shadow_reason_differs": (pa.bool_(), False),
    "hazard_dist": (pa.float32(), INF),  # m to the nearest animal, pedestrian or unknown object on the route
    "traffic_light": (pa.int8(), -1),  # LightState; -1: unknown (a part recorded before the column)
    "path_blocked": (pa.bool_(), False),  # occupancy head says the planned path is blocked
    "planner_accel": (pa.float32(), NAN),  # m/s^2, the network's accel; NaN: no network
    "camera_black": (pa.bool_(), False),
    "camera_frozen": (pa.bool_(), False),
    # m to the nearest oncoming vehicle ahead along the route (Labels.oncoming_gap): a training label
    # beyond the BEV's range; inf: none; NaN: recorded without it
    "oncoming_gap": (pa.float32(), NAN),
}
FLOAT16_MAX = float(np.finfo(np.float16).max)  # 65504: depth in metres and flow in m/s stay far below


class DatasetFormatError(RuntimeError):
    """The directory is not a readable dataset (missing meta, wrong version, empty, incompatible)."""


class CorruptShardError(RuntimeError):
    """A shard file fails its checksum, is truncated, or does not parse. `path` names the file."""

    def __init__(self, path: str | os.PathLike, why: str):
        self.path = Path(path)
        super().__init__(f"corrupt shard {self.path}: {why}")


def episode_name(episode: int) -> str:
    return f"{episode:06d}"


def constants_dict() -> dict:
    """Project conventions a dataset depends on; a reader refuses a dataset recorded with others."""
    return {
        "DT": C.DT,
        "PLAN_STEPS": C.PLAN_STEPS,
        "PLAN_DT": C.PLAN_DT,
        "MAX_BOXES": C.MAX_BOXES,
        "MAX_LANE_POLYLINES": C.MAX_LANE_POLYLINES,
        "LANE_POLYLINE_POINTS": C.LANE_POLYLINE_POINTS,
        "NUM_OBJECT_CLASSES": C.NUM_OBJECT_CLASSES,
        "NUM_SEMANTIC_CLASSES": C.NUM_SEMANTIC_CLASSES,
    }


def grid_dict(grid: C.BevGrid) -> dict:
    keys = ("x_min", "x_max", "y_min", "y_max", "z_min", "z_max", "res", "z_res")
    return {k: getattr(grid, k) for k in keys}


def index_schema() -> pa.Schema:
    """One row per frame. Ego state is at the frame (before its action); actions are the frame's."""
    cols = [
        ("episode", pa.int64()),
        ("t", pa.int32()),
        ("time_s", pa.float64()),
        ("scenario", pa.string()),
        ("seed", pa.int64()),
        ("tags", pa.list_(pa.string())),
        ("ego_x", pa.float64()),
        ("ego_y", pa.float64()),
        ("ego_yaw", pa.float64()),
        ("speed", pa.float32()),
        ("accel", pa.float32()),
        ("steer", pa.float32()),
        ("yaw_rate", pa.float32()),
        ("action_steer", pa.float32()),
        ("action_accel", pa.float32()),
        ("expert_steer", pa.float32()),
        ("expert_accel", pa.float32()),
        ("expert_reason", pa.int16()),
        ("expert_reason_text", pa.string()),
    ]
    cols += [(f"infraction_{n}", pa.bool_()) for n in INFRACTIONS]
    cols += [
        ("intervention", pa.bool_()),
        ("priority", pa.float32()),
        ("flags", pa.list_(pa.string())),
    ]
    cols += [(name, typ) for name, (typ, _) in RECORD_COLUMNS.items()]
    cols += [
        ("shard", pa.string()),
        ("row", pa.int32()),
    ]
    return pa.schema(cols)


def conform_index(table: pa.Table) -> pa.Table:
    """An index part in the current schema's column order, data-engine columns it lacks (a part
    recorded before they existed) filled with their defaults, so parts of any age concatenate."""
    schema = index_schema()
    if table.schema.remove_metadata().equals(schema):  # a current part: nothing to do (the common case)
        return table
    n = table.num_rows
    cols = []
    for field in schema:
        if field.name in table.column_names:
            cols.append(table[field.name])
        elif field.name in RECORD_COLUMNS:
            cols.append(pa.array(np.full(n, RECORD_COLUMNS[field.name][1]), field.type))
        else:
            raise KeyError(f"index column {field.name!r} is missing")
    return pa.Table.from_arrays(cols, schema=schema.with_metadata(table.schema.metadata))


def write_json_atomic(path: Path, obj: dict) -> None:
    """Write JSON to a temp name, fsync, rename: readers see the old file or the new one, never half."""
    tmp = path.with_name(TMP_PREFIX + path.name)
    with open(tmp, "w") as f:
        json.dump(obj, f, indent=2)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    fsync_dir(path.parent)


def fsync_dir(path: Path) -> None:
    """Make a rename or a new entry in `path` durable (POSIX; a no-op where directories can't be opened)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def read_meta(root: Path) -> dict:
    """meta.json of a dataset, checked for format name and version, with clear errors."""
    root = Path(root)
    if not root.is_dir():
        raise DatasetFormatError(f"dataset directory {root} does not exist")
    path = root / META_FILE
    if not path.is_file():
        raise DatasetFormatError(
            f"{root} is not a dataset: {META_FILE} is missing (record one with `e2edrive collect`)"
        )
    try:
        meta = json.loads(path.read_text())
    except json.JSONDecodeError as e:
        raise DatasetFormatError(f"{path} is not valid JSON: {e}") from None
    if meta.get("format") != FORMAT_NAME:
        raise DatasetFormatError(f"{path}: format is {meta.get('format')!r}, expected {FORMAT_NAME!r}")
    if meta.get("version") != FORMAT_VERSION:
        raise DatasetFormatError(
            f"{path}: format version {meta.get('version')} but this e2edrive reads version {FORMAT_VERSION}; "
            "re-record the dataset or use the matching e2edrive release"
        )
    if meta.get("constants") != constants_dict():
        raise DatasetFormatError(
            f"{path}: recorded with constants {meta.get('constants')}, this code uses {constants_dict()}"
        )
    return meta
