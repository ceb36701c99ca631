"""The quickstart's engine pieces: prioritized clips, recipes in steps, perception recall geometry."""

import pytest
import torch

from e2edrive.eval.perception import _cells, _seen_by_heatmap, _seen_by_occupancy, recall_table
from e2edrive.train.recipes import RECIPES, get_recipe


class _Frames(torch.utils.data.Dataset):
    def __init__(self, tag: str, n: int):
        self.items = [f"{tag}{i}" for i in range(n)]
        self.index = {"tag": tag}

    def __len__(self):
        return len(self.items)

    def __getitem__(self, i):
        return self.items[i]


def test_prioritized_clips_repeat_the_mined_frames():
    from e2edrive.data.mixture import PrioritizedClips

    mix = PrioritizedClips(_Frames("b", 5), _Frames("m", 2), repeat=3)
    assert len(mix) == 5 + 3 * 2
    assert [mix[i] for i in range(len(mix))] == ["b0", "b1", "b2", "b3", "b4"] + ["m0", "m1"] * 3
    assert mix.index == {"tag": "b"} and mix.mined_frames == 2  # training seeds come from the base
    assert len(PrioritizedClips(_Frames("b", 5), None, repeat=3)) == 5
    with pytest.raises(ValueError):
        PrioritizedClips(_Frames("b", 5), None, repeat=-1)


def test_recipes_are_budgeted_in_steps():
    for name, r in RECIPES.items():
        assert set(r.steps) == {"dave2", "ego_mlp", "driving"} and all(v > 0 for v in r.steps.values()), name
    quick, long = get_recipe("quick"), get_recipe("long")
    assert quick.eval_seeds >= 8 and long.eval_seeds >= 16  # the minimum episodes per scenario
    assert long.steps["driving"] > quick.steps["driving"]
    with pytest.raises(KeyError, match="unknown recipe"):
        get_recipe("fast")


def test_cells_map_ego_points_onto_a_coarse_grid():
    X, Y = 32, 24  # 2 m cells
    ix, iy, inside = _cells(torch.tensor([[0.0, 0.0], [47.9, -23.9], [50.0, 0.0]]), X, Y)
    assert ix.tolist()[:2] == [8, 31] and iy.tolist()[:2] == [12, 0]  # (0 - -16) / 2 = 8; (0 + 24) / 2 = 12
    assert inside.tolist() == [True, True, False]  # LABEL_GRID: x in [-16, 48), y in [-24, 24)


def test_heatmap_and_occupancy_see_an_object_at_its_cell():
    X, Y = 32, 24
    heat = torch.zeros(1, 5, X, Y)
    heat[0, 2, 18, 12] = 0.9  # a chicken (class 2) peak at x = 20..22 m, y = 0..2 m
    boxes = torch.zeros(1, 2, 9)
    boxes[0, 0, :2] = torch.tensor([21.0, 1.0])  # on the peak's cell
    boxes[0, 1, :2] = torch.tensor([40.0, 1.0])  # far from it
    boxes[..., 3:6] = torch.tensor([0.45, 0.35, 0.4])
    cls = torch.full((1, 2), 2)
    ix, iy, _ = _cells(boxes[..., :2], X, Y)
    assert _seen_by_heatmap(heat, cls, ix, iy).tolist() == [[True, False]]
    assert _seen_by_heatmap(heat, torch.full((1, 2), 3), ix, iy).tolist() == [[False, False]]  # a goose: no
    occ = torch.zeros(1, 8, X, Y)
    occ[0, 0, 28, 12] = 0.8  # x = 40..42 m
    assert _seen_by_occupancy(occ, boxes).tolist() == [[False, True]]


def test_free_path_false_alarms_count_only_free_cells_on_the_path():
    from dataclasses import replace
    from types import SimpleNamespace

    from e2edrive.core.constants import LABEL_GRID
    from e2edrive.eval.perception import _free_path_alarms

    grid = replace(LABEL_GRID, res=2.0)  # 32 x 24 cells; x centres -15 + 2i, y centres -23 + 2j
    occ_t, heat_t = torch.zeros(1, 8, 32, 24), torch.zeros(1, 4, 32, 24)
    occ_t[0, 0, 10, 12] = 1  # something at x = 5, y = +1: that cell is not free
    heat_t[0, 2, 10, 12] = 1.0  # and its centre
    occ_p, heat_p = torch.full((1, 8, 32, 24), -9.0), torch.full((1, 4, 32, 24), -9.0)
    occ_p[0, 3, 10, 12] = 9  # right: not an alarm
    occ_p[0, 0, 9, 11] = 9  # x = 3, y = -1: free, on the path -> occupancy alarm in 0-15
    occ_p[0, 0, 20, 5] = 9  # y = -13: off the path
    heat_p[0, 1, 11, 12] = 9  # next to the true centre: not counted
    heat_p[0, 0, 14, 11] = 9  # x = 13 -> object-head alarm in 0-15
    heat_p[0, 3, 16, 12] = 9  # x = 17 -> object-head alarm in 15-30
    out = SimpleNamespace(occupancy=occ_p, obj_heatmap=heat_p)
    rows = _free_path_alarms(out, SimpleNamespace(occupancy=occ_t, heatmap=heat_t), grid)
    # on the path: the columns y = -1, +1 ahead of the axle: 7, 8 and 9 cells per column per band
    assert rows == {"0-15": (13, 1, 1), "15-30": (16, 1, 0), "30-48": (18, 0, 0)}


def test_recall_table_reads_counts():
    none = {"objects": 0, "object_head": 0, "occupancy_head": 0}
    recall = {"chicken": {"0-15": {"objects": 4, "object_head": 3, "occupancy_head": 1}, "15-30": none}}
    text = recall_table(recall)
    assert "| chicken | 4: 75% / 25% | - |" in text


def test_a_restarted_round_drives_only_the_episodes_it_has_not_recorded(tmp_path):
    from e2edrive.commands.quickstart_engine import _not_recorded
    from e2edrive.core.constants import BevGrid
    from e2edrive.core.rig import make_rig
    from e2edrive.data.recorder import Recorder
    from e2edrive.data.synthetic import record_synthetic_episode

    with Recorder(tmp_path / "ds", make_rig(), BevGrid(-4.0, 4.0, -3.0, 3.0)) as rec:
        record_synthetic_episode(rec, 12, 3, "puddle", ("driver=expert",))  # collected, not driven
        record_synthetic_episode(rec, 13, 3, "puddle", ("driver=dagger",))  # driven before the crash
    pairs = [("puddle", 12), ("puddle", 13), ("geese_standing", 13)]
    assert _not_recorded(tmp_path / "ds", pairs) == [("puddle", 12), ("geese_standing", 13)]


def test_a_round_driven_before_a_restart_is_not_driven_again(tmp_path, monkeypatch):
    import json

    from e2edrive.commands import quickstart_engine

    def refuse(*a, **k):
        raise AssertionError("drove again")

    monkeypatch.setattr(quickstart_engine, "_drive", refuse)
    saved = {"episodes": 40, "passed": 9, "frames": 11000, "interventions": 1100, "banked": 31}
    (tmp_path / "engine-0-drive.json").write_text(json.dumps(saved))
    said = []
    got = quickstart_engine._drive_and_bank(None, None, said.append, tmp_path, 0, None, None, [])
    assert got == saved and "driven before a restart" in said[0]
