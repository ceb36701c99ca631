"""Triggers, derived fields and clip cutting on hand-built worked examples; the recorder's
data-engine columns, and datasets recorded before those columns existed."""

import math

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import torch

from e2edrive.core.constants import LABEL_GRID, BevGrid, LightState, ObjectClass
from e2edrive.core.rig import make_rig
from e2edrive.data.dataset import DrivingDataset, read_trigger_versions
from e2edrive.data.format import RECORD_COLUMNS
from e2edrive.data.recorder import Recorder
from e2edrive.data.synthetic import synthetic_step
from e2edrive.data.triggers import (
    TRIGGERS,
    StepRecord,
    camera_faults,
    clip_table,
    fire,
    hazard_distance,
    path_blocked,
)

NAN, INF = math.nan, math.inf
T, F = True, False


def _rec(**values) -> StepRecord:
    """A StepRecord of B = len(any value) from python lists; the rest stays at its defaults."""
    B = len(next(iter(values.values())))
    return StepRecord.empty(B, **{k: torch.tensor(v) for k, v in values.items()})


# trigger -> (record fields, expected fire per environment)
WORKED = {
    "infraction": (dict(infraction=[T, F, F]), [T, F, F]),
    "expert_takeover": (dict(intervention=[F, T, F]), [F, T, F]),
    "ttc_low": (dict(ttc=[1.0, 1.5, INF, 0.0]), [T, F, F, T]),  # 1.5 s itself is not below
    "hard_brake": (dict(accel=[-4.0, -3.9, -8.0, NAN]), [T, F, T, F]),  # -4 itself fires
    "shadow_disagreement": (
        dict(
            shadow_steer_diff=[0.11, 0.05, NAN, 0.0],
            shadow_accel_diff=[0.0, 2.5, NAN, 0.0],
            shadow_ade_2s=[0.0, 0.0, 1.2, 1.0],
            shadow_reason_differs=[F, F, F, F],
        ),
        [T, T, T, F],  # steer, accel, ADE@2s; ADE exactly 1.0 m does not fire
    ),
    "class_presence": (dict(hazard_dist=[29.9, 30.0, INF]), [T, F, F]),
    "light_change": (
        dict(
            traffic_light=[LightState.RED, LightState.GREEN, LightState.GREEN, LightState.RED],
            prev_traffic_light=[LightState.GREEN, LightState.GREEN, -1, LightState.NONE],
        ),
        [T, F, F, T],  # a change from "unknown" (-1, first step) is not a change
    ),
    "head_inconsistency": (
        dict(path_blocked=[T, T, F, T], planner_accel=[1.0, 0.5, 2.0, NAN]),
        [T, F, F, F],
    ),
    "camera_fault": (dict(camera_black=[T, F, F], camera_frozen=[F, T, F]), [T, T, F]),
}


def test_the_registry_is_explicit_versioned_and_ordered_by_priority():
    assert set(TRIGGERS) == set(WORKED)
    for name, trig in TRIGGERS.items():
        assert trig.name == name and trig.version >= 1 and trig.description
    prios = [t.priority for t in TRIGGERS.values()]
    assert prios == sorted(prios, reverse=True)


@pytest.mark.parametrize("name", list(WORKED))
def test_every_trigger_on_a_worked_example(name):
    values, want = WORKED[name]
    assert TRIGGERS[name].fn(_rec(**values)).tolist() == want
    # and nothing else fires on the same record unless that field is also its own
    flags, _ = fire(_rec(**values))
    assert [name in f for f in flags] == want


def test_shadow_disagreement_on_reason_alone():
    assert TRIGGERS["shadow_disagreement"].fn(_rec(shadow_reason_differs=[T, F])).tolist() == [T, F]


def test_an_empty_record_fires_nothing():
    flags, priority = fire(StepRecord.empty(5))
    assert flags == [[]] * 5 and priority.tolist() == [0.0] * 5


def test_fire_lists_names_and_takes_the_highest_priority():
    rec = _rec(ttc=[1.0, INF, 1.0], accel=[-5.0, 0.0, 0.0], infraction=[F, F, T])
    flags, priority = fire(rec)
    assert flags == [["ttc_low", "hard_brake"], [], ["infraction", "ttc_low"]]
    p = TRIGGERS
    assert priority.tolist() == pytest.approx([p["ttc_low"].priority, 0.0, p["infraction"].priority])
    only = {"hard_brake": TRIGGERS["hard_brake"]}
    assert fire(rec, only)[0] == [["hard_brake"], [], []]


def test_empty_validates_names_and_shapes():
    with pytest.raises(TypeError, match="no fields"):
        StepRecord.empty(2, tttc=torch.zeros(2))
    with pytest.raises(ValueError, match=r"shape \(2,\)"):
        StepRecord.empty(2, ttc=torch.zeros(3))


