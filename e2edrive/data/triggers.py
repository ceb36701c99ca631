"""Triggers of the data engine: which control steps of a rollout are worth keeping, and why.

A rollout fills one `StepRecord` per control step (batched over B environments): the scalars the
triggers read. `TRIGGERS` is an explicit, versioned registry of pure functions StepRecord -> (B,)
bool; `fire(record)` runs them and returns, per environment, the names that fired (the index's
`flags` column) and the highest priority among them (its `priority` column). A trigger's version
is bumped whenever its rule or threshold changes, so clips mined with an old rule can be told
apart: the recorder stores {name: version} in each index part (format.TRIGGERS_KEY) and the clip
table (`clip_table`) carries the version of every clip.

The helpers at the end compute the derived fields from core types (labels, images, the network's
occupancy head), so every caller derives them the same way.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import torch

from e2edrive.core import constants as C

# Thresholds (named, so that changing one is visible and bumps the trigger's version).
TTC_LOW_S = 1.5  # s: below this, a collision is imminent at the current speeds
HARD_BRAKE_ACCEL = -4.0  # m/s^2: about half of full braking; comfort limits are near -3
SHADOW_STEER_DIFF = 0.1  # rad of front-wheel angle between the acting and the shadow driver
SHADOW_ACCEL_DIFF = 2.0  # m/s^2
SHADOW_ADE_2S = 1.0  # m, mean displacement between the two plans over 2 s
HAZARD_RANGE = 30.0  # m from the ego: vulnerable or unclassifiable objects nearer than this
ROUTE_CORRIDOR = 2.5  # m from the route centreline: half a lane plus half the ego's width
HEAD_INCONSISTENT_ACCEL = 0.5  # m/s^2: accelerating while the occupancy head says the path is blocked
OCCUPIED_PROB = 0.5  # occupancy probability above which a cell counts as occupied
BLACK_LEVEL = 16  # uint8: a camera frame whose brightest pixel is at most this is black
HAZARD_CLASSES = (C.ObjectClass.PEDESTRIAN, C.ObjectClass.CHICKEN, C.ObjectClass.GOOSE, C.ObjectClass.UNKNOWN)


@dataclass
class StepRecord:
    """What the triggers read at one control step; every field is (B,), on any device.

    infraction:            bool, any infraction (sim.metrics.StepInfractions) at this step
    intervention:          bool, a safety driver / the expert took over
    ttc:                   float s, time to collision (inf: none)
    accel:                 float m/s^2, executed ego acceleration
    shadow_steer_diff:     float rad, |acting - shadow| steer (NaN: no shadow driver)
    shadow_accel_diff:     float m/s^2, |acting - shadow| accel (NaN: no shadow driver)
    shadow_ade_1s/_fde_1s: float m, mean / final displacement of the acting and shadow plans over 1 s
    shadow_ade_2s/_fde_2s: float m, the same over 2 s (NaN: no shadow driver)
    shadow_reason_differs: bool, the two drivers give different reasons
    hazard_dist:           float m, nearest animal, pedestrian or unknown object on the route
                           (`hazard_distance`; inf: none)
    traffic_light:         long LightState of the route's light; -1 unknown
    prev_traffic_light:    long, the same at the previous step; -1 unknown (first step)
    path_blocked:          bool, the occupancy head says the planned path is blocked (`path_blocked`)
    planner_accel:         float m/s^2, the network's commanded accel (NaN: no network)
    camera_black:          bool, any camera frame black (`camera_faults`)
    camera_frozen:         bool, any camera frame identical to the previous one
    oncoming_gap:          float m to the nearest oncoming vehicle ahead (Labels.oncoming_gap;
                           inf: none; NaN: unknown)
    """

    infraction: torch.Tensor
    intervention: torch.Tensor
    ttc: torch.Tensor
    accel: torch.Tensor
    shadow_steer_diff: torch.Tensor
    shadow_accel_diff: torch.Tensor
    shadow_ade_1s: torch.Tensor
    shadow_fde_1s: torch.Tensor
    shadow_ade_2s: torch.Tensor
    shadow_fde_2s: torch.Tensor
    shadow_reason_differs: torch.Tensor
    hazard_dist: torch.Tensor
    traffic_light: torch.Tensor
    prev_traffic_light: torch.Tensor
    path_blocked: torch.Tensor
    planner_accel: torch.Tensor
    camera_black: torch.Tensor
    camera_frozen: torch.Tensor
    oncoming_gap: torch.Tensor

    @classmethod
    def empty(cls, B: int, device: torch.device | str = "cpu", **given: torch.Tensor) -> StepRecord:
        """A record where nothing happened: False, NaN (absent), inf (no hazard), -1 (unknown light).
        `given` fields replace the defaults, so callers fill only what they have."""
        unknown = set(given) - {f.name for f in fields(cls)}
        if unknown:
            raise TypeError(f"StepRecord has no fields {sorted(unknown)}")
        nan, inf = float("nan"), float("inf")
        value = {f.name: False for f in fields(cls)}
        value.update({n: nan for n in ("accel", "planner_accel", "oncoming_gap") + _SHADOW_FLOATS})
        value.update(ttc=inf, hazard_dist=inf, traffic_light=-1, prev_traffic_light=-1)
        out = {}
        for name, v in value.items():
            dtype = torch.bool if isinstance(v, bool) else torch.long if isinstance(v, int) else torch.float32
            out[name] = (
                given[name].to(device) if name in given else torch.full((B,), v, dtype=dtype, device=device)
            )
        rec = cls(**out)
        for name, t in out.items():
            if t.shape != (B,):
                raise ValueError(f"StepRecord.{name} must have shape ({B},), got {tuple(t.shape)}")
        return rec


_SHADOW_FLOATS = (
    "shadow_steer_diff",
    "shadow_accel_diff",
    "shadow_ade_1s",
    "shadow_fde_1s",
    "shadow_ade_2s",
    "shadow_fde_2s",
)


@dataclass(frozen=True)
class Trigger:
    """A named, versioned rule. fn is pure: StepRecord -> (B,) bool. Comparisons with NaN are False,
    so a field nobody filled never fires."""

    name: str
    version: int
    priority: float  # mining priority of its clips (higher: rarer or more useful)
    description: str
    fn: Callable[[StepRecord], torch.Tensor]


def _shadow_disagreement(r: StepRecord) -> torch.Tensor:
    return (
        (r.shadow_steer_diff > SHADOW_STEER_DIFF)
        | (r.shadow_accel_diff > SHADOW_ACCEL_DIFF)
        | (r.shadow_ade_2s > SHADOW_ADE_2S)
        | r.shadow_reason_differs
    )


def _light_change(r: StepRecord) -> torch.Tensor:
    known = (r.traffic_light >= 0) & (r.prev_traffic_light >= 0)  # no change from or to "unknown"
    return known & (r.traffic_light != r.prev_traffic_light)


_ALL = (
    Trigger("infraction", 1, 1.0, "an infraction (collision, off road, red light)", lambda r: r.infraction),
    Trigger("expert_takeover", 1, 0.9, "the expert / safety driver took over", lambda r: r.intervention),
    Trigger(
        "head_inconsistency",
        1,
        0.8,
        f"occupancy says the path is blocked but the planner accelerates > {HEAD_INCONSISTENT_ACCEL} m/s^2",
        lambda r: r.path_blocked & (r.planner_accel > HEAD_INCONSISTENT_ACCEL),
    ),
    Trigger("ttc_low", 1, 0.7, f"time to collision < {TTC_LOW_S} s", lambda r: r.ttc < TTC_LOW_S),
    Trigger(
        "shadow_disagreement",
        1,
        0.6,
        f"shadow driver differs: steer > {SHADOW_STEER_DIFF} rad, accel > {SHADOW_ACCEL_DIFF} m/s^2, "
        f"ADE@2s > {SHADOW_ADE_2S} m, or another reason",
        _shadow_disagreement,
    ),
    Trigger(
        "hard_brake", 1, 0.5, f"ego accel <= {HARD_BRAKE_ACCEL} m/s^2", lambda r: r.accel <= HARD_BRAKE_ACCEL
    ),
    Trigger(
        "camera_fault",
        1,
        0.4,
        "a camera frame is black or frozen",
        lambda r: r.camera_black | r.camera_frozen,
    ),
    Trigger(
        "class_presence",
        1,
        0.3,
        f"an animal, pedestrian or unknown object on the route within {HAZARD_RANGE} m",
        lambda r: r.hazard_dist < HAZARD_RANGE,
    ),
    Trigger("light_change", 1, 0.2, "the route's traffic light changed state", _light_change),
)
TRIGGERS: dict[str, Trigger] = {t.name: t for t in _ALL}


def fire(record: StepRecord, triggers: dict[str, Trigger] = TRIGGERS) -> tuple[list[list[str]], torch.Tensor]:
    """Run every trigger. Returns (flags, priority): flags[b] the names (no version: that is stored
    beside them, format.TRIGGERS_KEY) of the triggers that fired for environment b, in registry order;
    priority (B,) float32 the highest priority among them (0 where none fired)."""
    names = list(triggers)
    B = record.ttc.shape[0]
    if not names:
        return [[] for _ in range(B)], torch.zeros(B, device=record.ttc.device)
    fired = torch.stack([triggers[n].fn(record).bool() for n in names], 1)  # (B, K)
    prio = torch.tensor([triggers[n].priority for n in names], dtype=torch.float32, device=fired.device)
    priority = torch.where(fired, prio, torch.zeros_like(prio)).amax(1)  # (B,)
    rows = fired.cpu().tolist()  # one host sync for the whole batch
    return [[n for n, f in zip(names, row) if f] for row in rows], priority


def trigger_versions(triggers: dict[str, Trigger] = TRIGGERS) -> dict[str, int]:
    return {name: t.version for name, t in triggers.items()}


# ---------------------------------------------------------------- derived fields from core types
def hazard_distance(
    boxes: torch.Tensor, box_class: torch.Tensor, box_valid: torch.Tensor, route_points: torch.Tensor
) -> torch.Tensor:
    """(B,) m from the ego (rear axle) to the centre of the nearest animal, pedestrian or unknown
    object that is on the route: its bounding circle comes within ROUTE_CORRIDOR of the route
    polyline and its centre is within HAZARD_RANGE of the ego. inf where there is none.

    boxes (B, M, 9) ego frame [x, y, z, l, w, h, yaw, vx, vy]; box_class (B, M); box_valid (B, M);
    route_points (B, P, 2) ego-frame centreline points (NavGoal.route_points)."""
    xy = boxes[..., :2].float()  # (B, M, 2)
    radius = 0.5 * torch.hypot(boxes[..., 3], boxes[..., 4]).float()  # (B, M) bounding circle
    a, b = route_points[:, None, :-1].float(), route_points[:, None, 1:].float()  # (B, 1, S, 2) segments
    ab = b - a
    ap = xy[:, :, None] - a  # (B, M, S, 2)
    u = ((ap * ab).sum(-1) / (ab * ab).sum(-1).clamp_min(1e-9)).clamp(0, 1)  # (B, M, S) projection
    lateral = (ap - u[..., None] * ab).norm(dim=-1).amin(-1)  # (B, M) distance to the polyline
    dist = xy.norm(dim=-1)  # (B, M)
    hazard = torch.zeros_like(box_valid, dtype=torch.bool)
    for cls in HAZARD_CLASSES:
        hazard |= box_class == int(cls)
    keep = box_valid.bool() & hazard & (lateral - radius <= ROUTE_CORRIDOR) & (dist < HAZARD_RANGE)
    return torch.where(keep, dist, torch.full_like(dist, float("inf"))).amin(-1)


def camera_faults(
    images: torch.Tensor, prev_images: torch.Tensor | None
) -> tuple[torch.Tensor, torch.Tensor]:
    """(black, frozen), each (B,) bool: any camera whose brightest pixel is at most BLACK_LEVEL;
    any camera whose frame is bit-identical to the previous one (False without prev_images).
    images, prev_images: (B, N, 3, H, W) uint8."""
    black = (images.flatten(2).amax(-1) <= BLACK_LEVEL).any(1)  # (B, N) -> (B,)
    if prev_images is None:
        return black, torch.zeros_like(black)
    frozen = (images == prev_images).flatten(2).all(-1).any(1)  # (B, N) -> (B,)
    return black, frozen


def path_blocked(
    occupancy: torch.Tensor,
    plan_xy: torch.Tensor,
    grid: C.BevGrid = C.LABEL_GRID,
    is_logits: bool = True,
    samples_per_segment: int = 8,
) -> torch.Tensor:
    """(B,) bool: some cell under the planned path (any height) is occupied with probability above
    OCCUPIED_PROB. The path is the polyline ego origin -> plan points, swept EGO_WIDTH wide (centre
    and both sides), beyond the ego's own front bumper; samples outside the grid are ignored.

    occupancy (B, nz, X, Y): logits (is_logits) or probabilities over `grid`'s extent; X, Y may be
    coarser than the grid's own cells (the model pools the label grid), the cell size follows them.
    plan_xy (B, P, 2) ego frame (DrivingOutput.plan[..., :2])."""
    B, _, X, Y = occupancy.shape
    prob = occupancy.sigmoid() if is_logits else occupancy
    occupied = (prob > OCCUPIED_PROB).any(1)  # (B, X, Y)
    pts = torch.cat([plan_xy.new_zeros(B, 1, 2), plan_xy.float()], 1)  # (B, P+1, 2)
    a, d = pts[:, :-1], pts[:, 1:] - pts[:, :-1]  # (B, S, 2) segment starts and directions
    s = torch.arange(samples_per_segment + 1, device=pts.device, dtype=pts.dtype) / samples_per_segment
    centre = a[:, :, None] + s[:, None] * d[:, :, None]  # (B, S, K, 2)
    normal = torch.stack([-d[..., 1], d[..., 0]], -1) / d.norm(dim=-1, keepdim=True).clamp_min(1e-6)
    side = 0.5 * C.EGO_WIDTH * normal[:, :, None]  # (B, S, 1, 2)
    samples = torch.cat([centre, centre + side, centre - side], 2).flatten(1, 2)  # (B, S*3K, 2)
    front = C.EGO_LENGTH - C.EGO_REAR_OVERHANG  # m, the front bumper ahead of the rear axle
    i = ((samples[..., 0] - grid.x_min) / (grid.x_max - grid.x_min) * X).floor().long()
    j = ((samples[..., 1] - grid.y_min) / (grid.y_max - grid.y_min) * Y).floor().long()
    inside = (i >= 0) & (i < X) & (j >= 0) & (j < Y) & (samples[..., 0] > front)
    flat = i.clamp(0, X - 1) * Y + j.clamp(0, Y - 1)  # (B, S*3K)
    hit = occupied.flatten(1).gather(1, flat)
    return (hit & inside).any(1)


# ---------------------------------------------------------------- clips
CLIP_BEFORE = round(3.0 / C.DT)  # steps of context before a firing: 3 s, what led to it
CLIP_AFTER = round(2.0 / C.DT)  # steps after: 2 s, how it resolved
CLIP_SCHEMA = pa.schema(
    [
        ("episode", pa.int64()),
        ("t", pa.int32()),  # the first firing of the clip
        ("trigger", pa.string()),
        ("version", pa.int32()),  # the trigger's version when the episode was recorded (-1: unknown)
        ("priority", pa.float32()),
        ("start_t", pa.int32()),  # first frame of the clip
        ("end_t", pa.int32()),  # last frame of the clip (inclusive)
        ("firings", pa.int32()),  # steps at which the trigger fired inside the clip
    ]
)


def merge_windows(key: np.ndarray, start: np.ndarray, end: np.ndarray) -> np.ndarray:
    """Group ids that merge overlapping windows [start, end] (inclusive) of equal `key`.

    All arrays (N,) int, sorted by (key, start). A window joins the current group when it starts at
    or before the group's end so far (touching but disjoint ones, end + 1 == start, stay apart).
    Returns (N,) int64 group ids 0..G-1, in order."""
    change = key_change(key)
    if len(key) == 0:
        return np.zeros(0, np.int64)
    seg = np.cumsum(change) - 1  # (N,) key segment of each window
    span = int(end.max()) - int(end.min()) + 1
    lifted = end.astype(np.int64) + span * seg  # later segments lie above earlier ones: one cummax
    reach = np.maximum.accumulate(lifted) - span * seg  # (N,) end of the group so far, per segment
    new = change.copy()
    new[1:] |= start[1:] > reach[:-1]
    return np.cumsum(new) - 1


def key_change(key: np.ndarray) -> np.ndarray:
    """(N,) bool, True where key differs from the previous entry (and at 0)."""
    change = np.ones(len(key), bool)
    change[1:] = key[1:] != key[:-1]
    return change


def clip_table(
    index: pa.Table,
    versions: Mapping[int, Mapping[str, int]] | None = None,
    triggers: Mapping[str, Trigger] = TRIGGERS,
) -> pa.Table:
    """One row per clip (CLIP_SCHEMA) cut around the firings in the index's `flags` column.

    A firing at step t of an episode of T frames gives the window [max(0, t - 3 s), min(T - 1,
    t + 2 s)]; overlapping windows of the same trigger in one episode merge into one clip whose t is
    the first firing, with the number of firings. priority: the trigger's registry priority, or
    the frame's `priority` column for a name the registry does not know. version: versions[episode]
    [name] (the recorded ones, format.TRIGGERS_KEY) if given, else the registry's, else -1.
    T is the episode's largest t in `index` + 1: pass the whole index, not a filtered one."""
    episode = index["episode"].to_numpy()
    t_all = index["t"].to_numpy().astype(np.int64)
    flags = index["flags"].combine_chunks() if index.num_rows else pa.array([], pa.list_(pa.string()))
    row = pc.list_parent_indices(flags).to_numpy()  # (F,) frame row of each firing
    name = pc.list_flatten(flags).to_numpy(zero_copy_only=False).astype(str)  # (F,)
    if len(row) == 0:
        return CLIP_SCHEMA.empty_table()
    eps, inverse = np.unique(episode, return_inverse=True)
    last = np.full(len(eps), -1, np.int64)
    np.maximum.at(last, inverse, t_all)  # (E,) T - 1 per episode
    names, name_id = np.unique(name, return_inverse=True)
    ep, t = episode[row], t_all[row]
    start = np.maximum(0, t - CLIP_BEFORE)
    end = np.minimum(last[inverse[row]], t + CLIP_AFTER)
    order = np.lexsort((t, name_id, ep))  # by episode, trigger, time
    ep, name_id, t, start, end, row = (a[order] for a in (ep, name_id, t, start, end, row))
    key = ep * len(names) + name_id
    group = merge_windows(key, start, end)
    firsts = np.flatnonzero(key_change(group))  # first firing of each clip
    frame_prio = index["priority"].to_numpy()[row] if "priority" in index.column_names else np.zeros(len(t))
    prio_of = np.array([triggers[n].priority if n in triggers else np.nan for n in names])
    prio = np.where(np.isnan(prio_of[name_id]), frame_prio, prio_of[name_id])
    clip_ep, clip_name = ep[firsts], name_id[firsts]
    version = [
        (versions or {})
        .get(int(e), {})
        .get(names[k], triggers[names[k]].version if names[k] in triggers else -1)
        for e, k in zip(clip_ep.tolist(), clip_name.tolist())
    ]
    cols = {
        "episode": clip_ep,
        "t": t[firsts],
        "trigger": names[clip_name],
        "version": version,
        "priority": np.maximum.reduceat(prio, firsts),
        "start_t": np.minimum.reduceat(start, firsts),
        "end_t": np.maximum.reduceat(end, firsts),
        "firings": np.diff(np.append(firsts, len(t))),
    }
    return pa.table(cols, schema=CLIP_SCHEMA)
