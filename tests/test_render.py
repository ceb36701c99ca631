"""Renderer: geometry against hand projection, visibility of small things, batching, pictures."""

import math
import zlib

import numpy as np
import pytest
import torch

from e2edrive.core.constants import LightState, ObjectClass, Semantic
from e2edrive.core.rig import DEFAULT_MOUNTS, make_rig
from e2edrive.sim.render import MAX_DEPTH, Renderer, camera_mosaic, write_png
from e2edrive.sim.render.shading import lamp_color
from e2edrive.sim.render.testing import make_test_scene

RIG = make_rig()


@pytest.fixture(scope="module")
def renderer():
    return Renderer(RIG)


def empty_scene(ego=(0.0, 0.0, 0.0)):
    """The test street with every actor, barrier and light switched off, ego at `ego`."""
    sc = make_test_scene(1, ego_x=ego[0], ego_y=ego[1], ego_yaw=ego[2])
    sc.obj_valid[:] = False
    sc.barrier_valid[:] = False
    sc.light_valid[:] = False
    return sc


def put_object(sc, i, x, y, yaw, size, cls=ObjectClass.VEHICLE):
    sc.obj_pose[0, i] = torch.tensor([x, y, yaw])
    sc.obj_size[0, i] = torch.tensor(size)
    sc.obj_class[0, i] = int(cls)
    sc.obj_valid[0, i] = True


def hand_project(cam, p):
    """Pinhole projection written out from the rig's table (OpenCV camera, pitch down > 0)."""
    x0, y0, z0, yaw_d, pitch_d, hfov = DEFAULT_MOUNTS[cam]
    yaw, pitch = math.radians(yaw_d), math.radians(pitch_d)
    fwd = np.array([math.cos(yaw) * math.cos(pitch), math.sin(yaw) * math.cos(pitch), -math.sin(pitch)])
    right = np.array([math.sin(yaw), -math.cos(yaw), 0.0])
    down = np.cross(fwd, right)
    d = np.asarray(p, dtype=float) - np.array([x0, y0, z0])
    f = 64.0 / math.tan(math.radians(hfov) / 2)  # W / 2 / tan(hfov / 2)
    X, Y, Z = right @ d, down @ d, fwd @ d
    return f * X / Z + 64.0, f * Y / Z + 32.0, Z


@pytest.mark.parametrize("cam,dist", [("front_main", 14.0), ("side_left", 7.0), ("rear_main", 9.0)])
def test_box_projects_where_hand_geometry_says(renderer, cam, dist):
    # A box straight along the camera's heading, `dist` m from the mount, turned to face it.
    x0, y0, _, yaw_d, _, _ = DEFAULT_MOUNTS[cam]
    yaw = math.radians(yaw_d)
    L, Wd, Hh = 2.0, 3.0, 2.2
    cx, cy = x0 + (dist + L / 2) * math.cos(yaw), y0 + (dist + L / 2) * math.sin(yaw)
    sc = empty_scene()
    put_object(sc, 0, cx, cy, yaw, (L, Wd, Hh))
    out = renderer.render(sc)
    ci = RIG.index(cam)
    # Near face: local x = -L/2; its point at local y = 0.4 m, height 0.9 m.
    ux, uy = math.cos(yaw), math.sin(yaw)
    vx, vy = -math.sin(yaw), math.cos(yaw)
    face = (cx - L / 2 * ux, cy - L / 2 * uy)
    u, v, z = hand_project(cam, (face[0] + 0.4 * vx, face[1] + 0.4 * vy, 0.9))
    row, col = int(v), int(u)
    assert out.semantics[0, ci, row, col] == Semantic.VEHICLE
    assert out.depth[0, ci, row, col].item() == pytest.approx(z, rel=0.01)
    # The face's two vertical edges at that height, by hand, bound the box's pixels in the row.
    ua = hand_project(cam, (face[0] - Wd / 2 * vx, face[1] - Wd / 2 * vy, 0.9))[0]
    ub = hand_project(cam, (face[0] + Wd / 2 * vx, face[1] + Wd / 2 * vy, 0.9))[0]
    cols = (out.semantics[0, ci, row] == Semantic.VEHICLE).nonzero().flatten()
    lo, hi = sorted((ua, ub))
    assert abs((cols.min().item() + 0.5) - lo) <= 1.0
    assert abs((cols.max().item() + 0.5) - hi) <= 1.0


def count_lamp_pixels(rgb, state):
    target = torch.tensor([round(c * 255) for c in lamp_color(state)], dtype=torch.int16)
    return ((rgb.permute(1, 2, 0).to(torch.int16) - target).abs().max(-1).values <= 2).sum().item()


