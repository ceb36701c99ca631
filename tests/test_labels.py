"""Labels: occupancy against hand-computed voxels and box geometry, flow, boxes, lanes, and
agreement between the rendered depth and the labelled boxes."""

import math

import pytest
import torch

from e2edrive.core.constants import LABEL_GRID, MAX_BOXES, LightState, ObjectClass
from e2edrive.core.rig import make_rig
from e2edrive.sim.labels import make_labels
from e2edrive.sim.render import Renderer
from e2edrive.sim.render.testing import make_test_scene

G = LABEL_GRID


def lone_box_scene(x, y, yaw, size, ego=(0.0, 0.0, 0.0), vel=(0.0, 0.0)):
    sc = make_test_scene(1, ego_x=ego[0], ego_y=ego[1], ego_yaw=ego[2])
    sc.obj_valid[:] = False
    sc.barrier_valid[:] = False
    sc.light_valid[:] = False
    sc.obj_pose[0, 0] = torch.tensor([x, y, yaw])
    sc.obj_size[0, 0] = torch.tensor(size)
    sc.obj_velocity[0, 0] = torch.tensor(vel)
    sc.obj_class[0, 0] = int(ObjectClass.VEHICLE)
    sc.obj_valid[0, 0] = True
    return sc


def test_axis_aligned_box_occupies_exactly_the_hand_computed_voxels():
    # Ego-frame box x in (10, 14.5), y in (-1, 1), z in (0, 1.5): cells i 52..60, j 46..49, k 0..2.
    sc = lone_box_scene(12.25, 0.0, 0.0, (4.5, 2.0, 1.5))
    occ = make_labels(sc).occupancy[0]
    expected = torch.zeros_like(occ)
    expected[0:3, 52:61, 46:50] = 1
    assert torch.equal(occ, expected)


def test_rotated_box_occupancy_matches_geometry():
    x, y, yaw, (L, W, H) = 6.3, -2.2, 0.6, (4.4, 1.8, 1.6)
    occ = make_labels(lone_box_scene(x, y, yaw, (L, W, H))).occupancy[0]  # (nz, nx, ny)
    xc = G.x_min + (torch.arange(G.nx) + 0.5) * G.res
    yc = G.y_min + (torch.arange(G.ny) + 0.5) * G.res
    X, Y = torch.meshgrid(xc, yc, indexing="ij")
    c, s = math.cos(yaw), math.sin(yaw)
    lx, ly = c * (X - x) + s * (Y - y), -s * (X - x) + c * (Y - y)
    # Every voxel whose centre is inside the box is occupied...
    centre_in = (lx.abs() < L / 2) & (ly.abs() < W / 2)
    zc = G.z_min + (torch.arange(G.nz) + 0.5) * G.z_res
    inside = centre_in[None] & (zc < H)[:, None, None]
    assert occ[inside].all()
    # ...and every occupied cell lies within half a cell diagonal of the box (none elsewhere).
    dx, dy = (lx.abs() - L / 2).clamp(min=0), (ly.abs() - W / 2).clamp(min=0)
    near = (dx**2 + dy**2).sqrt() <= G.res * math.sqrt(2) / 2 + 1e-5
    assert (occ.bool() <= near[None]).all()
    assert not occ[4:].any()  # nothing above the 1.6 m roof (voxels from 2.0 m up)


def test_flow_is_actor_velocity_in_ego_frame():
    # Ego looks along world +y (yaw 90°); the car drives along world +x at 5 m/s, so in the
    # ego frame it moves towards -y (to the ego's right).
    sc = lone_box_scene(2.0, 10.0, 0.0, (4.0, 2.0, 1.5), ego=(0.0, 0.0, math.pi / 2), vel=(5.0, 0.0))
    lab = make_labels(sc)
    cols = lab.occupancy[0].bool().any(0)
    assert cols.sum() > 0
    torch.testing.assert_close(lab.flow[0, 0][cols], torch.zeros(int(cols.sum())), atol=1e-5, rtol=0)
    torch.testing.assert_close(lab.flow[0, 1][cols], torch.full((int(cols.sum()),), -5.0), atol=1e-5, rtol=0)
    assert (lab.flow[0][:, ~cols] == 0).all()
    box = lab.boxes[0, 0]
    torch.testing.assert_close(box[:2], torch.tensor([10.0, -2.0]), atol=1e-5, rtol=0)  # ego frame
    assert box[6].item() == pytest.approx(-math.pi / 2, abs=1e-5)
    torch.testing.assert_close(box[7:9], torch.tensor([0.0, -5.0]), atol=1e-5, rtol=0)


