"""Top-down view, camera mosaic, bitmap font and MP4 writer on hand-made inputs."""

import math

import av
import numpy as np
import pytest
import torch

from e2edrive.core.constants import LightState, ObjectClass, Semantic
from e2edrive.core.font import CHARSET, draw_text, glyph, text_mask, text_size
from e2edrive.core.video import VideoWriter, pick_codec
from e2edrive.sim.scene import GroundRaster, Scene
from e2edrive.sim.topdown import (
    BARRIER_COLOR,
    CLASS_COLORS,
    EGO_COLOR,
    GROUND_COLORS,
    LANE_LINE_COLORS,
    LIGHT_COLORS,
    PLAN_COLOR,
    mosaic,
    render_topdown,
)

H = W = 200
MPP = 0.25  # 50 m x 50 m view; the ego (rear axle) sits at pixel (100, 100)


def make_scene(ego_yaw=0.0, vehicle_xy=(10.0, 0.0)) -> Scene:
    """100 m x 100 m of grass with an 8 m road along world x; one vehicle; one red light at (20, -5);
    a barrier along y = -6; a road edge at y = 4.1."""
    B, N, M, T, L, P = 1, 2, 1, 1, 1, 2
    material = torch.full((B, 200, 200), int(Semantic.GRASS), dtype=torch.uint8)
    rows_y = -50.0 + (torch.arange(200) + 0.5) * 0.5  # y of each raster row's centre
    material[:, rows_y.abs() < 4.0, :] = int(Semantic.ROAD)
    ground = GroundRaster(material, torch.tensor([[-50.0, -50.0]]), 0.5)
    obj_pose = torch.zeros(B, N, 3)
    obj_pose[0, 0, :2] = torch.tensor(vehicle_xy)
    obj_pose[0, 1, :2] = torch.tensor([-20.0, 20.0])  # a padding slot: must not be drawn
    return Scene(
        ground=ground,
        ego_pose=torch.tensor([[0.0, 0.0, ego_yaw]]),
        ego_velocity=torch.tensor([[3.0, 4.0]]),
        obj_pose=obj_pose,
        obj_size=torch.tensor([[[4.5, 2.0, 1.5], [4.5, 2.0, 1.5]]]),
        obj_velocity=torch.zeros(B, N, 2),
        obj_class=torch.tensor([[int(ObjectClass.VEHICLE), int(ObjectClass.PEDESTRIAN)]]),
        obj_color=torch.zeros(B, N, 3, dtype=torch.uint8),
        obj_valid=torch.tensor([[True, False]]),
        barriers=torch.tensor([[[-50.0, -6.0, 50.0, -6.0]]]),
        barrier_valid=torch.ones(B, M, dtype=torch.bool),
        light_pos=torch.tensor([[[20.0, -5.0, 5.0]]]),
        light_yaw=torch.full((B, T), math.pi),
        light_state=torch.tensor([[int(LightState.RED)]]),
        light_valid=torch.ones(B, T, dtype=torch.bool),
        ego_light=torch.tensor([int(LightState.RED)]),
        ego_light_index=torch.tensor([0]),
        lane_lines=torch.tensor([[[[-50.0, 4.1], [50.0, 4.1]]]]).reshape(B, L, P, 2),
        lane_line_type=torch.tensor([[2]]),
        lane_line_valid=torch.ones(B, L, dtype=torch.bool),
        sun_dir=torch.tensor([[0.0, 0.0, 1.0]]),
        ambient=torch.ones(B),
        fog=torch.zeros(B),
    )


def color(img, r, c):
    return tuple(img[r, c].tolist())


def rgb(t):
    return tuple(torch.as_tensor(t).tolist())