def _box(x, y, length=0.5, width=0.5):
    return [x, y, 0.5, length, width, 1.0, 0.0, 0.0, 0.0]


def test_hazard_distance_worked_geometry():
    # straight route along +x, points every 5 m from 0 to 45 m; corridor 2.5 m beyond the bounding circle
    route = torch.stack([torch.arange(10) * 5.0, torch.zeros(10)], -1)[None].repeat(4, 1, 1)  # (4, 10, 2)
    boxes = torch.zeros(4, 3, 9)
    cls = torch.full((4, 3), int(ObjectClass.VEHICLE))
    valid = torch.zeros(4, 3, dtype=torch.bool)
    # env 0: a pedestrian at (12, 2) (lateral 2 - r 0.35 < 2.5: on the route, 12.17 m) and a goose at (20, 0)
    boxes[0, 0], cls[0, 0] = torch.tensor(_box(12, 2)), ObjectClass.PEDESTRIAN
    boxes[0, 1], cls[0, 1] = torch.tensor(_box(20, 0)), ObjectClass.GOOSE
    valid[0, :2] = True
    # env 1: a vehicle on the route (not a hazard class) and a chicken 6 m to the side (off the route)
    boxes[1, 0] = torch.tensor(_box(5, 0))
    boxes[1, 1], cls[1, 1] = torch.tensor(_box(10, 6)), ObjectClass.CHICKEN
    valid[1, :2] = True
    # env 2: unknown debris on the route but 35 m away (beyond 30 m), and an invalid pedestrian slot
    boxes[2, 0], cls[2, 0] = torch.tensor(_box(35, 0)), ObjectClass.UNKNOWN
    boxes[2, 1], cls[2, 1] = torch.tensor(_box(3, 0)), ObjectClass.PEDESTRIAN
    valid[2, 0] = True
    # env 3: wide debris (4 x 4 m, r = 2.83) centred 5 m to the side: its edge reaches the corridor
    boxes[3, 0], cls[3, 0] = torch.tensor(_box(8, 5, 4.0, 4.0)), ObjectClass.UNKNOWN
    valid[3, 0] = True
    d = hazard_distance(boxes, cls, valid, route)
    assert d[0].item() == pytest.approx(math.hypot(12, 2), rel=1e-6)
    assert d[1].item() == INF and d[2].item() == INF
    assert d[3].item() == pytest.approx(math.hypot(8, 5), rel=1e-6)


def test_camera_faults():
    imgs = torch.randint(100, 200, (3, 2, 3, 4, 5), dtype=torch.uint8)
    prev = imgs.clone()
    imgs[0, 1] = 10  # env 0: camera 1 black (dark noise below the level)
    prev[1, 0] += 1  # env 1: camera 0 changed, camera 1 identical -> frozen
    prev[2] += 1  # env 2: everything changed
    prev[0] += 1
    black, frozen = camera_faults(imgs, prev)
    assert black.tolist() == [T, F, F] and frozen.tolist() == [F, T, F]
    black, frozen = camera_faults(imgs, None)
    assert black.tolist() == [T, F, F] and frozen.tolist() == [F, F, F]