@pytest.mark.parametrize("state", [LightState.RED, LightState.GREEN])
def test_lit_lamp_at_30m_is_visible(renderer, state):
    sc = empty_scene()
    sc.light_pos[0, 0] = torch.tensor([1.9 + 30.0, 0.0, 5.2])
    sc.light_yaw[0, 0] = math.pi  # faces the ego
    sc.light_state[0, 0] = int(state)
    sc.light_valid[0, 0] = True
    out = renderer.render(sc)
    front = RIG.index("front_main")
    assert count_lamp_pixels(out.rgb[0, front], state) >= 4
    # Turned away, the lamps are invisible: only the housing's back shows.
    sc.light_yaw[0, 0] = 0.0
    assert count_lamp_pixels(renderer.render(sc).rgb[0, front], state) == 0


def test_chicken_at_15m_is_visible(renderer):
    sc = empty_scene()
    put_object(sc, 0, 1.9 + 15.0, 0.0, math.pi / 2, (0.45, 0.35, 0.4), ObjectClass.CHICKEN)
    out = renderer.render(sc)
    assert (out.semantics[0, RIG.index("front_main")] == Semantic.CHICKEN).sum().item() >= 4


def test_sky_and_ground_depth(renderer):
    out = renderer.render(empty_scene())
    sem, depth = out.semantics[0], out.depth[0]
    assert torch.isfinite(depth).all()
    assert (depth[sem == Semantic.SKY] == MAX_DEPTH).all()
    # front_main, bottom row: ground at the hand-computed depth (camera 1.35 m up, no pitch).
    f = 64.0 / math.tan(math.radians(17.5))
    v = 63.5  # pixel centre of the last row
    z_expected = 1.35 * f / (v - 32.0)
    assert depth[RIG.index("front_main"), 63, 64].item() == pytest.approx(z_expected, rel=1e-3)


def slice_scene(sc, b):
    from dataclasses import fields, replace

    changes = {
        f.name: getattr(sc, f.name)[b : b + 1]
        for f in fields(sc)
        if isinstance(getattr(sc, f.name), torch.Tensor)
    }
    g = sc.ground
    return replace(
        sc, ground=replace(g, material=g.material[b : b + 1], origin=g.origin[b : b + 1]), **changes
    )


@pytest.mark.parametrize("chunk", [0, 2])
def test_batch_equals_single(chunk):
    renderer = Renderer(RIG, batch_chunk=chunk)
    sc = make_test_scene(3)
    sc.fog[2] = 0.02
    sc.ambient[1] = 0.4
    full = renderer.render(sc)
    for b in range(3):
        one = renderer.render(slice_scene(sc, b))
        assert torch.equal(full.rgb[b : b + 1], one.rgb)
        assert torch.equal(full.semantics[b : b + 1], one.semantics)
        torch.testing.assert_close(full.depth[b : b + 1], one.depth)
    assert not torch.equal(full.rgb[0], full.rgb[1])  # the environments differ


def test_compact_and_masked_paths_agree():
    sc = make_test_scene(2)
    a = Renderer(RIG, compact=True).render(sc)
    b = Renderer(RIG, compact=False).render(sc)
    assert torch.equal(a.semantics, b.semantics)
    torch.testing.assert_close(a.depth, b.depth)
    assert (a.rgb.int() - b.rgb.int()).abs().max() <= 1


def test_test_street_content(renderer):
    out = renderer.render(make_test_scene(1))
    sem = out.semantics[0]
    for cls in (
        Semantic.ROAD,
        Semantic.LANE_MARKING,
        Semantic.CENTER_LINE,
        Semantic.VEHICLE,
        Semantic.CHICKEN,
        Semantic.GOOSE,
        Semantic.PEDESTRIAN,
        Semantic.DEBRIS,
        Semantic.BARRIER,
        Semantic.TRAFFIC_LIGHT,
        Semantic.PUDDLE,
        Semantic.SKY,
    ):
        assert (sem == cls).any(), f"{cls.name} missing from the test street"
    rgb = out.rgb[0].permute(0, 2, 3, 1).float()  # (N, H, W, 3)
    puddle, road = rgb[sem == Semantic.PUDDLE].mean(0), rgb[sem == Semantic.ROAD].mean(0)
    assert puddle[2] > puddle[0] and puddle[2] - puddle[0] > road[2] - road[0]  # water is bluish


