"""Camera faults: what goes wrong between a lens and the driving computer, at severities 1-3.

Each works on (B, N_cam, 3, H, W) frames on their device and leaves `camera_valid` alone: a real
car is not told that a frame is bad, its health monitor must notice. The exception is a crashed
camera, whose driver reports the failure (the frames are black and flagged).

The severity tables are tuples indexed by severity - 1; the values are chosen so that severity 1
is a nuisance a good network should shrug off and severity 3 hides most of the scene.
"""

from __future__ import annotations

from dataclasses import replace

import torch
import torch.nn.functional as F

from e2edrive.core.types import Observation
from e2edrive.sim.faults.base import Fault, FaultContext, ImageFault, pick_cameras, uniform

CRASHED_CAMERAS = (1, 2, 4)  # cameras dead for the whole episode
FRAME_LOSS_P = (0.1, 0.25, 0.5)  # probability that a camera frame arrives black
FROZEN_CAMERAS = (1, 2, 4)  # cameras that stop updating
FREEZE_AFTER = (5, 15)  # steps: a camera freezes at a step drawn in [5, 15) of the episode
BLUR_PX = (3, 7, 13)  # horizontal box-kernel length at 128 px width
LIGHT_GAIN = (0.45, 0.25, 0.08)  # exposure left at night with a fixed shutter
LIGHT_NOISE = (2.0, 4.0, 6.0)  # sensor noise (0..255 units) that the gain does not scale
GLARE_RADIUS = (0.15, 0.3, 0.5)  # flare radius as a share of the image width
GLARE_VEIL = (0.1, 0.25, 0.45)  # veiling glare: share of the way to white over the whole frame
FOG_DENSITY = (0.015, 0.04, 0.1)  # 1/m extinction: visibility ~3/density = 200, 75, 30 m
FOG_AIRLIGHT = 230.0  # brightness of the fog itself
QUANT_BITS = (4, 3, 2)  # bits per channel left
RAIN_DENSITY = (0.004, 0.01, 0.025)  # share of pixels that start a streak
RAIN_LENGTH = (5, 9, 15)  # px, odd
RAIN_ALPHA = (0.35, 0.5, 0.6)  # opacity of a streak


class CameraCrash(Fault):
    """1, 2 or 4 cameras black for the whole episode; their driver flags them invalid."""

    name = "camera_crash"

    def apply(self, obs: Observation, ctx: FaultContext) -> Observation:
        N = obs.images.shape[1]
        if N == 0:
            return obs
        dead = pick_cameras(ctx.key, N, CRASHED_CAMERAS[self.severity - 1], salt=1)  # (B, N)
        images = obs.images.masked_fill(dead[:, :, None, None, None], 0)
        return replace(obs, images=images, camera_valid=obs.camera_valid & ~dead)


class FrameLost(ImageFault):
    """Each camera frame independently black (a dropped packet the driver did not flag)."""

    name = "frame_lost"

    def corrupt(self, img, obs, ctx):
        lost = uniform(ctx.key, ctx.step, 2, (img.shape[1],)) < FRAME_LOSS_P[self.severity - 1]  # (B, N)
        return img.masked_fill(lost[:, :, None, None, None], 0)


class Frozen(ImageFault):
    """1, 2 or 4 cameras repeat the frame of a step in [5, 15) for the rest of the episode."""

    name = "frozen"

    def __init__(self, severity: int):
        super().__init__(severity)
        self.held: torch.Tensor | None = None  # (B, N, 3, H, W) the frame each camera freezes on

    def corrupt(self, img, obs, ctx):
        B, N = img.shape[:2]
        cams = pick_cameras(ctx.key, N, FROZEN_CAMERAS[self.severity - 1], salt=3)  # (B, N)
        lo, hi = FREEZE_AFTER
        u = uniform(ctx.key, torch.zeros_like(ctx.step), 4, ())  # (B,) per episode, not per step
        t0 = lo + (u * (hi - lo)).long()  # (B,)
        if self.held is None or self.held.shape != img.shape:
            self.held = img.clone()
        # Until t0 the held frame follows the camera; from then on it no longer updates. A new
        # episode's step counter starts at 0 again, so the state resets by itself.
        live = (ctx.step <= t0).view(B, 1, 1, 1, 1)
        self.held = torch.where(live, img, self.held)
        stuck = (cams & (ctx.step > t0)[:, None])[:, :, None, None, None]
        return torch.where(stuck, self.held, img)


