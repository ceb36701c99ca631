"""Top-down debugging view of one environment of a `Scene`, and a mosaic of the camera images,
both rendered with plain torch ops (no matplotlib, no Pillow) on the scene's device.

View frame: the image is centred on the ego. Heading-up: the ego's forward (+x) points up and its
left (+y) points left. North-up: world +y points up and world +x right. Every output pixel is
mapped to a world point at its centre and coloured by what lies there, so the view is exact at
any scale (no rasterisation of the ground raster's cells into a different grid).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from e2edrive.core.constants import (
    EGO_BOX_CENTER_X,
    EGO_LENGTH,
    EGO_WIDTH,
    NUM_SEMANTIC_CLASSES,
    LightState,
    ObjectClass,
    Semantic,
)
from e2edrive.core.font import draw_text, text_size
from e2edrive.core.geometry import to_local_points, to_world_points
from e2edrive.sim.scene import GroundRaster, Scene


def _palette(entries: dict[int, tuple[int, int, int]], n: int) -> torch.Tensor:
    p = torch.full((n, 3), 255, dtype=torch.uint8)  # unknown values render white
    for k, rgb in entries.items():
        p[int(k)] = torch.tensor(rgb, dtype=torch.uint8)
    return p


GROUND_COLORS = _palette(
    {
        Semantic.ROAD: (80, 80, 86),  # asphalt
        Semantic.LANE_MARKING: (235, 235, 235),
        Semantic.CENTER_LINE: (235, 200, 40),
        Semantic.CROSSWALK: (215, 215, 210),
        Semantic.KERB: (175, 175, 170),
        Semantic.GRASS: (70, 125, 55),
        Semantic.PUDDLE: (110, 170, 215),  # lighter than vehicles' blue
        Semantic.STOP_LINE: (250, 250, 250),
    },
    NUM_SEMANTIC_CLASSES,
)
CLASS_COLORS = _palette(
    {
        ObjectClass.VEHICLE: (30, 60, 215),
        ObjectClass.PEDESTRIAN: (225, 60, 200),
        ObjectClass.CHICKEN: (250, 140, 20),
        ObjectClass.GOOSE: (245, 245, 230),
        ObjectClass.UNKNOWN: (140, 80, 30),  # debris
    },
    len(ObjectClass),
)
EGO_COLOR = (220, 30, 30)
BARRIER_COLOR = (205, 205, 215)
LIGHT_COLORS = _palette(
    {
        LightState.NONE: (120, 120, 120),
        LightState.RED: (255, 30, 30),
        LightState.YELLOW: (255, 200, 0),
        LightState.GREEN: (30, 230, 60),
    },
    len(LightState),
)
LANE_LINE_COLORS = ((235, 235, 235), (235, 200, 40), (175, 175, 170))  # lane line, centre line, road edge
PLAN_COLOR = (0, 235, 255)
BARRIER_HALF_WIDTH = 0.3  # m, a concrete barrier is about 0.6 m wide at the base
LIGHT_RADIUS = 0.9  # m, drawn size of a traffic-light dot


def _view_pose(scene: Scene, env: int, heading_up: bool, ahead_m: float) -> torch.Tensor:
    """(1, 3) pose of the image centre in the world: ahead_m in front of the ego (along the
    image's up direction), facing the ego's heading (heading-up) or north (yaw pi/2)."""
    pose = scene.ego_pose[env : env + 1].float()
    yaw = pose[:, 2:] if heading_up else torch.full_like(pose[:, 2:], math.pi / 2)
    xy = pose[:, :2] + ahead_m * torch.cat([torch.cos(yaw), torch.sin(yaw)], -1)
    return torch.cat([xy, yaw], -1)


def _pixel_world(view: torch.Tensor, H: int, W: int, mpp: float) -> torch.Tensor:
    """(1, H, W, 2) world xy of every pixel centre; image up = view +x, image left = view +y."""
    dev = view.device
    r = torch.arange(H, device=dev, dtype=torch.float32) + 0.5
    c = torch.arange(W, device=dev, dtype=torch.float32) + 0.5
    x = (H / 2 - r)[:, None].expand(H, W) * mpp
    y = (W / 2 - c)[None, :].expand(H, W) * mpp
    return to_world_points(view, torch.stack([x, y], -1)[None])


def world_to_pixel(view: torch.Tensor, xy: torch.Tensor, H: int, W: int, mpp: float) -> torch.Tensor:
    """World points xy (K, 2) -> (K, 2) float pixel coordinates (row, col) of the view."""
    local = to_local_points(view, xy[None].float())[0]  # (K, 2) view frame
    return torch.stack([H / 2 - local[:, 0] / mpp, W / 2 - local[:, 1] / mpp], -1)


def _paint(img: torch.Tensor, mask: torch.Tensor, color) -> None:
    img[mask] = torch.as_tensor(color, dtype=torch.uint8, device=img.device)


def _boxes(img, pix, view, centers, yaws, sizes, colors, mpp: float) -> None:
    """Filled oriented boxes with a 1-pixel dark outline, the front fifth darker to show the
    heading; later boxes on top. Boxes are at least 1.5 px wide so a chicken never vanishes.
    Each box is rasterised only inside its pixel bounding window (a box covers few pixels)."""
    K = centers.shape[0]
    if K == 0:
        return
    H, W = img.shape[:2]
    poses = torch.cat([centers, yaws[:, None]], -1)  # (K, 3)
    half = torch.stack([sizes[:, 0], sizes[:, 1]], -1).div(2).clamp(min=0.75 * mpp)  # (K, 2)
    signs = torch.tensor([[1.0, 1.0], [1.0, -1.0], [-1.0, 1.0], [-1.0, -1.0]], device=img.device)
    corners = to_world_points(poses, signs[None] * (half + mpp)[:, None])  # (K, 4, 2) incl. outline
    rc = world_to_pixel(view, corners.reshape(-1, 2), H, W, mpp).reshape(K, 4, 2)
    lo = rc.amin(1).floor().long().tolist()  # one host transfer for all windows
    hi = rc.amax(1).ceil().long().tolist()
    for k in range(K):  # order matters (later on top)
        r0, c0, r1, c1 = max(lo[k][0], 0), max(lo[k][1], 0), min(hi[k][0] + 1, H), min(hi[k][1] + 1, W)
        if r0 >= r1 or c0 >= c1:
            continue  # outside the view
        local = to_local_points(poses[k : k + 1], pix[:, r0:r1, c0:c1])[0]  # (h, w, 2) box frame
        ax, ay = local[..., 0].abs(), local[..., 1].abs()
        hl, hw = half[k, 0], half[k, 1]
        window = img[r0:r1, c0:c1]
        _paint(window, (ax <= hl + mpp) & (ay <= hw + mpp), (20, 20, 20))
        inside = (ax <= hl) & (ay <= hw)
        _paint(window, inside, colors[k])
        _paint(window, inside & (local[..., 0] >= 0.6 * hl), (colors[k].float() * 0.55).to(torch.uint8))


def _disks(img, pix_rc: torch.Tensor, radius_px: float, colors: torch.Tensor, outline=(0, 0, 0)) -> None:
    """Filled dots at pixel centres pix_rc (K, 2) (row, col) with a 1-pixel dark outline."""
    H, W = img.shape[:2]
    dev = img.device
    r = torch.arange(H, device=dev, dtype=torch.float32)[:, None] + 0.5
    c = torch.arange(W, device=dev, dtype=torch.float32)[None, :] + 0.5
    for k in range(pix_rc.shape[0]):
        d = torch.hypot(r - pix_rc[k, 0], c - pix_rc[k, 1])
        if outline is not None:
            _paint(img, d <= radius_px + 1.0, outline)
        _paint(img, d <= radius_px, colors[k])


def _clip_to_view(view: torch.Tensor, a: torch.Tensor, b: torch.Tensor, radius: float):
    """Segments a -> b (S, 2) cut to the disc of `radius` m around the view centre (dropped if
    outside), so a kilometre-long barrier is sampled only where it can be seen."""
    d = b - a
    f = a - view[:, :2]
    qa = (d * d).sum(-1).clamp(min=1e-12)
    qb = 2 * (f * d).sum(-1)
    qc = (f * f).sum(-1) - radius**2
    disc = qb * qb - 4 * qa * qc
    root = disc.clamp(min=0).sqrt()
    t0 = ((-qb - root) / (2 * qa)).clamp(0, 1)
    t1 = ((-qb + root) / (2 * qa)).clamp(0, 1)
    keep = (disc > 0) & (t1 > t0)
    return (a + t0[:, None] * d)[keep], (a + t1[:, None] * d)[keep]


def _stroke(img, view, a: torch.Tensor, b: torch.Tensor, mpp: float, color, half_width: float = 0.0) -> None:
    """Segments a -> b (S, 2) world, sampled every half pixel into a mask that is dilated to
    half_width metres (square brush; 1 px wide when half_width < 1 px), then painted."""
    H, W = img.shape[:2]
    a, b = _clip_to_view(view, a, b, 0.5 * math.hypot(H, W) * mpp + half_width)
    if a.shape[0] == 0:
        return
    n = int((torch.linalg.norm(b - a, dim=-1).max() / mpp * 2).ceil().clamp(min=1, max=8192))
    s = torch.linspace(0, 1, n + 1, device=img.device)[None, :, None]
    rc = world_to_pixel(view, (a[:, None] + s * (b - a)[:, None]).reshape(-1, 2), H, W, mpp).floor().long()
    ok = (rc[:, 0] >= 0) & (rc[:, 0] < H) & (rc[:, 1] >= 0) & (rc[:, 1] < W)
    mask = torch.zeros(H * W, dtype=torch.bool, device=img.device)
    mask[(rc[:, 0] * W + rc[:, 1])[ok]] = True
    mask = mask.view(H, W)
    r = round(half_width / mpp)
    if r >= 1:
        mask = F.max_pool2d(mask[None, None].float(), 2 * r + 1, stride=1, padding=r)[0, 0] > 0
    _paint(img, mask, color)


def render_topdown(
    scene: Scene,
    env: int = 0,
    plan_xy: torch.Tensor | None = None,
    reason_text: str | None = None,
    size: tuple[int, int] = (256, 256),
    metres_per_px: float = 0.25,
    heading_up: bool = True,
    t: float | None = None,
    ego_row: float = 0.5,
    draw_lane_lines: bool = True,
) -> torch.Tensor:
    """(H, W, 3) uint8 top-down view of environment `env`, on the scene's device.

    plan_xy: (P, 2) the ego's planned positions in the ego frame, drawn as dots.
    reason_text: the driver's decision in words, burned in at the top; speed (and t, s, if given)
    are burned in at the bottom left.
    ego_row: where the ego sits, as a fraction of the image height from the top (0.5: centred;
    0.7 shows more of what lies ahead in heading-up mode).
    """
    B = scene.batch_size
    if not 0 <= env < B:
        raise IndexError(f"env {env} out of range for a scene of {B} environments")
    H, W = size
    if H < 8 or W < 8 or metres_per_px <= 0:
        raise ValueError(f"need size >= (8, 8) px and metres_per_px > 0, got {size}, {metres_per_px}")
    dev = scene.ego_pose.device
    if not 0.0 <= ego_row <= 1.0:
        raise ValueError(f"ego_row must be in [0, 1] (fraction of the image height), got {ego_row}")
    view = _view_pose(scene, env, heading_up, (ego_row - 0.5) * H * metres_per_px)
    pix = _pixel_world(view, H, W, metres_per_px)  # (1, H, W, 2)

    g = scene.ground
    ground = GroundRaster(g.material[env : env + 1], g.origin[env : env + 1].float(), g.res)
    material = ground.lookup(pix)[0].long().clamp(0, NUM_SEMANTIC_CLASSES - 1)  # (H, W)
    img = GROUND_COLORS.to(dev)[material]  # (H, W, 3)

    if draw_lane_lines:
        lines, types = scene.lane_lines[env].float(), scene.lane_line_type[env]
        for kind, rgb in enumerate(LANE_LINE_COLORS):
            sel = scene.lane_line_valid[env] & (types == kind)
            _stroke(
                img,
                view,
                lines[sel][:, :-1].reshape(-1, 2),
                lines[sel][:, 1:].reshape(-1, 2),
                metres_per_px,
                rgb,
            )

    seg = scene.barriers[env][scene.barrier_valid[env]].float()  # (M, 4)
    _stroke(img, view, seg[:, :2], seg[:, 2:], metres_per_px, BARRIER_COLOR, BARRIER_HALF_WIDTH)

    valid = scene.obj_valid[env]
    cls = scene.obj_class[env][valid].long().clamp(0, len(ObjectClass) - 1)
    _boxes(
        img,
        pix,
        view,
        scene.obj_pose[env][valid, :2].float(),
        scene.obj_pose[env][valid, 2].float(),
        scene.obj_size[env][valid].float(),
        CLASS_COLORS.to(dev)[cls],
        metres_per_px,
    )
    # The ego box: its centre is EGO_BOX_CENTER_X ahead of the rear-axle origin.
    ego = scene.ego_pose[env : env + 1].float()
    ego_c = to_world_points(ego, torch.tensor([[[EGO_BOX_CENTER_X, 0.0]]], device=dev))[0]  # (1, 2)
    _boxes(
        img,
        pix,
        view,
        ego_c,
        ego[:, 2],
        torch.tensor([[EGO_LENGTH, EGO_WIDTH]], device=dev),
        torch.tensor([EGO_COLOR], dtype=torch.uint8, device=dev),
        metres_per_px,
    )

    lv = scene.light_valid[env]
    if lv.any():
        rc = world_to_pixel(view, scene.light_pos[env][lv, :2], H, W, metres_per_px)
        state = scene.light_state[env][lv].long().clamp(0, len(LightState) - 1)
        _disks(img, rc, max(LIGHT_RADIUS / metres_per_px, 2.0), LIGHT_COLORS.to(dev)[state])

    if plan_xy is not None:
        plan = torch.as_tensor(plan_xy, dtype=torch.float32, device=dev)
        if plan.dim() != 2 or plan.shape[-1] < 2:
            raise ValueError(f"plan_xy must be (P, 2) ego-frame points, got shape {tuple(plan.shape)}")
        world = to_world_points(ego, plan[None, :, :2])[0]
        rc = world_to_pixel(view, world, H, W, metres_per_px)
        _disks(
            img,
            rc,
            1.5,
            torch.tensor([PLAN_COLOR], dtype=torch.uint8, device=dev).expand(len(rc), 3),
            outline=None,
        )

    _hud(img, scene, env, reason_text, t)
    return img


def _hud(img: torch.Tensor, scene: Scene, env: int, reason_text: str | None, t: float | None) -> None:
    H, W = img.shape[:2]
    scale = max(1, W // 320)
    if reason_text:
        draw_text(img, _fit(reason_text, W, scale), 2 * scale, 2 * scale, scale=scale)
    speed = float(torch.linalg.norm(scene.ego_velocity[env].float()))  # one host sync per frame
    hud = f"v {speed:4.1f} m/s" + (f"  t {t:5.1f} s" if t is not None else "")
    h, _ = text_size(hud, scale)
    draw_text(img, hud, 2 * scale, H - h - 2 * scale, scale=scale)


def _fit(text: str, W: int, scale: int) -> str:
    """Wrap text at spaces into lines that fit the image width (at most 3 lines)."""
    per_line = max(1, (W - 4 * scale) // (6 * scale))
    lines, cur = [], ""
    for word in text.split():
        if cur and len(cur) + 1 + len(word) > per_line:
            lines.append(cur)
            cur = word
        else:
            cur = f"{cur} {word}" if cur else word
    lines.append(cur)
    return "\n".join(line[:per_line] for line in lines[:3])


def mosaic(images: torch.Tensor, names: list[str] | None = None, cols: int = 4) -> torch.Tensor:
    """Tile N camera images (N, 3, h, w) uint8 into a grid (2 x 4 for the 8-camera rig), each
    labelled with its name at the top left -> (rows h, cols w, 3) uint8; missing tiles are black."""
    images = torch.as_tensor(images)
    if images.dim() != 4 or images.shape[1] != 3 or images.dtype != torch.uint8:
        raise ValueError(f"mosaic needs (N, 3, h, w) uint8 images, got {tuple(images.shape)} {images.dtype}")
    N, _, h, w = images.shape
    if names is not None and len(names) != N:
        raise ValueError(f"mosaic got {N} images but {len(names)} names")
    cols = min(cols, N)
    rows = math.ceil(N / cols)
    out = torch.zeros(rows * h, cols * w, 3, dtype=torch.uint8, device=images.device)
    scale = max(1, w // 400)
    for i in range(N):
        r, c = divmod(i, cols)
        tile = out[r * h : (r + 1) * h, c * w : (c + 1) * w]
        tile[:] = images[i].permute(1, 2, 0)
        if names is not None:
            draw_text(tile, names[i], 2 * scale, 2 * scale, scale=scale)
    return out