def test_vehicle_box_lands_at_its_pixel_heading_up():
    img = render_topdown(make_scene(), 0, size=(H, W), metres_per_px=MPP)
    assert img.shape == (H, W, 3) and img.dtype == torch.uint8
    # Vehicle centre 10 m ahead -> 40 px above the ego: row 60, col 100.
    assert color(img, 60, 100) == rgb(CLASS_COLORS[ObjectClass.VEHICLE])
    assert color(img, 60, 97) == rgb(CLASS_COLORS[ObjectClass.VEHICLE])  # 0.6 m to its left, inside
    assert color(img, 60, 106) == rgb(GROUND_COLORS[Semantic.ROAD])  # 1.6 m right: outside, on the road
    assert color(img, 60, 160) == rgb(GROUND_COLORS[Semantic.GRASS])  # 15 m right: grass
    assert color(img, 95, 100) == EGO_COLOR  # the ego box around the origin
    # ego_row 0.75: the ego moves down to row 150, the vehicle with it to row 110.
    low = render_topdown(make_scene(), 0, size=(H, W), metres_per_px=MPP, ego_row=0.75)
    assert (
        color(low, 110, 100) == rgb(CLASS_COLORS[ObjectClass.VEHICLE]) and color(low, 145, 100) == EGO_COLOR
    )
    # The padding slot at world (-20, 20) is invalid: grass there (row 180, col 20).
    assert color(img, 180, 20) == rgb(GROUND_COLORS[Semantic.GRASS])


def test_other_layers_land_at_their_pixels():
    img = render_topdown(make_scene(), 0, plan_xy=torch.tensor([[7.0, 0.0]]), size=(H, W), metres_per_px=MPP)
    assert color(img, 20, 120) == rgb(LIGHT_COLORS[LightState.RED])  # light at (20, -5)
    assert color(img, 150, 124) == BARRIER_COLOR  # barrier along y = -6
    assert color(img, 150, 83) == LANE_LINE_COLORS[2]  # road edge at y = 4.1 -> col 83.6
    assert color(img, 72, 100) == PLAN_COLOR  # plan point 7 m ahead -> row 72


def test_north_up_and_heading_up_rotate_correctly():
    # Ego faces north (yaw pi/2); the vehicle is 10 m north of it.
    scene = make_scene(ego_yaw=math.pi / 2, vehicle_xy=(0.0, 10.0))
    veh = rgb(CLASS_COLORS[ObjectClass.VEHICLE])
    assert color(render_topdown(scene, size=(H, W), metres_per_px=MPP), 60, 100) == veh  # ahead = up
    assert color(render_topdown(scene, size=(H, W), metres_per_px=MPP, heading_up=False), 60, 100) == veh
    # Ego faces east; north-up puts the vehicle 10 m east of it to the right (row 100, col 140).
    east = render_topdown(make_scene(), size=(H, W), metres_per_px=MPP, heading_up=False)
    assert color(east, 100, 140) == veh and color(east, 60, 100) != veh


def test_reason_text_and_hud_are_burned_in_where_expected():
    scene = make_scene()
    plain = render_topdown(scene, size=(H, W), metres_per_px=MPP)
    img = render_topdown(scene, reason_text="stopping: red", size=(H, W), metres_per_px=MPP, t=4.5)
    mask = text_mask("stopping: red")
    h, w = mask.shape
    white = (img[2 : 2 + h, 2 : 2 + w] == 255).all(-1)
    assert torch.equal(white, mask)  # exactly the glyphs, at (2, 2)
    assert (img[2 : 2 + h, 2 : 2 + w][~mask] == 0).all()  # on a dark box
    # HUD at the bottom left: "v  5.0 m/s  t   4.5 s" (|(3, 4)| = 5 m/s).
    hud = "v  5.0 m/s  t   4.5 s"
    hh, hw = text_size(hud)
    bottom = (img[H - hh - 2 : H - 2, 2 : 2 + hw] == 255).all(-1)
    assert torch.equal(bottom, text_mask(hud))
    assert not (plain[2 : 2 + h, 2 : 2 + w] == 255).all(-1).any()  # no reason -> no text at the top


def test_bad_arguments_are_rejected():
    with pytest.raises(IndexError, match="env 1 out of range"):
        render_topdown(make_scene(), 1)
    with pytest.raises(ValueError, match="plan_xy must be"):
        render_topdown(make_scene(), plan_xy=torch.zeros(3))
    with pytest.raises(ValueError, match="8 images but 2 names"):
        mosaic(torch.zeros(8, 3, 4, 4, dtype=torch.uint8), ["a", "b"])


def test_mosaic_tiles_eight_cameras_two_by_four_with_names():
    imgs = torch.stack([torch.full((3, 30, 40), 20 * i + 10, dtype=torch.uint8) for i in range(8)])
    names = [
        "front_main",
        "front_wide",
        "front_left",
        "front_right",
        "side_left",
        "side_right",
        "rear_main",
        "rear_left",
    ]
    out = mosaic(imgs, names)
    assert out.shape == (60, 160, 3)
    for i in range(8):
        r, c = divmod(i, 4)
        assert color(out, r * 30 + 29, c * 40 + 39) == (20 * i + 10,) * 3  # bottom-right corner of tile i
        m = text_mask(names[i])[:, :38]  # clipped to the tile
        assert torch.equal(
            (out[r * 30 + 2 : r * 30 + 2 + m.shape[0], c * 40 + 2 : c * 40 + 40] == 255).all(-1), m
        )


