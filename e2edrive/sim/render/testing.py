"""A hand-built `Scene` for tests, the benchmark and pictures: a straight two-way road along +x
with two lanes each way, markings, a crosswalk and stop line, a puddle, barriers on both edges,
traffic lights, cars, a chicken, a goose, a pedestrian and debris.

Lanes (y, metres): right-hand traffic, the ego drives along +x in the lane centred at -1.75;
the yellow centre line is at 0, dashed lane lines at +-3.5, solid edge lines at +-6.9, the
asphalt ends at +-7, a kerb/sidewalk to +-9, then grass. Environment b of a batch is the same
street with the ego 3 b metres further along and the lights cycling, so B > 1 is not B copies.
"""

from __future__ import annotations

import math

import torch

from e2edrive.core.constants import LightState, ObjectClass, Semantic
from e2edrive.sim.scene import GroundRaster, Scene

X0, X1, Y0, Y1 = -60.0, 240.0, -20.0, 20.0  # m, raster extent
RES = 0.1  # m per raster cell
STOP_X, CROSS_X = 56.0, (58.0, 62.0)  # m, stop line and crosswalk span along x
LIGHT_X = 63.0

# (x, y, yaw, length, width, height, class, rgb)
OBJECTS = [
    (20.0, -1.75, 0.0, 4.6, 1.9, 1.5, ObjectClass.VEHICLE, (180, 30, 30)),  # lead car
    (40.0, 1.75, math.pi, 4.4, 1.8, 1.45, ObjectClass.VEHICLE, (30, 60, 170)),  # oncoming
    (75.0, 5.25, math.pi, 8.0, 2.5, 3.2, ObjectClass.VEHICLE, (225, 225, 220)),  # oncoming truck
    (-12.0, -1.75, 0.0, 4.5, 1.85, 1.5, ObjectClass.VEHICLE, (120, 120, 125)),  # follower
    (-4.0, -5.25, 0.2, 4.5, 1.85, 1.5, ObjectClass.VEHICLE, (20, 130, 60)),  # right-lane neighbour
    (15.0, -0.6, 1.4, 0.45, 0.35, 0.4, ObjectClass.CHICKEN, (245, 245, 240)),
    (18.0, 2.6, -0.3, 0.8, 0.45, 0.85, ObjectClass.GOOSE, (120, 100, 80)),
    (30.0, -7.8, 1.57, 0.5, 0.5, 1.75, ObjectClass.PEDESTRIAN, (40, 140, 60)),
    (24.0, -4.6, 0.7, 0.9, 0.6, 0.35, ObjectClass.UNKNOWN, (140, 110, 70)),
]
LIGHTS = [
    ((LIGHT_X, -8.3, 5.2), math.pi, LightState.RED),  # governs the ego's direction
    ((STOP_X - 6.0, 8.3, 5.2), 0.0, LightState.GREEN),
]  # governs the oncoming direction


def make_ground(batch: int, device) -> GroundRaster:
    """The street's material raster (identical for every environment)."""
    xs = X0 + (torch.arange(round((X1 - X0) / RES)) + 0.5) * RES  # cell centres
    ys = Y0 + (torch.arange(round((Y1 - Y0) / RES)) + 0.5) * RES
    y, x = torch.meshgrid(ys, xs, indexing="ij")  # rows along +y, columns along +x
    m = torch.full(x.shape, int(Semantic.GRASS), dtype=torch.uint8)
    ay = y.abs()
    m[ay < 9.0] = Semantic.KERB
    m[ay < 7.0] = Semantic.ROAD
    m[(ay > 6.75) & (ay < 6.9)] = Semantic.LANE_MARKING  # solid edge lines
    dash = torch.remainder(x, 9.0) < 3.0  # 3 m dashes, 6 m gaps
    m[((ay - 3.5).abs() < 0.075) & dash] = Semantic.LANE_MARKING
    m[(ay > 0.05) & (ay < 0.2)] = Semantic.CENTER_LINE  # double yellow
    m[(x > STOP_X - 0.3) & (x < STOP_X + 0.3) & (y < 0) & (y > -7)] = Semantic.STOP_LINE
    zebra = torch.remainder(y, 1.2) < 0.6
    m[(x > CROSS_X[0]) & (x < CROSS_X[1]) & (ay < 7) & zebra] = Semantic.CROSSWALK
    m[((x - 11.0) / 2.2) ** 2 + ((y + 2.9) / 1.0) ** 2 < 1.0] = Semantic.PUDDLE
    return GroundRaster(
        material=m.expand(batch, -1, -1).contiguous().to(device),
        origin=torch.tensor([[X0, Y0]]).expand(batch, 2).contiguous().to(device),
        res=RES,
    )