def test_test_street_labels():
    sc = make_test_scene(2)
    lab = make_labels(sc)
    assert lab.boxes.shape == (2, MAX_BOXES, 9)
    n = lab.box_valid[0].sum().item()
    assert n == 9
    d = lab.boxes[0, :n, :2].norm(dim=-1)
    assert (d[1:] >= d[:-1]).all()  # nearest first
    assert set(lab.box_class[0, :n].tolist()) == {int(c) for c in ObjectClass}  # incl. UNKNOWN debris
    assert torch.equal(lab.traffic_light, sc.ego_light)
    assert lab.traffic_light[0] == LightState.RED
    # Barriers at world y = +-9.3 are occupied: ego y = 9.3 + 1.75 = 11.05 -> cell j = 70.
    assert lab.occupancy[0, 0, :, 70].all() and lab.occupancy[0, 2, :, 70].sum() == 0
    # Yellow centre line at world y 0.05..0.2 -> ego 1.8..1.95 -> cell j = 51, along the whole grid.
    assert lab.lanes[0, 0, :, 51].all()
    # Road edge at world y = -7 -> ego -5.25 -> cell j = 37; kerb cell (ego -6.25, j = 35) not drivable.
    assert lab.lanes[0, 1, :, 37].all()
    assert lab.drivable[0, :, 48].all() and not lab.drivable[0, :, 35].any()
    # Polylines: 5 lines, clipped to x -16..48, resampled evenly; the centre line at ego y 1.75.
    assert lab.lane_polyline_valid[0].sum() == 5
    centre = lab.lane_polylines[0][lab.lane_polyline_type[0] == 1][0]
    torch.testing.assert_close(centre[:, 0], torch.linspace(-16, 48, centre.shape[0]), atol=1e-3, rtol=0)
    torch.testing.assert_close(centre[:, 1], torch.full((centre.shape[0],), 1.75), atol=1e-4, rtol=0)
    nearest = lab.lane_polylines[0, 0, 0, 1].abs()
    assert nearest == pytest.approx(1.75, abs=1e-4)  # the two lines 1.75 m away come first


def test_rendered_depth_matches_labelled_box():
    rig = make_rig()
    sc = lone_box_scene(25.0, 1.0, 0.0, (4.6, 1.9, 1.5))
    out = Renderer(rig).render(sc)
    lab = make_labels(sc, out)
    x, y, zc, L = lab.boxes[0, 0, :4].tolist()
    # Hand projection of the near face's centre into front_main (mount (1.9, 0, 1.35), no pitch).
    f = 64.0 / math.tan(math.radians(17.5))
    depth = (x - L / 2) - 1.9
    u, v = f * (-y) / depth + 64.0, f * (1.35 - zc) / depth + 32.0
    got = lab.depth[0, rig.index("front_main"), int(v), int(u)].item()
    assert got == pytest.approx(depth, rel=0.01)
    assert lab.semantics.shape == lab.depth.shape == (1, 8, 64, 128)


def test_without_render_depth_is_empty_and_expert_fields_zero():
    lab = make_labels(make_test_scene(1))
    assert lab.depth.shape == (1, 0, 0, 0)
    assert (lab.expert_plan == 0).all() and (lab.reason == 0).all()