def test_font_covers_the_required_characters_and_clips_at_borders():
    required = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789:.,-/% "
    assert set(required) <= set(CHARSET)
    glyphs = {ch: tuple(glyph(ch).flatten().tolist()) for ch in required}
    assert len(set(glyphs.values())) == len(required)  # every character is distinct
    assert all(any(g) for ch, g in glyphs.items() if ch != " ")
    assert torch.equal(glyph("~"), glyph("?"))  # unknown characters draw as '?'
    assert text_mask("ab\ncd").shape == (16, 11) and text_mask("a", scale=3).shape == (21, 15)
    img = torch.zeros(10, 10, 3, dtype=torch.uint8)
    draw_text(img, "WWWW", 6, 6, background=None)  # mostly outside: clipped, no error
    assert (img[6:, 6:] == 255).any() and not img[:6].any()


def test_video_writer_round_trip(tmp_path):
    path = tmp_path / "drive.mp4"
    with VideoWriter(path, fps=10) as w:
        for i in range(10):
            frame = np.zeros((33, 47, 3), np.uint8)  # odd size: padded to 34 x 48
            frame[..., 0] = 200
            w.write(torch.from_numpy(frame) if i % 2 else frame)
    with av.open(str(path)) as c:
        s = c.streams.video[0]
        frames = [f.to_ndarray(format="rgb24") for f in c.decode(video=0)]
        assert (s.width, s.height) == (48, 34) and s.codec_context.name in ("h264", "libx264", "mpeg4")
    assert len(frames) == 10
    assert abs(int(frames[5][16, 20, 0]) - 200) <= 8 and frames[5][16, 20, 1] <= 8  # red survives yuv420p
    assert [p.name for p in tmp_path.iterdir()] == ["drive.mp4"]  # no temp file left


def test_video_writer_interrupted_leaves_previous_file_and_no_temp(tmp_path):
    path = tmp_path / "out.mp4"
    path.write_bytes(b"old")
    with pytest.raises(KeyboardInterrupt):
        with VideoWriter(path) as w:
            w.write(np.zeros((16, 16, 3), np.uint8))
            raise KeyboardInterrupt
    assert path.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["out.mp4"]
    with pytest.raises(ValueError, match=r"frame 1 is 8x8, the video is 16x16"):
        with VideoWriter(path) as w:
            w.write(np.zeros((16, 16, 3), np.uint8))
            w.write(np.zeros((8, 8, 3), np.uint8))
    with pytest.raises(ValueError, match="must be uint8"):
        with VideoWriter(path) as w:
            w.write(np.zeros((16, 16, 3), np.float32))
    assert path.read_bytes() == b"old"
    assert pick_codec("no_such_codec") == "mpeg4"


def test_video_writer_mpeg4_fallback(tmp_path):
    path = tmp_path / "m.mp4"
    with VideoWriter(path, codec="mpeg4") as w:
        for _ in range(4):
            w.write(np.full((32, 32, 3), 128, np.uint8))
    with av.open(str(path)) as c:
        assert c.streams.video[0].codec_context.name == "mpeg4"
        assert sum(1 for _ in c.decode(video=0)) == 4


def test_a_ten_km_barrier_is_drawn_without_gaps():
    scene = make_scene()
    scene.barriers = torch.tensor([[[-5000.0, -6.0, 5000.0, -6.0]]])
    img = render_topdown(scene, size=(H, W), metres_per_px=MPP)
    col = img[100:, 124]  # below the light's dot, the barrier's column (y = -6 m -> col 124)
    assert (col == torch.tensor(BARRIER_COLOR, dtype=torch.uint8)).all()
    scene.barriers = torch.tensor([[[-5000.0, 60.0, 5000.0, 60.0]]])  # out of view: nothing drawn
    far = render_topdown(scene, size=(H, W), metres_per_px=MPP)
    assert not (far == torch.tensor(BARRIER_COLOR, dtype=torch.uint8)).all(-1).any()
