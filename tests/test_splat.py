"""Feed-forward Gaussian splatting: geometry against hand projection, self-reproduction, motion."""

import math

import pytest
import torch

from e2edrive.core.rig import make_rig
from e2edrive.eval.splat import (
    backproject,
    bev_camera,
    chase_camera,
    depth_confidence,
    gaussians_from_frames,
    pinhole,
    project,
    psnr,
    splat,
)

RIG = make_rig()


def ground_depth(K, T, H, W, far=1e3):
    """(1, 1, H, W) depth along the optical axis of the plane z = 0 (far above the horizon)."""
    rays = backproject(torch.ones(1, 1, H, W), K, T)[0, 0] - T[0, :3, 3]  # (H, W, 3) per metre of depth
    t = -T[0, 2, 3] / rays[..., 2]
    return torch.where(rays[..., 2] < -1e-3, t, torch.full_like(t, far))[None, None]


def test_backprojection_then_projection_returns_the_pixel_grid():
    B, N, H, W = 2, RIG.num_cameras, RIG.height, RIG.width
    depth = 2.0 + 30.0 * torch.rand(B, N, H, W, generator=torch.Generator().manual_seed(0))
    pts = backproject(depth, RIG.K, RIG.T_ego_from_cam)  # (B, N, H, W, 3)
    for n in (0, 4, 6):
        uv, z = project(pts[:, n].reshape(B, -1, 3), RIG.K[n : n + 1], RIG.T_ego_from_cam[n : n + 1])
        v, u = torch.meshgrid(torch.arange(H) + 0.5, torch.arange(W) + 0.5, indexing="ij")
        torch.testing.assert_close(uv[:, 0], torch.stack([u, v], -1).reshape(1, -1, 2).expand(B, -1, -1),
                                   atol=2e-3, rtol=0)  # fmt: skip
        torch.testing.assert_close(z[:, 0], depth[:, n].reshape(B, -1), atol=1e-4, rtol=1e-5)


