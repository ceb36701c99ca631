"""Every solid thing of a `Scene` as one list of upright oriented boxes in the ego frame.

Objects, barrier segments and traffic lights (housing + pole) become the same primitive, an
upright box (centre xy, yaw, half length/width, z range), so the renderer casts rays against
one table and the label maker tests voxels against the same table: what the camera sees and
what the occupancy says are the same geometry by construction.

Order along K: objects [0, N), barriers [N, N + M), light housings [N + M, N + M + T), light
poles [N + M + T, N + M + 2T). `Look` says how a box is textured.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

import torch

from e2edrive.core.constants import LightState, ObjectClass, Semantic
from e2edrive.core.geometry import to_local_points, wrap_angle
from e2edrive.sim.scene import Scene

BARRIER_WIDTH = 0.4  # m, a Jersey barrier's footprint
BARRIER_COLOR = (150, 150, 145)  # concrete
HOUSING_SIZE = (0.3, 0.5, 1.3)  # m (depth along the facing direction, width, height) of a signal head
LAMP_OFFSETS = (0.42, 0.0, -0.42)  # m above the housing centre of the red, yellow, green lamps
LAMP_HALF = 0.2  # m, half side of a lamp's lit square (a 300 mm lens plus its glow on a backplate)
POLE_SIZE = 0.16  # m, side of a signal pole's square section
HOUSING_COLOR = (28, 28, 30)
POLE_COLOR = (95, 95, 100)


class Look(enum.IntEnum):
    """How a box is textured by the renderer (one per kind of thing, not per class)."""

    VEHICLE = 0
    PEDESTRIAN = 1
    ANIMAL = 2
    DEBRIS = 3
    BARRIER = 4
    HOUSING = 5
    POLE = 6


_CLASS_LOOK = {
    ObjectClass.VEHICLE: Look.VEHICLE,
    ObjectClass.PEDESTRIAN: Look.PEDESTRIAN,
    ObjectClass.CHICKEN: Look.ANIMAL,
    ObjectClass.GOOSE: Look.ANIMAL,
    ObjectClass.UNKNOWN: Look.DEBRIS,
}
_CLASS_SEMANTIC = {
    ObjectClass.VEHICLE: Semantic.VEHICLE,
    ObjectClass.PEDESTRIAN: Semantic.PEDESTRIAN,
    ObjectClass.CHICKEN: Semantic.CHICKEN,
    ObjectClass.GOOSE: Semantic.GOOSE,
    ObjectClass.UNKNOWN: Semantic.DEBRIS,
}


@dataclass
class SolidBoxes:
    """Upright boxes in the ego frame, K = N_obj + M_barriers + 2 T_lights.

    center:   (B, K, 2) ego xy of the footprint centre
    yaw:      (B, K) ego-frame heading of the box's length axis
    half:     (B, K, 2) half length, half width
    z0, z1:   (B, K) bottom and top height above the ground
    velocity: (B, K, 2) absolute velocity rotated into the ego frame (0 for static things)
    look:     (B, K) long, `Look`
    semantic: (B, K) long, core.constants.Semantic
    color:    (B, K, 3) float in [0, 1], albedo
    light_state: (B, K) long LightState for housings; for objects RED while a vehicle's brake lights
              are lit; NONE elsewhere
    valid:    (B, K) bool
    num_objects: N_obj, the first entries mirror Scene.obj_* one to one
    """

    center: torch.Tensor
    yaw: torch.Tensor
    half: torch.Tensor
    z0: torch.Tensor
    z1: torch.Tensor
    velocity: torch.Tensor
    look: torch.Tensor
    semantic: torch.Tensor
    color: torch.Tensor
    light_state: torch.Tensor
    valid: torch.Tensor
    num_objects: int

    @property
    def num_boxes(self) -> int:
        return self.yaw.shape[1]


def _table(mapping: dict, device) -> torch.Tensor:
    return torch.tensor([int(mapping[c]) for c in ObjectClass], dtype=torch.long, device=device)


def rotate_into(yaw_frame: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """World vectors v (B, ..., 2) expressed in a frame of heading yaw_frame (B,)."""
    shape = (yaw_frame.shape[0],) + (1,) * (v.dim() - 2)
    c, s = torch.cos(yaw_frame).view(shape), torch.sin(yaw_frame).view(shape)
    return torch.stack([c * v[..., 0] + s * v[..., 1], -s * v[..., 0] + c * v[..., 1]], -1)


def scene_boxes(scene: Scene) -> SolidBoxes:
    """All solid boxes of the scene in the ego frame (see module docstring for the order)."""
    ego = scene.ego_pose  # (B, 3)
    B, N = scene.obj_class.shape
    dev, f32 = ego.device, torch.float32
    ego_yaw = ego[:, 2]

    # Objects: boxes stand on the ground.
    cls = scene.obj_class.clamp(0, len(ObjectClass) - 1)
    o_center = to_local_points(ego, scene.obj_pose[..., :2])  # (B, N, 2)
    o_yaw = wrap_angle(scene.obj_pose[..., 2] - ego_yaw[:, None])
    o_half = scene.obj_size[..., :2] / 2
    o_z0 = torch.zeros(B, N, device=dev, dtype=f32)
    o_z1 = scene.obj_size[..., 2].to(f32)
    o_vel = rotate_into(ego_yaw, scene.obj_velocity)
    o_look = _table(_CLASS_LOOK, dev)[cls]
    o_sem = _table(_CLASS_SEMANTIC, dev)[cls]
    o_color = scene.obj_color.to(f32) / 255.0
    o_valid = scene.obj_valid & (scene.obj_size > 0).all(-1)

    # Barriers: a segment (x0, y0, x1, y1) becomes a BARRIER_WIDTH-wide box along it.
    seg = scene.barriers.to(f32)  # (B, M, 4)
    M = seg.shape[1]
    a = to_local_points(ego, seg[..., 0:2])
    b = to_local_points(ego, seg[..., 2:4])
    d = b - a
    seg_len = torch.linalg.vector_norm(d, dim=-1)
    b_center = (a + b) / 2
    b_yaw = torch.atan2(d[..., 1], d[..., 0])
    b_half = torch.stack([seg_len / 2, torch.full_like(seg_len, BARRIER_WIDTH / 2)], -1)
    b_z0 = torch.zeros_like(seg_len)
    b_z1 = torch.full_like(seg_len, float(scene.barrier_height))
    b_valid = scene.barrier_valid & (seg_len > 1e-3)

    # Traffic lights: a housing facing light_yaw at light_pos, and a pole from the ground to it.
    T = scene.light_pos.shape[1]
    l_center = to_local_points(ego, scene.light_pos[..., :2].to(f32))  # (B, T, 2)
    l_yaw = wrap_angle(scene.light_yaw.to(f32) - ego_yaw[:, None])
    l_zc = scene.light_pos[..., 2].to(f32)
    hd, hw, hh = HOUSING_SIZE
    h_half = torch.tensor([hd / 2, hw / 2], device=dev).expand(B, T, 2)
    h_z0, h_z1 = l_zc - hh / 2, l_zc + hh / 2
    p_half = torch.full((B, T, 2), POLE_SIZE / 2, device=dev)
    p_z0, p_z1 = torch.zeros_like(l_zc), (l_zc - hh / 2).clamp(min=0.0)

    def const(n: int, value, dtype=torch.long) -> torch.Tensor:
        return torch.full((B, n), value, dtype=dtype, device=dev)

    def color(n: int, rgb) -> torch.Tensor:
        return (torch.tensor(rgb, dtype=f32, device=dev) / 255.0).expand(B, n, 3)

    zeros2 = torch.zeros(B, M + 2 * T, 2, device=dev)
    brake = const(N, 0) if scene.obj_braking is None else scene.obj_braking.long() * int(LightState.RED)
    return SolidBoxes(
        center=torch.cat([o_center, b_center, l_center, l_center], 1),
        yaw=torch.cat([o_yaw, b_yaw, l_yaw, l_yaw], 1),
        half=torch.cat([o_half.to(f32), b_half, h_half, p_half], 1),
        z0=torch.cat([o_z0, b_z0, h_z0, p_z0], 1),
        z1=torch.cat([o_z1, b_z1, h_z1, p_z1], 1),
        velocity=torch.cat([o_vel.to(f32), zeros2], 1),
        look=torch.cat([o_look, const(M, Look.BARRIER), const(T, Look.HOUSING), const(T, Look.POLE)], 1),
        semantic=torch.cat([o_sem, const(M, Semantic.BARRIER), const(2 * T, Semantic.TRAFFIC_LIGHT)], 1),
        color=torch.cat([o_color, color(M, BARRIER_COLOR), color(T, HOUSING_COLOR), color(T, POLE_COLOR)], 1),
        light_state=torch.cat([brake, const(M, 0), scene.light_state.long(), const(T, 0)], 1),
        valid=torch.cat([o_valid, b_valid, scene.light_valid, scene.light_valid & (p_z1 > 0)], 1),
        num_objects=N,
    )


def box_corners(boxes: SolidBoxes) -> torch.Tensor:
    """(B, K, 8, 3) ego-frame corners of every box."""
    c, s = torch.cos(boxes.yaw), torch.sin(boxes.yaw)  # (B, K)
    sx = torch.tensor([1, 1, -1, -1, 1, 1, -1, -1], dtype=c.dtype, device=c.device)
    sy = torch.tensor([1, -1, -1, 1, 1, -1, -1, 1], dtype=c.dtype, device=c.device)
    top = torch.tensor([0, 0, 0, 0, 1, 1, 1, 1], dtype=torch.bool, device=c.device)
    lx = sx * boxes.half[..., 0:1]  # (B, K, 8)
    ly = sy * boxes.half[..., 1:2]
    x = boxes.center[..., 0:1] + c[..., None] * lx - s[..., None] * ly
    y = boxes.center[..., 1:2] + s[..., None] * lx + c[..., None] * ly
    z = torch.where(top, boxes.z1[..., None], boxes.z0[..., None])
    return torch.stack([x, y, z], -1)