def make_test_scene(
    batch: int = 1, device="cpu", ego_x: float = 0.0, ego_y: float = -1.75, ego_yaw: float = 0.0
) -> Scene:
    """The street with its actors; env b has its ego 3 b m further along and the lights shifted."""
    f = dict(device=device, dtype=torch.float32)
    ego = torch.tensor([[ego_x + 3.0 * b, ego_y, ego_yaw] for b in range(batch)], **f)
    obj = torch.tensor([o[:6] for o in OBJECTS], **f)  # (N, 6)
    N = len(OBJECTS)
    seg_x = torch.arange(X0, X1, 10.0)
    barriers = torch.cat(
        [
            torch.stack(
                [seg_x, torch.full_like(seg_x, side * 9.3), seg_x + 10.0, torch.full_like(seg_x, side * 9.3)],
                -1,
            )
            for side in (-1, 1)
        ]
    )
    M = barriers.shape[0]
    T = len(LIGHTS)
    states = torch.tensor([[int(LIGHTS[i][2]) - 1 + b for i in range(T)] for b in range(batch)]) % 3 + 1
    lanes_y = [(-7.0, 2), (-3.5, 0), (0.0, 1), (3.5, 0), (7.0, 2)]
    px = torch.linspace(X0, X1, 61)
    lane_lines = torch.stack([torch.stack([px, torch.full_like(px, ly)], -1) for ly, _ in lanes_y])
    speeds = torch.tensor([8.0, -9.0, -7.0, 8.0, 9.0, 0.4, 0.0, 1.2, 0.0])  # along each object's heading
    heading = obj[:, 2].cpu()  # speeds are built on the host; the scene moves to `device` below
    vel = torch.stack([speeds * torch.cos(heading), speeds * torch.sin(heading)], -1)
    sun = torch.tensor([0.35, 0.45, 0.82])
    return Scene(
        ground=make_ground(batch, device),
        ego_pose=ego,
        ego_velocity=torch.tensor([[8.0, 0.0]] * batch, **f),
        obj_pose=obj[:, :3].expand(batch, N, 3).contiguous(),
        obj_size=obj[:, 3:6].expand(batch, N, 3).contiguous(),
        obj_velocity=vel.to(**f).expand(batch, N, 2).contiguous(),
        obj_class=torch.tensor([int(o[6]) for o in OBJECTS], device=device).expand(batch, N).contiguous(),
        obj_color=torch.tensor([o[7] for o in OBJECTS], dtype=torch.uint8, device=device)
        .expand(batch, N, 3)
        .contiguous(),
        obj_valid=torch.ones(batch, N, dtype=torch.bool, device=device),
        barriers=barriers.to(**f).expand(batch, M, 4).contiguous(),
        barrier_valid=torch.ones(batch, M, dtype=torch.bool, device=device),
        light_pos=torch.tensor([li[0] for li in LIGHTS], **f).expand(batch, T, 3).contiguous(),
        light_yaw=torch.tensor([li[1] for li in LIGHTS], **f).expand(batch, T).contiguous(),
        light_state=states.to(device),
        light_valid=torch.ones(batch, T, dtype=torch.bool, device=device),
        ego_light=states[:, 0].to(device),
        ego_light_index=torch.zeros(batch, dtype=torch.long, device=device),
        lane_lines=lane_lines.to(**f).expand(batch, -1, -1, -1).contiguous(),
        lane_line_type=torch.tensor([t for _, t in lanes_y], device=device).expand(batch, -1).contiguous(),
        lane_line_valid=torch.ones(batch, len(lanes_y), dtype=torch.bool, device=device),
        sun_dir=(sun / sun.norm()).to(**f).expand(batch, 3).contiguous(),
        ambient=torch.ones(batch, **f),
        fog=torch.zeros(batch, **f),
    )
