"""Camera health monitor: which camera frames can the network trust, and can the car still drive?

A real car is not told that a frame is bad: the camera keeps sending something. The monitor reads
the Observation alone (frames, speed, yaw rate) and flags, per camera and per step:

    black    mean grey below BLACK_LEVEL              (dead sensor, lost frame)
    dark     mean grey below DARK_LEVEL, little contrast (night without exposure left)
    blocked  grey std below BLOCKED_STD               (lens covered, mud, washed out)
    stale    bit-identical to the previous frame while the car moves (buffer served again)
    frozen   near-identical (mean |diff| < FROZEN_DIFF) for `frozen_steps` steps while moving

A frozen or stale verdict needs the car to move or turn: a stopped car in a still scene sees the
same picture, so then it keeps what it decided before (the simulator has no sensor noise).

Flagged cameras are masked through `camera_valid` (the network is trained with camera dropout, so a
missing camera is a known input). The rule for driving on: the REQUIRED cameras (front_main and
front_wide, the two that see the lane ahead at every range) must not both be faulty for
`stop_after` consecutive steps; if they are, the monitor latches a minimal-risk stop for the rest
of the episode: brake in lane, ramping to STOP_DECEL at STOP_JERK, steering left to the network.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from e2edrive.core.constants import DT
from e2edrive.core.types import Observation

OK, BLACK, DARK, BLOCKED, STALE, FROZEN = range(6)
FAULT_NAMES = ("ok", "black", "dark", "blocked", "stale", "frozen")
STOP_REASON = "stopping: front cameras lost"


@dataclass
class HealthConfig:
    """Thresholds on 0..255 grey levels; the defaults give no alarm on clean frames of any scenario
    (tests/test_health.py) and catch every injected camera fault within 5 steps."""

    black_level: float = 5.0
    """mean grey below which a frame is black (a crashed camera reads 0)"""
    dark_level: float = 15.0
    """mean grey below which a frame is too dark to drive on (clean night scenes stay above 24)"""
    dark_std: float = 12.0
    """grey standard deviation a dark frame must also stay under: an under-exposed camera keeps
    little contrast (low_light:3: 6.3 at most), while a close dark car filling a side camera
    beside a bright road still shows it (23: the one false alarm of bench.health_monitor)"""
    blocked_std: float = 3.0
    """grey standard deviation below which the frame shows nothing (clean road scenes have > 15)"""
    frozen_diff: float = 0.05
    """mean |frame - previous| (2x2-pooled grey) below which two frames show the same picture; a
    moving car changes it by 0.24 or more in every scenario, a frozen camera by 0"""
    frozen_steps: int = 3
    """near-identical steps in a row, while moving, before a camera is frozen"""
    moving_speed: float = 1.0
    """m/s above which (or yaw rate above 0.05 rad/s) the picture must change from step to step"""
    required: tuple[str, ...] = ("front_main", "front_wide")
    """cameras that must not all be faulty to keep driving"""
    stop_after: int = 5
    """steps (0.5 s) with every required camera faulty before the stop latches: a single lost frame
    does not stop the car"""
    stop_decel: float = -3.0
    """m/s^2 the minimal-risk manoeuvre brakes with (a firm, comfortable stop)"""
    stop_jerk: float = 4.0
    """m/s^3 ramp towards stop_decel, so the stop starts smoothly"""


@dataclass
class CameraHealth:
    """The monitor's verdict for one step.

    fault: (B, N_cam) long, OK / BLACK / DARK / BLOCKED / STALE / FROZEN
    stop:  (B,) bool, the minimal-risk stop is latched
    """

    fault: torch.Tensor
    stop: torch.Tensor

    @property
    def ok(self) -> torch.Tensor:  # (B, N_cam) bool
        return self.fault == OK

    def describe(self, names: tuple[str, ...]) -> list[str]:
        """Per environment: '' when every camera is fine, else the stop and each faulty camera."""
        texts = []
        for b, row in enumerate(self.fault.tolist()):
            bad = [f"{names[i]} {FAULT_NAMES[f]}" for i, f in enumerate(row) if f != OK]
            text = ", ".join(bad)
            if bool(self.stop[b]):
                text = f"{STOP_REASON} ({text})" if text else STOP_REASON
            texts.append(text)
        return texts


class HealthMonitor:
    """Streaming per-camera checks over B environments; per-episode state resets on obs.first."""

    def __init__(self, config: HealthConfig | None = None):
        self.config = config or HealthConfig()
        self.prev: torch.Tensor | None = None  # (B, N, h, w) previous grey frame, pooled
        self.prev_raw: torch.Tensor | None = None  # (B, N, 3, H, W) uint8 previous frame
        self.same: torch.Tensor | None = None  # (B, N) long near-identical steps in a row
        self.motion_fault: torch.Tensor | None = None  # (B, N) long STALE / FROZEN / OK last decided
        self.lost: torch.Tensor | None = None  # (B,) long steps with every required camera faulty
        self.stop: torch.Tensor | None = None  # (B,) bool latched

    def reset(self) -> None:
        self.prev = self.prev_raw = self.same = self.motion_fault = self.lost = self.stop = None

    @torch.no_grad()
    def check(self, obs: Observation) -> CameraHealth:
        cfg = self.config
        img = obs.images  # (B, N, 3, H, W) uint8
        B, N = img.shape[:2]
        dev = img.device
        first = obs.first.bool()
        if self.prev_raw is None or self.prev_raw.shape != img.shape:
            self._init(img)
            first = torch.ones_like(first)  # nothing seen before: every frame is an episode's first
        grey = img.float().mean(2)  # (B, N, H, W)
        mean, std = grey.mean((-2, -1)), grey.std((-2, -1))  # (B, N)
        fault = torch.zeros(B, N, dtype=torch.long, device=dev)

        # Motion checks against the previous frame; a new episode has no previous frame.
        pooled = F.avg_pool2d(grey.flatten(0, 1)[:, None], 2).view(B, N, -1)  # (B, N, H*W/4)
        diff = (pooled - self.prev).abs().mean(-1)  # (B, N)
        identical = (img == self.prev_raw).flatten(2).all(-1)  # (B, N)
        moving = (obs.speed > cfg.moving_speed) | (obs.yaw_rate.abs() > 0.05)  # (B,)
        fresh = first[:, None].expand(B, N)
        self.same = torch.where(fresh, 0, torch.where(diff < cfg.frozen_diff, self.same + 1, 0))
        decided = torch.where(
            identical, STALE, torch.where(self.same >= cfg.frozen_steps, FROZEN, OK)
        )  # (B, N) what the motion says, when it can say anything
        keep = ~moving[:, None] & ~fresh
        self.motion_fault = torch.where(fresh, OK, torch.where(keep, self.motion_fault, decided))
        self.prev, self.prev_raw = pooled, img.clone()

        # Photometric checks, strongest verdict last so it wins.
        fault = torch.where(self.motion_fault != OK, self.motion_fault, fault)
        fault = torch.where(std < cfg.blocked_std, BLOCKED, fault)
        fault = torch.where((mean < cfg.dark_level) & (std < cfg.dark_std), DARK, fault)
        fault = torch.where(mean < cfg.black_level, BLACK, fault)
        # A camera the car itself reports as failed is as good as black.
        fault = torch.where(obs.camera_valid.bool(), fault, BLACK)

        req = [i for i, n in enumerate(obs.rig.names) if n in cfg.required]
        gone = (fault[:, req] != OK).all(1) if req else torch.zeros(B, dtype=torch.bool, device=dev)
        self.lost = torch.where(first, 0, self.lost) + gone.long()
        self.lost = torch.where(gone, self.lost, 0)
        self.stop = (self.stop & ~first) | (self.lost >= cfg.stop_after)
        return CameraHealth(fault, self.stop.clone())

    def _init(self, img: torch.Tensor) -> None:
        B, N, _, H, W = img.shape
        dev = img.device
        self.prev = torch.full((B, N, (H // 2) * (W // 2)), -1e3, device=dev)
        self.prev_raw = img.clone()
        self.same = torch.zeros(B, N, dtype=torch.long, device=dev)
        self.motion_fault = torch.zeros(B, N, dtype=torch.long, device=dev)
        self.lost = torch.zeros(B, dtype=torch.long, device=dev)
        self.stop = torch.zeros(B, dtype=torch.bool, device=dev)


def minimal_risk_accel(
    accel_cmd: torch.Tensor, accel_now: torch.Tensor, speed: torch.Tensor, cfg: HealthConfig
) -> torch.Tensor:
    """(B,) m/s^2: brake towards cfg.stop_decel no faster than cfg.stop_jerk, never less than the
    network already brakes. At standstill the car holds (braking does not reverse it)."""
    ramp = torch.minimum(accel_now, torch.zeros_like(accel_now)) - cfg.stop_jerk * DT
    # At standstill the executed accel reads 0: hold the full brake instead of ramping again.
    ramp = torch.where(speed < 0.1, cfg.stop_decel, ramp.clamp(min=cfg.stop_decel))
    return torch.minimum(accel_cmd, ramp)
