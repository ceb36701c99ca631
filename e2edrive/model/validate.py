"""Input checks of the driving network: a wrong rig, a missing camera, another resolution or a NaN
frame is an error that says what is wrong, not a silently wrong steering command."""

from __future__ import annotations

import torch

from e2edrive.core.rig import CameraRig
from e2edrive.core.types import Observation


def rig_difference(expected: CameraRig, got: CameraRig, atol: float = 1e-4) -> str | None:
    """None when the rigs match, else what differs, in words."""
    if expected.names != got.names:
        return f"camera names {list(got.names)} != model's {list(expected.names)}"
    if (expected.height, expected.width) != (got.height, got.width):
        return f"image size {got.height}x{got.width} != model's {expected.height}x{expected.width}"
    for what, a, b in (
        ("intrinsics K", expected.K, got.K),
        ("extrinsics T_ego_from_cam", expected.T_ego_from_cam, got.T_ego_from_cam),
    ):
        a, b = a.detach().cpu().float(), b.detach().cpu().float()
        if a.shape != b.shape or not torch.allclose(a, b, atol=atol):
            diff = (a - b).abs().flatten(1).amax(1) if a.shape == b.shape else None
            cams = (
                [expected.names[i] for i in (diff > atol).nonzero().flatten().tolist()]
                if diff is not None
                else "all"
            )
            return f"{what} differ from the model's calibration for cameras {cams}"
    return None


def _bad_rows(x: torch.Tensor, lead: int) -> list[int]:
    bad = ~torch.isfinite(x)
    return bad.reshape(*x.shape[:lead], -1).any(-1).flatten().nonzero().flatten().tolist()


def check_pixels(img: torch.Tensor, clip: bool) -> None:
    """uint8 frames, or (training clips only) finite float 0..255. A streaming `act` gets camera
    frames, always uint8: a float frame there is a preprocessing mistake, refused."""
    lead = 2 if clip else 1
    if img.dtype == torch.uint8:
        return
    if not img.is_floating_point():
        raise ValueError(f"images must be uint8 (or float 0..255), got {img.dtype}")
    bad = _bad_rows(img, lead + 1)
    if bad:
        raise ValueError(
            f"images contain NaN or inf in {len(bad)} camera frame(s), flat indices {bad[:10]} "
            f"over {tuple(img.shape[: lead + 1])}"
        )
    if not clip:
        raise ValueError(f"act takes uint8 camera frames as the cameras give them, got {img.dtype} images")


def check_frames(obs: Observation, clip: bool) -> None:
    """The frame checks of a network that knows no rig of its own (DAVE-2): layout, the size the
    observation's rig says, pixel type."""
    lead = 2 if clip else 1
    layout = "(B, T, N_cam, 3, H, W)" if clip else "(B, N_cam, 3, H, W)"
    img = obs.images
    if img.dim() != lead + 4 or img.shape[-3] != 3:
        raise ValueError(f"images must be {layout}, got shape {tuple(img.shape)}")
    H, W = img.shape[-2:]
    if (H, W) != (obs.rig.height, obs.rig.width):
        raise ValueError(f"images are {H}x{W}, the rig says {obs.rig.height}x{obs.rig.width}")
    check_pixels(img, clip)


def check_observation(obs: Observation, rig: CameraRig, clip: bool, check_rig: bool = True) -> None:
    """Raise ValueError naming the problem. clip=True: tensors (B, T, ...); False: (B, ...)."""
    lead = 2 if clip else 1
    layout = "(B, T, N_cam, 3, H, W)" if clip else "(B, N_cam, 3, H, W)"
    img = obs.images
    if img.dim() != lead + 4:
        raise ValueError(f"images must be {layout}, got shape {tuple(img.shape)}")
    N, C, H, W = img.shape[-4:]
    if N != rig.num_cameras:
        raise ValueError(
            f"got {N} camera images, the model's rig has {rig.num_cameras} cameras "
            f"{list(rig.names)} (a missing camera is a camera_valid=False frame, not a missing slot)"
        )
    if C != 3:
        raise ValueError(f"images must be RGB with 3 channels in dim -3, got {C}")
    if (H, W) != (rig.height, rig.width):
        raise ValueError(f"images are {H}x{W}, the model expects {rig.height}x{rig.width} (rig resolution)")
    diff = rig_difference(rig, obs.rig) if check_rig else None
    if diff is not None:
        raise ValueError(f"observation rig does not match the model's rig: {diff}")
    check_pixels(img, clip)
    shape = tuple(img.shape[:lead])
    if tuple(obs.camera_valid.shape) != shape + (N,):
        raise ValueError(f"camera_valid must be {shape + (N,)}, got {tuple(obs.camera_valid.shape)}")
    fields = {
        "speed": obs.speed,
        "accel": obs.accel,
        "yaw_rate": obs.yaw_rate,
        "steer": obs.steer,
        "odom": obs.odom,
        "nav.route_points": obs.nav.route_points,
        "nav.dist_to_turn": obs.nav.dist_to_turn,
        "nav.speed_limit": obs.nav.speed_limit,
    }
    for name, x in fields.items():
        if tuple(x.shape[:lead]) != shape:
            raise ValueError(f"{name} has leading shape {tuple(x.shape[:lead])}, images have {shape}")
        bad = _bad_rows(x.float(), lead)
        if bad:
            raise ValueError(f"{name} has NaN or inf at flat batch indices {bad[:10]}")
    for name, x in (("first", obs.first), ("nav.turn_command", obs.nav.turn_command)):
        if tuple(x.shape) != shape:
            raise ValueError(f"{name} must have shape {shape}, got {tuple(x.shape)}")