def test_principal_ray_of_a_forward_camera_by_hand():
    # front_main: mount (1.9, 0, 1.35), no pitch; the centre pixel at 10 m is 10 m straight ahead.
    H, W = RIG.height, RIG.width
    depth = torch.full((1, 1, H, W), 10.0)
    p = backproject(depth, RIG.K[:1], RIG.T_ego_from_cam[:1])[0, 0]  # (H, W, 3)
    centre = p[H // 2, W // 2]  # pixel centre (W/2 + 0.5, H/2 + 0.5): half a pixel right of, below the axis
    f = float(RIG.K[0, 0, 0])
    want = torch.tensor([1.9 + 10.0, -10 * 0.5 / f, 1.35 - 10 * 0.5 / f])
    torch.testing.assert_close(centre, want, atol=1e-4, rtol=0)


def test_ground_plane_seen_from_one_metre_higher_lands_where_hand_projection_says():
    # A flat ground plane (z = 0) seen by a camera at 1 m looking 30 deg down, rendered from the same
    # camera 1 m higher: a ground point at distance x along the axis shows at row cy + f * tan(angle).
    H, W, hfov, pitch = 64, 128, 90.0, 30.0
    K, T = pinhole(0.0, 0.0, 1.0, 0.0, pitch, hfov, H, W)
    K2, T2 = pinhole(0.0, 0.0, 2.0, 0.0, pitch, hfov, H, W)
    depth = ground_depth(K, T, H, W)
    rgb = torch.zeros(1, 1, 3, H, W, dtype=torch.uint8)
    rgb[0, 0, 0, 16] = 255  # one red row of ground pixels
    g = gaussians_from_frames(rgb, depth, K, T)
    red = g.colors[0, :, 0] > 0.5
    assert torch.allclose(g.means[0, red, 2], torch.zeros(int(red.sum())), atol=1e-4)  # on the ground
    # By hand: the red row's ground point straight ahead (centre column, y ~ 0).
    x = float(g.means[0, red][W // 2, 0])
    f, cy = float(K2[0, 1, 1]), H / 2
    angle = math.atan2(2.0, x) - math.radians(pitch)  # below the optical axis of the higher camera
    row = cy + f * math.tan(angle)
    img = splat(g, K2, T2, H, W, fill_levels=0).rgb[0, 0]  # (3, H, W)
    rows = (img[0].float() > 128).nonzero()[:, 0].float()
    assert rows.numel() > 0 and abs(float(rows.median()) + 0.5 - row) < 1.0


@pytest.mark.parametrize("camera", ["front_main", "front_left", "rear_main"])
def test_rendering_from_the_same_camera_with_true_depth_reproduces_the_frame(camera):
    from e2edrive.sim.render import Renderer
    from e2edrive.sim.render.testing import make_test_scene

    out = Renderer(RIG).render(make_test_scene(1))
    n = RIG.index(camera)
    K, T = RIG.K[n : n + 1], RIG.T_ego_from_cam[n : n + 1]
    g = gaussians_from_frames(out.rgb[:, n : n + 1], out.depth[:, n : n + 1], K, T)
    im = splat(g, K, T, RIG.height, RIG.width)
    covered = out.depth[:, n : n + 1] < 100  # not sky
    assert bool(im.covered[covered].all())
    assert psnr(im.rgb, out.rgb[:, n : n + 1], covered) > 30.0


def test_moving_gaussians_by_a_velocity_shifts_them_by_v_dt():
    B, N, H, W = 1, 2, 4, 6
    depth = torch.full((B, N, H, W), 5.0)
    rgb = torch.zeros(B, N, 3, H, W, dtype=torch.uint8)
    K, T = RIG.K[:N], RIG.T_ego_from_cam[:N]
    vel = torch.zeros(B, N, H, W, 2)
    vel[0, 1, 2, 3] = torch.tensor([4.0, -2.0])  # one moving pixel, m/s
    still = gaussians_from_frames(rgb, depth, K, T)
    moved = gaussians_from_frames(rgb, depth, K, T, velocity=vel, dt=0.5)
    shift = moved.means - still.means  # (B, P, 3)
    i = (1 * H + 2) * W + 3  # (camera, row, column) order
    torch.testing.assert_close(shift[0, i], torch.tensor([2.0, -1.0, 0.0]))
    shift[0, i] = 0
    assert float(shift.abs().max()) == 0.0


def test_confidence_keeps_planes_and_both_sides_of_an_edge_but_not_the_pixels_in_between():
    H, W = 16, 16
    ground = ground_depth(*pinhole(0, 0, 1.5, 0, 45.0, 90.0, H, W), H, W)  # all below the horizon
    assert float(ground.max()) < 100 and float(depth_confidence(ground).min()) > 0.99  # grazing or not
    d = torch.full((1, 1, H, W), 10.0)
    d[..., 8:] = 30.0  # a sharp edge between columns 7 and 8
    assert float(depth_confidence(d).min()) > 0.99
    d[..., 8] = 20.0  # a flying pixel between the two surfaces
    c = depth_confidence(d)
    assert float(c[..., 8].max()) < 0.5 and float(c[..., :7].min()) > 0.99 and float(c[..., 10:].min()) > 0.99


def test_chase_and_birds_eye_views_see_a_ground_point_ahead():
    p = torch.tensor([[[10.0, 0.0, 0.0]]])  # 10 m ahead on the ground, (B, P, 3)
    for K, T in (chase_camera(), bev_camera()):
        uv, z = project(p, K, T)
        H, W = 2 * float(K[0, 1, 2]), 2 * float(K[0, 0, 2])
        assert float(z) > 0 and 0 <= float(uv[0, 0, 0, 0]) < W and 0 <= float(uv[0, 0, 0, 1]) < H
        assert abs(float(uv[0, 0, 0, 0]) - W / 2) < 1e-3  # on the centre column
    uv_bev, _ = project(p, *bev_camera(ahead=8.0))
    assert float(uv_bev[0, 0, 0, 1]) < 80.0  # 2 m beyond the view centre: above the middle row, forward is up


def test_drive_video_row_is_added_below_the_frame():
    import numpy as np

    from e2edrive.eval.splat import splat_row
    from e2edrive.sim.render import Renderer
    from e2edrive.sim.render.testing import make_test_scene

    frame = np.zeros((320, 1344, 3), np.uint8)
    out = splat_row(frame, Renderer(RIG).render(make_test_scene(1)), RIG)
    assert out.shape == (640, 1344, 3) and out.dtype == np.uint8 and out[320:].any()
