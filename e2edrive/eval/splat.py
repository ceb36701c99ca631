"""Feed-forward Gaussian splatting: a debug view of the 3D scene that the eight cameras and a depth
map per camera imply, seen from any viewpoint (a chase camera, a bird's-eye view, a held-out camera).

No optimisation loop: one step's frames and a depth per pixel (the network's depth head upsampled,
or the renderer's true depth as the reference) give one isotropic Gaussian per pixel:

- centre:  the pixel centre back-projected through K^-1 to its depth along the optical axis, then
           moved into the ego frame by T_ego_from_cam
- colour:  the pixel's
- scale:   the pixel's footprint at that depth, depth / fx (metres per pixel)
- opacity: a confidence, 1 by default; `depth_confidence` lowers it where the depth is not locally
           planar on any side (the "flying pixels" an upsampled depth smears across an edge)

Rendering is a z-buffered weighted splat rather than a sorted alpha blend (fast on a CPU, no
per-pixel lists): every Gaussian drops a k x k window of footprint weights into the target image;
a scatter-min on depth finds the front surface per pixel; the Gaussians within a depth band of it
are averaged with their weights; holes of a few pixels are filled by pull-push. Everything is
batched over environments and views, on any device, with no Python loop over pixels.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from e2edrive.core.geometry import se3_inverse

FAR = 100.0  # m: farther pixels (the renderer's sky is at 150 m) are dropped, they would wall in every view
WEAK = 1e4  # m added to the z-buffer key of weak entries, so that they lose to any strong one


@dataclass
class Gaussians:
    """P isotropic Gaussians per environment, in the ego frame.

    means:   (B, P, 3) m
    colors:  (B, P, 3) float 0..1
    scales:  (B, P) m, the standard footprint (one source pixel's width at its depth)
    opacity: (B, P) 0..1; 0 drops a Gaussian
    """

    means: torch.Tensor
    colors: torch.Tensor
    scales: torch.Tensor
    opacity: torch.Tensor

    def moved(self, velocity: torch.Tensor, dt: float) -> Gaussians:
        """Shifted by an ego-frame velocity field (B, P, 2) m/s (vx, vy; zero for static pixels)
        times dt s: moving objects where they will be, or were, dt from now."""
        shift = F.pad(velocity * dt, (0, 1))  # (B, P, 3), z unchanged
        return Gaussians(self.means + shift, self.colors, self.scales, self.opacity)

    def select(self, keep: torch.Tensor) -> Gaussians:
        """The Gaussians of keep (P,) bool (the same for every environment), e.g. some cameras only."""
        m, c, s, o = self.means, self.colors, self.scales, self.opacity
        return Gaussians(m[:, keep], c[:, keep], s[:, keep], o[:, keep])


@dataclass
class SplatImage:
    """Rendered views: rgb (B, V, 3, H, W) uint8; depth (B, V, H, W) m of the front surface (0 where
    nothing landed); covered (B, V, H, W) bool, where splats landed before hole filling."""

    rgb: torch.Tensor
    depth: torch.Tensor
    covered: torch.Tensor


def pixel_rays(K: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """K (N, 3, 3) -> camera-frame rays (N, H, W, 3) through the pixel centres (+0.5), with z = 1."""
    v, u = torch.meshgrid(
        torch.arange(height, device=K.device, dtype=K.dtype) + 0.5,
        torch.arange(width, device=K.device, dtype=K.dtype) + 0.5,
        indexing="ij",
    )
    pix = torch.stack([u, v, torch.ones_like(u)], -1)  # (H, W, 3)
    return pix @ torch.linalg.inv(K).transpose(-1, -2).unsqueeze(1)  # (N, H, W, 3)


def backproject(depth: torch.Tensor, K: torch.Tensor, T_ego_from_cam: torch.Tensor) -> torch.Tensor:
    """depth (B, N, H, W) m along the optical axis -> ego-frame points (B, N, H, W, 3)."""
    p_cam = pixel_rays(K, *depth.shape[-2:]) * depth.unsqueeze(-1)  # (B, N, H, W, 3)
    R, t = T_ego_from_cam[:, :3, :3], T_ego_from_cam[:, :3, 3]
    return torch.einsum("nij,bnhwj->bnhwi", R, p_cam) + t[:, None, None, :]


def project(points: torch.Tensor, K: torch.Tensor, T_ego_from_cam: torch.Tensor):
    """Ego points (B, P, 3) into V cameras -> uv (B, V, P, 2) px, z (B, V, P) m (<= 0: behind)."""
    T = se3_inverse(T_ego_from_cam)  # (V, 4, 4) cam from ego
    p = torch.einsum("vij,bpj->bvpi", T[:, :3, :3], points) + T[None, :, None, :3, 3]  # (B, V, P, 3)
    z = p[..., 2]
    uv = torch.einsum("vij,bvpj->bvpi", K[:, :2], p) / z.clamp(min=1e-6).unsqueeze(-1)
    return uv, z


def depth_confidence(depth: torch.Tensor, tau: float = 0.05) -> torch.Tensor:
    """(B, N, H, W) -> confidence (B, N, H, W) in (0, 1]. Inverse depth is affine in (u, v) on any
    plane, so its second difference is 0 on a road seen at a grazing angle as on a wall. A pixel
    keeps 1 if it is planar with its neighbours on at least one side (left, centred or right, and
    the same vertically): the two sides of a true edge stay, the pixels in between lose opacity."""
    B, N, H, W = depth.shape
    inv = F.pad((1.0 / depth.clamp(min=1e-3)).view(B * N, 1, H, W), (2, 2, 2, 2), mode="replicate")[:, 0]
    c = inv[:, 2:-2, 2:-2]  # (B*N, H, W)

    def err(axis_u: bool) -> torch.Tensor:
        s = [inv[:, 2:-2, k : k + W] if axis_u else inv[:, k : k + H, 2:-2] for k in range(5)]
        second = [(s[k] - 2 * s[k + 1] + s[k + 2]).abs() for k in range(3)]  # three one-sided stencils
        return torch.minimum(torch.minimum(second[0], second[1]), second[2])

    rel = torch.maximum(err(True), err(False)) / c
    return (1.0 / (1.0 + (rel / tau) ** 2)).view(B, N, H, W)


def gaussians_from_frames(
    rgb: torch.Tensor,
    depth: torch.Tensor,
    K: torch.Tensor,
    T_ego_from_cam: torch.Tensor,
    opacity: torch.Tensor | None = None,
    velocity: torch.Tensor | None = None,
    dt: float = 0.0,
    far: float = FAR,
) -> Gaussians:
    """rgb (B, N, 3, H, W) uint8, depth (B, N, H, W) m, K (N, 3, 3), T_ego_from_cam (N, 4, 4),
    optional opacity (B, N, H, W) (default 1; e.g. depth_confidence(depth)), optional velocity
    (B, N, H, W, 2) ego-frame m/s applied for dt s -> B x P Gaussians, P = N * H * W in (camera,
    row, column) order. Pixels at or beyond `far` (sky) get opacity 0."""
    B, N, H, W = depth.shape
    means = backproject(depth, K, T_ego_from_cam).reshape(B, N * H * W, 3)
    colors = rgb.permute(0, 1, 3, 4, 2).reshape(B, N * H * W, 3).float() / 255.0
    scales = (depth / K[:, 0, 0].view(1, N, 1, 1)).reshape(B, -1)  # (B, P) m per pixel at that depth
    alpha = torch.ones_like(depth) if opacity is None else opacity
    alpha = torch.where(depth < far, alpha, torch.zeros_like(alpha)).reshape(B, -1)
    g = Gaussians(means, colors, scales, alpha)
    return g if velocity is None else g.moved(velocity.reshape(B, -1, 2), dt)


def splat(
    g: Gaussians,
    K: torch.Tensor,
    T_ego_from_cam: torch.Tensor,
    height: int,
    width: int,
    window: int = 3,
    sigma_px: float = 0.4,
    fill_levels: int = 2,
    background: tuple[float, float, float] = (0.0, 0.0, 0.0),
    near: float = 0.1,
) -> SplatImage:
    """Render B x P Gaussians from V pinhole cameras K (V, 3, 3), T_ego_from_cam (V, 4, 4) at
    height x width. Each Gaussian's footprint has a standard deviation of sigma_px times its
    projected scale (clamped to [0.3, window / 2] px) and is cut to a window x window pixel
    neighbourhood; fill_levels pull-push levels fill holes up to ~2**fill_levels px."""
    B, P = g.opacity.shape
    V, dev = K.shape[0], K.device
    uv, z = project(g.means, K, T_ego_from_cam)  # (B, V, P, 2), (B, V, P)
    r_px = K[:, 0, 0].view(1, V, 1) * g.scales.unsqueeze(1) / z.clamp(min=1e-6)  # (B, V, P) footprint
    margin = window / 2 + 1
    keep = (z > near) & (g.opacity.unsqueeze(1) > 0)
    keep &= (uv[..., 0] > -margin) & (uv[..., 0] < width + margin)
    keep &= (uv[..., 1] > -margin) & (uv[..., 1] < height + margin)
    b, v, p = keep.nonzero(as_tuple=True)  # M splats that can land: cull before the k x k expansion
    u0, v0, zk = uv[b, v, p, 0], uv[b, v, p, 1], z[b, v, p]  # (M,)
    sig = (sigma_px * r_px[b, v, p]).clamp(0.3, window / 2)
    opac, col = g.opacity[b, p], g.colors[b, p]  # (M,), (M, 3)

    off = torch.arange(window, device=dev) - (window - 1) // 2
    dy, dx = torch.meshgrid(off, off, indexing="ij")
    ix = u0.floor().long().unsqueeze(1) + dx.reshape(1, -1)  # (M, k*k) target columns
    iy = v0.floor().long().unsqueeze(1) + dy.reshape(1, -1)
    d2 = (ix + 0.5 - u0.unsqueeze(1)) ** 2 + (iy + 0.5 - v0.unsqueeze(1)) ** 2
    w = opac.unsqueeze(1) * torch.exp(-0.5 * d2 / sig.unsqueeze(1) ** 2)  # (M, k*k)
    inside = (ix >= 0) & (ix < width) & (iy >= 0) & (iy < height) & (w > 1e-3)
    flat = ((b * V + v).unsqueeze(1) * height + iy) * width + ix
    flat, w = flat[inside], w[inside]  # (E,)
    ze = zk.unsqueeze(1).expand_as(inside)[inside]
    src = torch.arange(b.shape[0], device=dev).unsqueeze(1).expand_as(inside)[inside]

    # Front surface per pixel: strong entries (footprint centre, confident) decide it; a pixel only
    # weak entries reach still gets one (key - WEAK), so a flying pixel never hides what is behind.
    n_pix = B * V * height * width
    key = ze + WEAK * (w < 0.3)
    front = torch.full((n_pix,), float("inf"), device=dev).scatter_reduce_(0, flat, key, "amin")
    front = torch.where(front >= WEAK, front - WEAK, front)
    dz = (ze - front[flat]).abs()
    w = w * torch.exp(-dz / (0.03 * front[flat] + 0.05))  # soft band around the front surface

    # Colour weights per unit footprint area: where a sharp camera and a blurry one (front_main and
    # front_wide) see the same surface, the sharp one's detail wins; coverage counts both in full.
    area = (0.5 / sig[src]).clamp(max=1.0) ** 2
    num = torch.zeros(n_pix, 3, device=dev).index_add_(0, flat, (w * area).unsqueeze(1) * col[src])
    den = torch.zeros(n_pix, device=dev).index_add_(0, flat, w * area)
    cover = torch.zeros(n_pix, device=dev).index_add_(0, flat, w).view(B * V, 1, height, width)
    color = num.view(B * V, height, width, 3).permute(0, 3, 1, 2) / den.clamp(min=1e-9).view_as(cover)
    covered = cover > 0.05
    color, alpha = _pull_push(color * cover, cover, fill_levels)
    bg = torch.tensor(background, device=dev).view(1, 3, 1, 1)
    out = color * alpha + bg * (1 - alpha)
    rgb = (out * 255).round().clamp(0, 255).to(torch.uint8).view(B, V, 3, height, width)
    depth = torch.where(torch.isfinite(front), front, torch.zeros_like(front)).view(B, V, height, width)
    return SplatImage(rgb, depth, covered.view(B, V, height, width))


def _pull_push(num: torch.Tensor, den: torch.Tensor, levels: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Weighted colour sums num (M, 3, H, W) and weights den (M, 1, H, W) -> colour (M, 3, H, W)
    and coverage alpha (M, 1, H, W): a pixel with weight >= 1 keeps its own colour, the rest is
    taken from the 2x coarser level (pull: weighted average; push: upsample), recursively."""
    alpha = den.clamp(max=1.0)
    color = num / den.clamp(min=1e-6)
    H, W = den.shape[-2:]
    if levels <= 0 or H < 2 or W < 2 or H % 2 or W % 2:
        return color, alpha
    # Coarse level: sums over 2 x 2 (not means), so that one covered pixel of four fills the rest.
    c_num = 4 * F.avg_pool2d(color * alpha, 2)
    c_den = 4 * F.avg_pool2d(alpha, 2)
    c_color, c_alpha = _pull_push(c_num, c_den, levels - 1)
    up_color = F.interpolate(c_color, scale_factor=2, mode="nearest")
    up_alpha = F.interpolate(c_alpha, scale_factor=2, mode="nearest")
    return color * alpha + up_color * (1 - alpha), alpha + up_alpha * (1 - alpha)


def psnr(a: torch.Tensor, b: torch.Tensor, mask: torch.Tensor) -> float:
    """PSNR in dB of uint8 images a, b (..., 3, H, W) over mask (..., H, W) (0..255 scale)."""
    err = ((a.float() - b.float()) ** 2).mean(-3)  # (..., H, W) mean over channels
    mse = err[mask].mean().clamp(min=1e-10)
    return float(10 * torch.log10(255.0**2 / mse))


# ---- viewpoints and the `drive --video --splat` panel ----


def pinhole(
    x: float, y: float, z: float, yaw_deg: float, pitch_deg: float, hfov_deg: float, height: int, width: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """One camera mounted in the ego frame as the rig's cameras are (core.rig): K (1, 3, 3),
    T_ego_from_cam (1, 4, 4)."""
    import math

    from e2edrive.core.geometry import se3_from_rt
    from e2edrive.core.rig import camera_to_ego_rotation, intrinsics

    R = camera_to_ego_rotation(math.radians(yaw_deg), math.radians(pitch_deg))
    T = se3_from_rt(R, torch.tensor([x, y, z]))
    return intrinsics(hfov_deg, height, width).unsqueeze(0).float(), T.unsqueeze(0).float()


def chase_camera(height: int = 160, width: int = 320, back: float = 9.0, up: float = 4.5, pitch: float = 16):
    """Behind and above the ego, looking forward and down over its roof."""
    return pinhole(-back, 0.0, up, 0.0, pitch, 90.0, height, width)


def bev_camera(size: int = 160, half_extent: float = 24.0, altitude: float = 60.0, ahead: float = 8.0):
    """Straight down from `altitude` m over a point `ahead` m in front of the ego, forward up in the
    image; at the ground the view spans 2 x half_extent m (a pinhole: tall things look closer)."""
    import math

    hfov = 2 * math.degrees(math.atan(half_extent / altitude))
    return pinhole(ahead, 0.0, altitude, 0.0, 90.0, hfov, size, size)


def splat_panel(rgb: torch.Tensor, depth: torch.Tensor, rig, label: str = "true depth") -> torch.Tensor:
    """One environment's frames rgb (N, 3, H, W) uint8 and depth (N, H, W) m -> (320, 960, 3) uint8:
    the chase view (left, 160 x 320 shown at 2x) and the bird's-eye view (right, 160 x 160 at 2x),
    each named with the depth that placed the Gaussians."""
    from e2edrive.core.font import draw_text

    K, T = rig.K.to(rgb.device), rig.T_ego_from_cam.to(rgb.device)
    g = gaussians_from_frames(rgb[None], depth[None], K, T)
    views = []
    for name, (Kv, Tv) in (("chase", chase_camera()), ("bird's-eye", bev_camera())):
        img = splat(g, Kv.to(rgb.device), Tv.to(rgb.device), *_size(Kv), fill_levels=3).rgb[0, 0]
        img = img.permute(1, 2, 0).repeat_interleave(2, 0).repeat_interleave(2, 1).contiguous()
        views.append(draw_text(img, f"splat {name}, {label}", 4, 4))
    return torch.cat(views, dim=1)


def _size(K: torch.Tensor) -> tuple[int, int]:
    """(height, width) of a camera whose principal point is the image centre (core.rig.intrinsics)."""
    return int(round(2 * float(K[0, 1, 2]))), int(round(2 * float(K[0, 0, 2])))


def splat_row(frame, rendered, rig):
    """`drive --video --splat`: the drive frame (H, W, 3) uint8 numpy with a row below it of the
    splat panel of environment 0 of `rendered` (a RenderOutput: rgb and true depth), left-aligned."""
    import numpy as np

    panel = splat_panel(rendered.rgb[0], rendered.depth[0], rig).cpu().numpy()  # (320, 960, 3)
    W = max(frame.shape[1], panel.shape[1])
    rows = [np.pad(a, ((0, 0), (0, W - a.shape[1]), (0, 0))) for a in (frame, panel)]
    return np.concatenate(rows, axis=0)