def test_a_scene_without_actors_barriers_lights_or_lanes():
    from dataclasses import replace

    sc = make_test_scene(2)
    cut = {
        f: getattr(sc, f)[:, :0]
        for f in (
            "obj_pose",
            "obj_size",
            "obj_velocity",
            "obj_class",
            "obj_color",
            "obj_valid",
            "barriers",
            "barrier_valid",
            "light_pos",
            "light_yaw",
            "light_state",
            "light_valid",
            "lane_lines",
            "lane_line_type",
            "lane_line_valid",
        )
    }
    empty = replace(sc, **cut)
    for compact in (True, False):
        out = Renderer(make_rig(), compact=compact).render(empty)
        assert out.rgb.shape == (2, 8, 3, 64, 128)
        assert not (out.semantics >= 8).any()  # ground and sky only
    lab = make_labels(empty, out)
    assert lab.occupancy.sum() == 0 and not lab.box_valid.any() and not lab.lane_polyline_valid.any()
    assert lab.drivable.any()  # the road is still there


@pytest.mark.parametrize("res", [None, 0.02])
def test_ground_bev_equals_per_sample_lookup_when_the_grid_leaves_the_raster(res):
    # Rotated egos near the raster's side edge (|y| <= 20 m): many samples fall outside it and
    # must read GRASS; the windowed, chunked sampler must agree with the plain per-sample lookup.
    # res=0.02 reads the same cells as a 5x finer raster: its window would be too large, so
    # the per-sample clamp-and-mask path runs.
    from dataclasses import replace

    from e2edrive.core.constants import DRIVABLE_MATERIALS, Semantic
    from e2edrive.sim.labels import SUB, ground_bev
    from e2edrive.sim.render.ground import ground_lookup

    sc = make_test_scene(5, ego_x=-50.0, ego_y=-12.0, ego_yaw=0.37)
    sc.ego_pose[:, 2] += torch.arange(5) * 1.3  # every env turned differently
    if res is not None:
        sc = replace(sc, ground=replace(sc.ground, res=res))
    lanes, drivable = ground_bev(sc, G)
    off = (torch.arange(SUB) + 0.5) / SUB * G.res
    xs = ((G.x_min + torch.arange(G.nx) * G.res)[:, None] + off).reshape(-1)
    ys = ((G.y_min + torch.arange(G.ny) * G.res)[:, None] + off).reshape(-1)
    pts = torch.stack(torch.meshgrid(xs, ys, indexing="ij"), -1).view(1, -1, 2)
    mat, _ = ground_lookup(sc.ground, sc.ego_pose, pts)
    mat = mat.view(5, G.nx, SUB, G.ny, SUB)
    assert (mat == Semantic.GRASS).any() and (mat == Semantic.ROAD).any()
    is_lane = (mat == Semantic.LANE_MARKING) | (mat == Semantic.CENTER_LINE)
    share = sum((mat == m).float() for m in DRIVABLE_MATERIALS).mean((2, 4))
    assert torch.equal(lanes[:, 0].bool(), is_lane.any(4).any(2))
    assert torch.equal(lanes[:, 1].bool(), (share > 0) & (share < 1))
    assert torch.equal(drivable.bool(), share >= 0.5)


def test_sparse_occupancy_equals_the_dense_separating_axis_test():
    from e2edrive.sim.labels import footprint_overlap, occupancy_and_flow
    from e2edrive.sim.render.boxes import scene_boxes

    sc = make_test_scene(3, ego_x=7.0, ego_y=-1.0, ego_yaw=0.3)
    boxes = scene_boxes(sc)
    occ, flow = occupancy_and_flow(boxes, G)
    over = footprint_overlap(boxes.center, boxes.yaw, boxes.half, boxes.valid, G)  # (B, K, nx, ny)
    z_lo = G.z_min + torch.arange(G.nz) * G.z_res
    z_in = (boxes.z1[..., None] > z_lo) & (boxes.z0[..., None] < z_lo + G.z_res)  # (B, K, nz)
    dense = (z_in[..., None, None] & over[:, :, None]).any(1)  # (B, nz, nx, ny)
    assert dense.sum() > 500
    assert torch.equal(occ.bool(), dense)
    actor = over[:, : boxes.num_objects].float()  # (B, N, nx, ny)
    n = actor.sum(1)
    mean = (
        torch.einsum("bkc,bkxy->bcxy", boxes.velocity[:, : boxes.num_objects], actor)
        / n.clamp(min=1)[:, None]
    )
    torch.testing.assert_close(flow, mean, atol=1e-6, rtol=0)
