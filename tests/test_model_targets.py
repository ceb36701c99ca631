"""Labels -> head targets on the model grid, checked against hand-computed values."""

from __future__ import annotations

from dataclasses import replace

import pytest
import torch

from e2edrive.core.constants import LABEL_GRID, ObjectClass
from e2edrive.model.head_losses import centernet_focal, masked_l1, sigmoid_focal
from e2edrive.model.synthetic import synthetic_clip
from e2edrive.model.targets import grid_crop_and_factor, make_targets

GRID = replace(LABEL_GRID, res=2.0)  # the tiny preset's grid: 4x4 label cells per model cell


def _labels():
    labels = synthetic_clip(batch=1, frames=1, n_boxes=0, seed=3).labels
    labels.occupancy.zero_()
    labels.flow.zero_()
    labels.lanes.zero_()
    labels.drivable.zero_()
    return labels


def test_occupancy_is_max_pooled_and_flow_averaged_over_occupied_columns():
    lab = _labels()
    # Label cell (ix, iy) covers x in [-16 + 0.5 ix, ...): cells 40..43 x 48..51 form model cell (10, 12).
    lab.occupancy[0, 3, 41, 50] = 1
    lab.flow[0, :, 41, 50] = torch.tensor([2.0, -1.0])
    lab.occupancy[0, 0, 42, 48] = 1
    lab.flow[0, :, 42, 48] = torch.tensor([4.0, 1.0])
    lab.flow[0, :, 40, 51] = 100.0  # flow of an empty column is ignored
    t = make_targets(lab, GRID, (8, 16))
    assert t.occupancy.shape == (1, 8, 32, 24)
    assert t.occupancy[0, 3, 10, 12] == 1 and t.occupancy[0, 0, 10, 12] == 1 and t.occupancy.sum() == 2
    assert torch.allclose(t.flow[0, :, 10, 12], torch.tensor([3.0, 0.0]))  # mean of the two columns
    assert t.flow_mask.sum() == 1 and t.flow_mask[0, 10, 12]


def test_lanes_max_pooled_drivable_majority():
    lab = _labels()
    lab.lanes[0, 0, 4, 4] = 1  # a single 0.5 m line cell survives the 2 m cell
    lab.drivable[0, 0:4, 0:2] = 1  # 8 of 16 label cells: majority (>= half)
    lab.drivable[0, 4:8, 0:1] = 1  # 4 of 16: not drivable
    t = make_targets(lab, GRID, (8, 16))
    assert t.lanes[0, 0, 1, 1] == 1 and t.lanes.sum() == 1
    assert t.drivable[0, 0, 0] == 1 and t.drivable[0, 1, 0] == 0 and t.drivable.sum() == 1


def test_object_centre_heatmap_and_regression():
    lab = _labels()
    # A goose at (5.3, -2.4): model cell ix = floor((5.3 + 16) / 2) = 10, iy = floor((-2.4 + 24) / 2) = 10,
    # whose centre is (5, -3): dx = 0.3, dy = 0.6.
    lab.boxes[0, 0] = torch.tensor([5.3, -2.4, 0.3, 0.6, 0.4, 0.6, 0.5, 1.0, -2.0])
    lab.box_class[0, 0] = ObjectClass.GOOSE
    lab.box_valid[0, 0] = True
    lab.boxes[0, 1] = torch.tensor([100.0, 0.0, 0.5, 4.0, 2.0, 1.5, 0.0, 0.0, 0.0])  # outside the grid
    lab.box_class[0, 1] = ObjectClass.VEHICLE
    lab.box_valid[0, 1] = True
    t = make_targets(lab, GRID, (8, 16))
    hm = t.heatmap[0, ObjectClass.GOOSE]
    assert hm[10, 10] == 1.0 and hm.max() == 1.0
    assert hm[11, 10] == pytest.approx(torch.exp(torch.tensor(-1 / (2 * 0.5**2))).item())  # sigma 0.5 cell
    assert t.heatmap[0, ObjectClass.VEHICLE].max() == 0
    assert t.center_mask.sum() == 1 and t.center_mask[0, 10, 10]
    box = t.box[0, :, 10, 10]
    expect = torch.tensor(
        [
            0.3,
            0.6,
            0.3,
            torch.log(torch.tensor(0.6)),
            torch.log(torch.tensor(0.4)),
            torch.log(torch.tensor(0.6)),
            torch.sin(torch.tensor(0.5)),
            torch.cos(torch.tensor(0.5)),
        ]
    )
    assert torch.allclose(box, expect, atol=1e-5)
    assert torch.allclose(t.velocity[0, :, 10, 10], torch.tensor([1.0, -2.0]))


def test_depth_is_the_patch_mean_of_valid_pixels():
    lab = _labels()
    lab.depth[:] = 10.0
    lab.depth[0, 2, 0:8, 0:8] = torch.arange(64.0).view(8, 8) + 1  # patch (0, 0) of camera 2, mean 32.5
    lab.depth[0, 3, 0:8, 0:8] = 0.0  # invalid patch
    t = make_targets(lab, GRID, (8, 16))
    assert t.depth[0, 2, 0, 0] == pytest.approx(32.5) and t.depth[0, 2, 1, 1] == pytest.approx(10.0)
    assert not t.depth_mask[0, 3, 0, 0] and t.depth_mask.sum() == 8 * 8 * 16 - 1


def test_grid_compatibility_errors():
    assert grid_crop_and_factor(LABEL_GRID, GRID)[3:] == (4, 1)
    crop = replace(LABEL_GRID, x_min=0.0, res=1.0)
    sx = grid_crop_and_factor(LABEL_GRID, crop)[0]
    assert (sx.start, sx.stop) == (32, 128)
    with pytest.raises(ValueError, match="not a positive integer"):
        grid_crop_and_factor(LABEL_GRID, replace(LABEL_GRID, res=0.75))
    with pytest.raises(ValueError, match="exceeds the label grid"):
        grid_crop_and_factor(LABEL_GRID, replace(LABEL_GRID, x_max=60.0))
    with pytest.raises(ValueError, match="not on a label cell boundary"):
        grid_crop_and_factor(LABEL_GRID, replace(LABEL_GRID, x_min=-15.75, x_max=47.75))


def test_losses_closed_forms():
    # Focal loss of a confident correct prediction is ~0, of an uncertain one x4 alpha-weighted BCE/4.
    z = torch.tensor([0.0])
    assert sigmoid_focal(z, torch.tensor([1.0])).item() == pytest.approx(4 * 0.25 * 0.25 * 0.6931, rel=1e-3)
    assert sigmoid_focal(torch.tensor([20.0]), torch.tensor([1.0])).item() < 1e-9
    # CenterNet: one peak predicted at p = 0.5 -> (1 - 0.5)^2 log 2; nothing else.
    hm = torch.zeros(1, 1, 3, 3)
    hm[0, 0, 1, 1] = 1.0
    logits = torch.full((1, 1, 3, 3), -30.0)
    logits[0, 0, 1, 1] = 0.0
    assert centernet_focal(logits, hm).item() == pytest.approx(0.25 * 0.6931, rel=1e-3)
    mask = torch.tensor([[True, False]])
    assert masked_l1(torch.tensor([[[1.0, 9.0]]]), torch.tensor([[[3.0, 0.0]]]), mask).item() == 2.0
