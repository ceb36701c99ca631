"""The 8-camera rig: names, intrinsics K and extrinsics T_ego_from_cam, in a Tesla-like layout.

Camera frames follow OpenCV: x right, y down, z forward (optical axis). The ego frame has x
forward, y left, z up, origin at the rear-axle centre on the ground. The rig and the image size
are configuration: build another `CameraRig` with `make_rig(...)` and every consumer (renderer,
network, dataset) reads it from there.

Default layout (yaw measured from the ego x axis, positive to the left):

| camera      | mount (x, y, z) m   | yaw    | horizontal FOV | role                            |
|-------------|---------------------|--------|----------------|---------------------------------|
| front_main  | (1.9, 0.0, 1.35)    |   0°   |  35°           | windshield, long range          |
| front_wide  | (1.9, 0.0, 1.35)    |   0°   | 120°           | windshield fisheye-like, near   |
| front_left  | (1.0, 0.9, 1.3)     |  55°   |  90°           | B-pillar, forward-left          |
| front_right | (1.0, -0.9, 1.3)    | -55°   |  90°           | B-pillar, forward-right         |
| side_left   | (2.3, 0.95, 0.95)   | 125°   |  90°           | fender repeater, looks back-left|
| side_right  | (2.3, -0.95, 0.95)  | -125°  |  90°           | fender repeater, back-right     |
| rear_main   | (-0.9, 0.0, 1.0)    | 180°   | 110°           | above the licence plate         |
| rear_left   | (-0.5, 0.5, 1.2)    | 150°   |  70°           | rear window, back-left          |

Default resolution 64 x 128 (H x W) for all cameras: small enough for a laptop CPU to render
and learn from. At 35° front_main has fx = 203 px, so a 0.35 m traffic-light lamp at 30 m spans
2.4 px on a side (about 5.6 px) and a 0.45 x 0.35 m chicken at 15 m about 6 x 5 px: the objects
the scenarios hinge on are visible. Its vertical FOV is 18°, so a light closer than ~25 m leaves
front_main's view upward; front_wide (vertical FOV 80°) keeps it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from e2edrive.core.geometry import se3_from_rt

CAMERA_NAMES: tuple[str, ...] = (
    "front_main",
    "front_wide",
    "front_left",
    "front_right",
    "side_left",
    "side_right",
    "rear_main",
    "rear_left",
)

# name: (x, y, z, yaw_deg, pitch_deg (positive looks down), hfov_deg)
DEFAULT_MOUNTS: dict[str, tuple[float, float, float, float, float, float]] = {
    "front_main": (1.9, 0.0, 1.35, 0.0, 0.0, 35.0),
    "front_wide": (1.9, 0.0, 1.35, 0.0, 5.0, 120.0),
    "front_left": (1.0, 0.9, 1.3, 55.0, 3.0, 90.0),
    "front_right": (1.0, -0.9, 1.3, -55.0, 3.0, 90.0),
    "side_left": (2.3, 0.95, 0.95, 125.0, 3.0, 90.0),
    "side_right": (2.3, -0.95, 0.95, -125.0, 3.0, 90.0),
    "rear_main": (-0.9, 0.0, 1.0, 180.0, 5.0, 110.0),
    "rear_left": (-0.5, 0.5, 1.2, 150.0, 3.0, 70.0),
}
DEFAULT_HEIGHT = 64  # px
DEFAULT_WIDTH = 128  # px


@dataclass(frozen=True)
class CameraRig:
    """Calibration of N cameras sharing one image size.

    K:             (N, 3, 3) pinhole intrinsics in pixels (u right, v down, pixel centres at +0.5)
    T_ego_from_cam: (N, 4, 4) camera pose in the ego frame
    """

    names: tuple[str, ...]
    K: torch.Tensor  # (N, 3, 3) float32
    T_ego_from_cam: torch.Tensor  # (N, 4, 4) float32
    height: int
    width: int

    @property
    def num_cameras(self) -> int:
        return len(self.names)

    def to(self, device: torch.device | str) -> CameraRig:
        K, T = self.K.to(device), self.T_ego_from_cam.to(device)
        return CameraRig(self.names, K, T, self.height, self.width)

    def index(self, name: str) -> int:
        if name not in self.names:
            raise KeyError(f"camera {name!r} not in rig {list(self.names)}")
        return self.names.index(name)

    def matches(self, other: CameraRig, atol: float = 1e-4) -> bool:
        """Same cameras, same image size, same calibration within atol."""
        return (
            self.names == other.names
            and (self.height, self.width) == (other.height, other.width)
            and torch.allclose(self.K.cpu(), other.K.cpu(), atol=atol)
            and torch.allclose(self.T_ego_from_cam.cpu(), other.T_ego_from_cam.cpu(), atol=atol)
        )

    def to_dict(self) -> dict:
        return {
            "names": list(self.names),
            "K": self.K.cpu().tolist(),
            "T_ego_from_cam": self.T_ego_from_cam.cpu().tolist(),
            "height": self.height,
            "width": self.width,
        }

    @staticmethod
    def from_dict(d: dict) -> CameraRig:
        return CameraRig(
            tuple(d["names"]),
            torch.tensor(d["K"], dtype=torch.float32),
            torch.tensor(d["T_ego_from_cam"], dtype=torch.float32),
            int(d["height"]),
            int(d["width"]),
        )


def intrinsics(hfov_deg: float, height: int, width: int) -> torch.Tensor:
    """Square-pixel pinhole K with the principal point at the image centre."""
    f = (width / 2) / math.tan(math.radians(hfov_deg) / 2)
    return torch.tensor([[f, 0.0, width / 2], [0.0, f, height / 2], [0.0, 0.0, 1.0]])


def camera_to_ego_rotation(yaw: float, pitch: float) -> torch.Tensor:
    """R_ego_from_cam for an OpenCV camera looking along ego yaw, pitched down by `pitch` (rad)."""
    cy, sy, cp, sp = math.cos(yaw), math.sin(yaw), math.cos(pitch), math.sin(pitch)
    forward = torch.tensor([cy * cp, sy * cp, -sp])  # camera z
    right = torch.tensor([sy, -cy, 0.0])  # camera x
    down = torch.linalg.cross(forward, right)  # camera y = z × x
    return torch.stack([right, down, forward], dim=1)


def make_rig(
    height: int = DEFAULT_HEIGHT,
    width: int = DEFAULT_WIDTH,
    names: tuple[str, ...] = CAMERA_NAMES,
    mounts: dict[str, tuple[float, float, float, float, float, float]] | None = None,
) -> CameraRig:
    """Build a rig from mounts (x, y, z, yaw°, pitch°, hfov°) per camera name."""
    mounts = mounts or DEFAULT_MOUNTS
    missing = [n for n in names if n not in mounts]
    if missing:
        raise KeyError(f"no mount for cameras {missing}; known: {sorted(mounts)}")
    Ks, Ts = [], []
    for n in names:
        x, y, z, yaw, pitch, hfov = mounts[n]
        Ks.append(intrinsics(hfov, height, width))
        R = camera_to_ego_rotation(math.radians(yaw), math.radians(pitch))
        Ts.append(se3_from_rt(R, torch.tensor([x, y, z])))
    return CameraRig(tuple(names), torch.stack(Ks).float(), torch.stack(Ts).float(), height, width)


def project_points(rig: CameraRig, points_ego: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Project ego-frame points into every camera.

    points_ego: (..., P, 3) -> uv (..., N, P, 2) pixel coordinates, depth (..., N, P) along the
    optical axis (z_cam; negative means behind the camera).
    """
    from e2edrive.core.geometry import se3_apply, se3_inverse

    T_cam_from_ego = se3_inverse(rig.T_ego_from_cam.to(points_ego))  # (N, 4, 4)
    p = se3_apply(T_cam_from_ego, points_ego.unsqueeze(-3))  # (..., N, P, 3)
    depth = p[..., 2]
    pix = p @ rig.K.to(points_ego).transpose(-1, -2)  # (..., N, P, 3)
    uv = pix[..., :2] / depth.clamp(min=1e-6).unsqueeze(-1)
    return uv, depth