def test_fog_turns_the_far_field_grey(renderer):
    sc = make_test_scene(1)
    sc.fog[0] = 0.1  # visibility ~30 m
    out = renderer.render(sc)
    sky = out.rgb[0].permute(0, 2, 3, 1)[out.semantics[0] == Semantic.SKY].float()
    assert (sky.std(0) < 3).all()  # uniform fog, no gradient left
    assert (sky.mean(0) - torch.tensor([0.74, 0.76, 0.79]) * 255).abs().max() < 3


def test_mosaic_and_png(tmp_path):
    rgb = torch.randint(0, 255, (8, 3, 64, 128), dtype=torch.uint8)
    m = camera_mosaic(rgb, RIG.names)
    assert m.shape == (2 * 64, 4 * 128, 3)
    # Camera 5 (side_right) sits in row 1, column 1; below its caption the pixels are the image.
    assert np.array_equal(m[64 + 20 : 128, 128:256], rgb[5, :, 20:].permute(1, 2, 0).numpy())
    path = tmp_path / "m.png"
    write_png(path, m)
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    idat = data.index(b"IDAT")
    raw = zlib.decompress(data[idat + 4 : data.index(b"IEND") - 8])
    assert len(raw) == m.shape[0] * (1 + m.shape[1] * 3)
    assert raw[1 : 1 + 3 * 10] == m[0, :10].tobytes()
    with pytest.raises(ValueError, match="uint8"):
        write_png(path, m.astype(np.float32))


def test_ground_lookup_matches_the_scene_contract():
    from e2edrive.core.geometry import to_world_points
    from e2edrive.sim.render.ground import ground_lookup

    sc = make_test_scene(3, ego_yaw=0.7)
    sc.ego_pose[1, :2] = torch.tensor([236.0, 18.0])  # near the raster's corner: some points fall outside
    pts = torch.rand(8, 500, 2, generator=torch.Generator().manual_seed(0)) * 80 - 40  # (N, P, 2) ego frame
    material, _ = ground_lookup(sc.ground, sc.ego_pose, pts)
    expected = sc.ground.lookup(to_world_points(sc.ego_pose, pts.expand(3, -1, -1, -1)))
    assert torch.equal(material, expected.long())
    assert (material[1] == Semantic.GRASS).any() and (material[0] == Semantic.ROAD).any()


@pytest.mark.parametrize("dist", [10.0, 25.0])
def test_brake_lights_of_a_car_ahead(renderer, dist):
    """A car ahead shows lit red lamps on its back while it brakes, and none when it does not."""
    sc = empty_scene()
    put_object(sc, 0, 1.9 + dist + 2.3, 0.0, 0.0, (4.6, 1.9, 1.5))  # back face dist m ahead, facing away
    sc.obj_color[0, 0] = torch.tensor([200, 200, 200], dtype=torch.uint8)  # grey: red is only the lamps
    sc.obj_braking = torch.zeros_like(sc.obj_valid)
    front = RIG.index("front_main")
    dark = count_lamp_pixels(renderer.render(sc).rgb[0, front], LightState.RED)
    sc.obj_braking[0, 0] = True
    lit = count_lamp_pixels(renderer.render(sc).rgb[0, front], LightState.RED)
    assert dark == 0
    assert lit >= 3
    sc.obj_pose[0, 0, 2] = math.pi  # turned towards the ego: headlights, no brake lights in view
    assert count_lamp_pixels(renderer.render(sc).rgb[0, front], LightState.RED) == 0


def test_world_lights_brake_lamps_while_the_lead_brakes():
    """follow_lead: the lead car's brake lights are on exactly while it decelerates past 0.5 m/s^2."""
    from e2edrive.sim.actors.step import BRAKE_LIGHT_DECEL
    from e2edrive.sim.expert.driver import ExpertDriver
    from e2edrive.sim.world import World

    w = World(["follow_lead"], [3])
    d = ExpertDriver()
    prev = w.actors.speed.clone()
    seen = 0
    for _ in range(150):
        w.step(d.act(w.observation(), w.privileged())[0])
        decel = (prev - w.actors.speed) / 0.1
        vehicle = w.actors.valid & (w.actors.cls == int(ObjectClass.VEHICLE)) & (w.actors.speed > 0.1)
        hard = vehicle & (decel > BRAKE_LIGHT_DECEL + 0.05)
        assert bool((w.actors.braking | ~hard).all()), "a car decelerating hard shows no brake lights"
        gentle = vehicle & (decel < BRAKE_LIGHT_DECEL - 0.05) & ~w.actors.spinning
        assert not bool((w.actors.braking & gentle).any()), "brake lights on without braking"
        seen += int(w.actors.braking.sum())
        prev = w.actors.speed.clone()
    assert seen > 0
    assert w.scene().obj_braking is not None
