"""The planner's corridor read: geometry of the lane points, sampling of the BEV, and the network
wiring (gradients reach the occupancy and object heads through the planner)."""

import math
from dataclasses import replace

import torch

from e2edrive.core.constants import LABEL_GRID
from e2edrive.model.corridor import CORRIDOR_FEATURES, corridor_features, corridor_points, sample_bev

GRID = LABEL_GRID.__class__(res=2.0)  # the tiny preset's 2 m cells over the label grid's extent


def test_corridor_points_follow_the_route_normal():
    straight = torch.stack([torch.arange(5, 55, 5.0), torch.zeros(10)], -1)[None]  # along x
    pts = corridor_points(straight, (0.0, 3.5))
    torch.testing.assert_close(pts[0, 0], straight[0])
    torch.testing.assert_close(pts[0, 1], straight[0] + torch.tensor([0.0, 3.5]))  # left = +y
    # a route heading 90 degrees left: its left normal points to -x
    up = torch.stack([torch.zeros(10), torch.arange(5, 55, 5.0)], -1)[None]
    torch.testing.assert_close(corridor_points(up, (3.5,))[0, 0, 3], torch.tensor([-3.5, 20.0]))


def test_sample_bev_reads_the_cell_under_a_point():
    X, Y = GRID.nx, GRID.ny  # 32 x 24
    maps = torch.zeros(1, 1, X, Y)
    ix, iy = int((21.0 - GRID.x_min) // 2), int((3.0 - GRID.y_min) // 2)  # the cell holding (21, 3)
    maps[0, 0, ix, iy] = 1.0
    cell_centre = torch.tensor([[[GRID.x_min + 2 * ix + 1.0, GRID.y_min + 2 * iy + 1.0]]])
    assert math.isclose(sample_bev(maps, cell_centre, GRID).item(), 1.0, abs_tol=1e-6)
    assert sample_bev(maps, torch.tensor([[[30.0, -10.0]]]), GRID).item() == 0.0
    assert sample_bev(maps, torch.tensor([[[90.0, 0.0]]]), GRID).item() == 0.0  # outside the grid


def test_corridor_features_see_an_obstacle_in_the_lane_only():
    X, Y = GRID.nx, GRID.ny
    occ = torch.full((1, 2, X, Y), -20.0)  # logits: empty
    heat = torch.full((1, 5, X, Y), -20.0)
    ix, iy = int((20.0 - GRID.x_min) // 2), int((0.5 - GRID.y_min) // 2)
    occ[0, 0, ix, iy] = 20.0  # something 20 m ahead in the ego's lane
    route = torch.stack([torch.arange(5, 55, 5.0), torch.zeros(10)], -1)[None]
    f = corridor_features(occ, heat, route, GRID)
    assert f.shape == (1, CORRIDOR_FEATURES)
    occ_own, occ_left = f[0, :10], f[0, 10:20]  # order: map, lane, point
    assert occ_own[3] > 0.45 and occ_own[0] < 1e-6  # 20 m sees it (half a cell off: 0.5), 5 m does not
    assert occ_left.max() < 1e-6 and f[0, 20:].max() < 1e-6  # not the left lane, no heatmap


def test_the_corridor_preset_trains_the_heads_through_the_planner():
    from e2edrive.model.config import make_config
    from e2edrive.model.driving_model import DrivingModel
    from e2edrive.train.synthetic import SyntheticClips, cat_clips

    torch.manual_seed(0)
    model = DrivingModel(make_config("tiny_corridor"))
    data = SyntheticClips(2, 2)
    batch = cat_clips([data[0], data[1]])
    out = model(batch.obs)
    out.action.sum().backward()  # the driving output alone
    heads = model.heads
    grads = [p.grad for p in heads.parameters() if p.grad is not None and p.grad.abs().sum() > 0]
    assert grads, "no gradient reached the BEV heads from the action"


def test_teacher_forcing_swaps_in_the_true_corridor_for_the_chosen_samples_only():
    X, Y = GRID.nx, GRID.ny
    occ = torch.full((2, 2, X, Y), -20.0)  # the heads see nothing
    heat = torch.full((2, 5, X, Y), -20.0)
    gt = torch.zeros(2, 2, X, Y)
    ix, iy = int((20.0 - GRID.x_min) // 2), int((0.5 - GRID.y_min) // 2)
    gt[:, 0, ix, iy] = 1.0  # the truth: something 20 m ahead in the lane, in both samples
    route = torch.stack([torch.arange(5, 55, 5.0), torch.zeros(10)], -1)[None].expand(2, -1, -1)
    f = corridor_features(occ, heat, route, GRID, teacher=(gt, torch.tensor([True, False])))
    assert f[0, 3] > 0.45  # the taught sample reads the obstacle
    assert f[1].max() < 1e-6  # the other reads the heads' empty maps


def test_the_teacher_preset_reads_labels_in_training_only():
    from e2edrive.model.config import make_config
    from e2edrive.model.driving_model import DrivingModel
    from e2edrive.train.synthetic import SyntheticClips, cat_clips

    torch.manual_seed(0)
    cfg = make_config("tiny_teacher")
    assert cfg.planner_corridor and cfg.corridor_teacher == 0.5
    model = DrivingModel(replace(cfg, corridor_teacher=1.0))
    data = SyntheticClips(2, 2)
    batch = cat_clips([data[0], data[1]])
    model.eval()
    with torch.no_grad():
        a = model(batch.obs, batch.labels).action
        b = model(batch.obs).action
    assert torch.equal(a, b)  # evaluation never reads the labels
    model.train()
    with torch.no_grad():
        taught = model(batch.obs, batch.labels).plan
        own = model(batch.obs).plan
    assert not torch.allclose(taught, own)  # training with labels: the true corridor changes the plan