def test_path_blocked_on_a_coarse_grid():
    grid = BevGrid(-16.0, 48.0, -24.0, 24.0)
    occ = torch.full((3, 2, 32, 24), -10.0)  # logits on the model's 2 m cells over the label grid's extent
    plan = torch.stack([torch.linspace(2, 20, 10), torch.zeros(10)], -1)[None].repeat(3, 1, 1)  # (3, 10, 2)
    occ[0, 1, (10 + 16) // 2, 24 // 2] = 5.0  # env 0: a high voxel at x 10, y 0 under the path
    occ[1, 0, (10 + 16) // 2, (6 + 24) // 2] = 5.0  # env 1: 6 m to the left, clear of the 1.9 m sweep
    occ[2, 0, 16 // 2, 12] = 5.0  # env 2: the ego's own cell (x 0..2), behind its front bumper
    assert path_blocked(occ, plan, grid).tolist() == [T, F, F]
    probs = torch.sigmoid(occ)
    assert path_blocked(probs, plan, grid, is_logits=False).tolist() == [T, F, F]
    # the sweep's edge: occupancy at y = +0.9 m (inside half the ego width) on a fine grid
    fine = torch.zeros(1, 1, LABEL_GRID.nx, LABEL_GRID.ny)
    fine[0, 0, int((10 + 16) / 0.5), int((0.9 + 24) / 0.5)] = 1.0
    assert path_blocked(fine, plan[:1], LABEL_GRID, is_logits=False).tolist() == [T]


def _index(rows: list[tuple[int, int, list[str]]]) -> pa.Table:
    ep, t, flags = zip(*rows)
    return pa.table(
        {
            "episode": pa.array(ep, pa.int64()),
            "t": pa.array(t, pa.int32()),
            "flags": pa.array(flags, pa.list_(pa.string())),
            "priority": pa.array([0.25] * len(rows), pa.float32()),
        }
    )


def test_clip_table_clamps_and_merges():
    # episode 0: 100 frames; episode 1: 40 frames
    flags = {(0, 10): ["hard_brake"], (0, 30): ["hard_brake", "ttc_low"], (0, 81): ["hard_brake"]}
    flags |= {(0, 90): ["custom"], (1, 5): ["ttc_low"], (1, 35): ["ttc_low"]}
    rows = [(e, t, flags.get((e, t), [])) for e, n in ((0, 100), (1, 40)) for t in range(n)]
    clips = clip_table(_index(rows), versions={0: {"hard_brake": 7}}).to_pylist()
    got = [(c["episode"], c["trigger"], c["t"], c["start_t"], c["end_t"], c["firings"]) for c in clips]
    assert got[0] == (0, "custom", 90, 60, 99, 1)  # end clamped to T - 1 = 99
    assert got[1] == (0, "hard_brake", 10, 0, 50, 2)  # 10 -> [0, 30], 30 -> [0, 50]: merged
    assert got[2] == (0, "hard_brake", 81, 51, 99, 1)  # [51, 99] touches [0, 50], no overlap: apart
    assert got[3] == (0, "ttc_low", 30, 0, 50, 1)  # another trigger at the same step: its own clip
    assert got[4] == (1, "ttc_low", 5, 0, 39, 2)  # [0, 25] and [5, 39] overlap: one clip, both firings
    assert len(got) == 5
    by = {(c["episode"], c["trigger"], c["t"]): c for c in clips}
    assert by[(0, "hard_brake", 10)]["version"] == 7  # recorded version wins over the registry's
    assert by[(0, "ttc_low", 30)]["version"] == TRIGGERS["ttc_low"].version
    assert by[(0, "custom", 90)]["version"] == -1 and by[(0, "custom", 90)]["priority"] == 0.25
    assert by[(1, "ttc_low", 5)]["priority"] == pytest.approx(TRIGGERS["ttc_low"].priority)


def test_clip_table_without_firings_is_empty_with_its_schema():
    table = clip_table(_index([(0, 0, []), (0, 1, [])]))
    assert table.num_rows == 0 and "start_t" in table.column_names


RIG = make_rig(8, 16)
GRID = BevGrid(-4.0, 4.0, -3.0, 3.0)


def test_recorder_writes_the_record_columns_and_fires_the_triggers(tmp_path):
    with Recorder(tmp_path, RIG, GRID) as rec:
        for t in range(3):
            obs, labels, action, pose = synthetic_step([1, 2], [t, t], RIG, GRID)
            record = StepRecord.empty(2, ttc=torch.tensor([1.0 if t == 1 else INF, INF]))
            rec.add_step(obs, labels, action, pose, record=record if t > 0 else None)
        rec.end_episode(0, "s", 1)
        rec.end_episode(1, "s", 2)
    index = DrivingDataset(tmp_path, history=1).index
    rows = [r for r in index.to_pylist() if r["seed"] == 1]
    assert [r["flags"] for r in rows] == [[], ["ttc_low"], []]
    assert [r["priority"] for r in rows] == pytest.approx([0.0, TRIGGERS["ttc_low"].priority, 0.0])
    assert rows[1]["ttc"] == 1.0 and rows[0]["ttc"] == INF and math.isnan(rows[0]["shadow_ade_2s"])
    labels_light = synthetic_step([1], [0], RIG, GRID)[1].traffic_light.item()
    assert rows[0]["traffic_light"] == labels_light  # no record: the frame's label
    versions = read_trigger_versions(tmp_path)
    assert versions[0] == {n: t.version for n, t in TRIGGERS.items()}


def test_parts_recorded_before_the_record_columns_read_with_defaults(tmp_path):
    with Recorder(tmp_path, RIG, GRID) as rec:
        for t in range(2):
            rec.add_step(*synthetic_step([3], [t], RIG, GRID))
        rec.end_episode(0, "s", 3)
        for t in range(2):
            rec.add_step(*synthetic_step([4], [t], RIG, GRID))
        rec.end_episode(0, "s", 4)
    part = tmp_path / "index/000000.parquet"
    old = pq.read_table(part)
    old = old.drop_columns(list(RECORD_COLUMNS))  # what a version-1 recorder wrote
    pq.write_table(old, part)
    index = DrivingDataset(tmp_path, history=1).index  # one old part, one new part: they concatenate
    rows = index.to_pylist()
    assert [r["episode"] for r in rows] == [0, 0, 1, 1]
    assert rows[0]["ttc"] == INF and rows[0]["traffic_light"] == -1 and rows[0]["camera_black"] is False
    assert np.isnan(rows[0]["planner_accel"]) and rows[2]["traffic_light"] >= 0