class MotionBlur(ImageFault):
    """Horizontal box blur (long exposure while the car yaws)."""

    name = "motion_blur"

    def corrupt(self, img, obs, ctx):
        k = BLUR_PX[self.severity - 1]
        k = max(1, round(k * img.shape[-1] / 128)) | 1  # odd, scaled with the resolution
        flat = img.flatten(0, 2)[:, None]  # (B*N*3, 1, H, W)
        out = F.avg_pool2d(flat, (1, k), stride=1, padding=(0, k // 2), count_include_pad=False)
        return out.view_as(img)


class LowLight(ImageFault):
    """Dusk or night: exposure falls, sensor noise stays."""

    name = "low_light"

    def corrupt(self, img, obs, ctx):
        noise = uniform(ctx.key, ctx.step, 5, tuple(img.shape[1:])) - 0.5  # (B, N, 3, H, W)
        # A uniform of width 1 has std 1/sqrt(12): scale it to the table's std.
        return img * LIGHT_GAIN[self.severity - 1] + noise * (LIGHT_NOISE[self.severity - 1] * 12**0.5)


class Glare(ImageFault):
    """A low sun in the front cameras: a bright disc with a horizontal streak and a veil."""

    name = "glare"

    def corrupt(self, img, obs, ctx):
        B, N, _, H, W = img.shape
        front = torch.tensor([n.startswith("front") for n in obs.rig.names], device=img.device)  # (N,)
        sun = uniform(ctx.key, torch.zeros_like(ctx.step), 6, (N, 2))  # (B, N, 2) fixed per episode
        cx = (0.2 + 0.6 * sun[..., 0]) * W  # (B, N)
        cy = (0.05 + 0.3 * sun[..., 1]) * H
        ys = torch.arange(H, device=img.device, dtype=img.dtype).view(1, 1, H, 1)
        xs = torch.arange(W, device=img.device, dtype=img.dtype).view(1, 1, 1, W)
        dx, dy = xs - cx[..., None, None], ys - cy[..., None, None]  # (B, N, H, W) after broadcast
        r = GLARE_RADIUS[self.severity - 1] * W
        disc = torch.exp(-(dx**2 + dy**2) / r**2)
        streak = 0.6 * torch.exp(-((dy / (0.03 * H)) ** 2)) * torch.exp(-((dx / (1.5 * r)) ** 2))
        flare = (disc + streak + GLARE_VEIL[self.severity - 1]).clamp(max=1.0)  # (B, N, H, W)
        flare = flare * front.view(1, N, 1, 1).to(img.dtype)
        return img + (255.0 - img) * flare[:, :, None]


class Fog(ImageFault):
    """Koschmieder's law on the rendered depth: light from d metres keeps exp(-density d)."""

    name = "fog"
    needs_depth = True

    def corrupt(self, img, obs, ctx):
        if ctx.depth is None:
            raise ValueError("fault fog needs the renderer's depth (FaultContext.depth is None)")
        keep = torch.exp(-FOG_DENSITY[self.severity - 1] * ctx.depth.to(img.dtype))[:, :, None]  # (B,N,1,H,W)
        return img * keep + FOG_AIRLIGHT * (1 - keep)


class Quantize(ImageFault):
    """Colour quantisation (a mis-set encoder): 4, 3 or 2 bits per channel."""

    name = "quantize"

    def corrupt(self, img, obs, ctx):
        step = 256 >> QUANT_BITS[self.severity - 1]
        return torch.floor(img / step) * step + step / 2


class Rain(ImageFault):
    """Rain streaks in front of the lens over a darker, overcast frame; new drops every step."""

    name = "rain"

    def corrupt(self, img, obs, ctx):
        B, N, _, H, W = img.shape
        s = self.severity - 1
        seed = (uniform(ctx.key, ctx.step, 7, (N, H, W)) < RAIN_DENSITY[s]).to(img.dtype)  # (B, N, H, W)
        L = RAIN_LENGTH[s]
        streak = F.max_pool2d(seed.flatten(0, 1)[:, None], (L, 1), stride=1, padding=(L // 2, 0))
        streak = streak.view(B, N, 1, H, W) * RAIN_ALPHA[s]
        return (0.85 * img) * (1 - streak) + 220.0 * streak
