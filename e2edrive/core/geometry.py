"""SE(2) and SE(3) helpers, batched over any leading dimensions, on any device.

Poses in the plane are (x, y, yaw). 4x4 transforms are named `T_dst_from_src`: a point p in
frame src maps to T_dst_from_src @ p in frame dst.
"""

from __future__ import annotations

import math

import torch


def wrap_angle(a: torch.Tensor) -> torch.Tensor:
    """Angle wrapped to [-pi, pi)."""
    return torch.remainder(a + math.pi, 2 * math.pi) - math.pi


def rot2(yaw: torch.Tensor) -> torch.Tensor:
    """2x2 rotation matrices.  yaw (...) -> (..., 2, 2)."""
    c, s = torch.cos(yaw), torch.sin(yaw)
    return torch.stack([torch.stack([c, -s], -1), torch.stack([s, c], -1)], -2)


def se2_to_matrix(pose: torch.Tensor) -> torch.Tensor:
    """(..., 3) poses (x, y, yaw) -> (..., 3, 3) homogeneous matrices."""
    m = torch.zeros(*pose.shape[:-1], 3, 3, dtype=pose.dtype, device=pose.device)
    m[..., :2, :2] = rot2(pose[..., 2])
    m[..., :2, 2] = pose[..., :2]
    m[..., 2, 2] = 1.0
    return m


def se2_compose(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """a ∘ b for poses (..., 3): the pose b, given in frame a, expressed in a's parent frame."""
    c, s = torch.cos(a[..., 2]), torch.sin(a[..., 2])
    x = a[..., 0] + c * b[..., 0] - s * b[..., 1]
    y = a[..., 1] + s * b[..., 0] + c * b[..., 1]
    return torch.stack([x, y, wrap_angle(a[..., 2] + b[..., 2])], -1)


def se2_inverse(a: torch.Tensor) -> torch.Tensor:
    """Inverse of poses (..., 3)."""
    c, s = torch.cos(a[..., 2]), torch.sin(a[..., 2])
    x = -c * a[..., 0] - s * a[..., 1]
    y = s * a[..., 0] - c * a[..., 1]
    return torch.stack([x, y, wrap_angle(-a[..., 2])], -1)


def se2_relative(frame: torch.Tensor, pose: torch.Tensor) -> torch.Tensor:
    """pose (..., 3), given in the parent frame, expressed in `frame` (..., 3): frame^-1 ∘ pose."""
    return se2_compose(se2_inverse(frame), pose)


def to_local_points(frame: torch.Tensor, xy: torch.Tensor) -> torch.Tensor:
    """Points xy (B, ..., 2) in the parent frame expressed in frame (B, 3)."""
    shape = (frame.shape[0],) + (1,) * (xy.dim() - 2)
    dx = xy[..., 0] - frame[:, 0].view(shape)
    dy = xy[..., 1] - frame[:, 1].view(shape)
    c, s = torch.cos(frame[:, 2]).view(shape), torch.sin(frame[:, 2]).view(shape)
    return torch.stack([c * dx + s * dy, -s * dx + c * dy], -1)


def to_world_points(frame: torch.Tensor, xy: torch.Tensor) -> torch.Tensor:
    """Points xy (B, ..., 2) in frame (B, 3) expressed in the parent frame."""
    shape = (frame.shape[0],) + (1,) * (xy.dim() - 2)
    c, s = torch.cos(frame[:, 2]).view(shape), torch.sin(frame[:, 2]).view(shape)
    x = frame[:, 0].view(shape) + c * xy[..., 0] - s * xy[..., 1]
    y = frame[:, 1].view(shape) + s * xy[..., 0] + c * xy[..., 1]
    return torch.stack([x, y], -1)


def se3_from_rt(R: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """(..., 3, 3), (..., 3) -> (..., 4, 4)."""
    T = torch.zeros(*R.shape[:-2], 4, 4, dtype=R.dtype, device=R.device)
    T[..., :3, :3] = R
    T[..., :3, 3] = t
    T[..., 3, 3] = 1.0
    return T


def se3_inverse(T: torch.Tensor) -> torch.Tensor:
    """Inverse of rigid transforms (..., 4, 4), exact (R^T, -R^T t)."""
    R, t = T[..., :3, :3], T[..., :3, 3]
    Rt = R.transpose(-1, -2)
    return se3_from_rt(Rt, -(Rt @ t.unsqueeze(-1)).squeeze(-1))


def se3_apply(T: torch.Tensor, p: torch.Tensor) -> torch.Tensor:
    """Apply T (..., 4, 4) to points p (..., N, 3) -> (..., N, 3)."""
    return p @ T[..., :3, :3].transpose(-1, -2) + T[..., None, :3, 3]


def rot_z(yaw: torch.Tensor) -> torch.Tensor:
    """Rotation about z. (...) -> (..., 3, 3)."""
    c, s = torch.cos(yaw), torch.sin(yaw)
    z, o = torch.zeros_like(yaw), torch.ones_like(yaw)
    rows = [torch.stack([c, -s, z], -1), torch.stack([s, c, z], -1), torch.stack([z, z, o], -1)]
    return torch.stack(rows, -2)


def se2_to_se3(pose: torch.Tensor) -> torch.Tensor:
    """Planar poses (..., 3) -> (..., 4, 4) with z = 0."""
    t = torch.cat([pose[..., :2], torch.zeros_like(pose[..., :1])], -1)
    return se3_from_rt(rot_z(pose[..., 2]), t)
