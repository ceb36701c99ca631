"""The batched multi-camera renderer: every camera of every environment in one pass of tensor ops.

Per frame: (1) boxes of the scene in the ego frame, (2) per-tile culling and slab-method ray
casting against them (objects.py), (3) the ground plane hit, precomputed per pixel because the
rig is fixed, moved into the world by the ego pose and looked up in the material raster,
(4) the nearest of the two wins; texture, Lambert shading, puddle reflection, sky, fog.

compact=True (the default on CPU) works on lists of the pixels and (tile, box) pairs that need
it, which costs a host sync for their count: free on a CPU. compact=False (the default on
accelerators) computes every pixel and pair with masks: fixed shapes, no sync.
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace

import torch

from e2edrive.core.constants import Semantic
from e2edrive.core.device import as_device
from e2edrive.core.rig import CameraRig
from e2edrive.sim.render.boxes import SolidBoxes, scene_boxes
from e2edrive.sim.render.camera_rays import make_camera_rays
from e2edrive.sim.render.ground import (
    fresnel,
    ground_lookup,
    ground_shade,
    material_tables,
    noise_texture,
    sky_palette,
)
from e2edrive.sim.render.objects import cast_boxes
from e2edrive.sim.render.shading import AMBIENT_SHARE, BoxHit, box_albedo, fog_color, lambert
from e2edrive.sim.scene import Scene

MAX_DEPTH = 150.0  # m, depth written for the sky and clamp for far ground (core.types.Labels: inf-free)


@dataclass
class RenderOutput:
    """Images of B environments x N cameras (rig.names order).

    rgb:       (B, N_cam, 3, H, W) uint8
    depth:     (B, N_cam, H, W) float32 metres along the optical axis, sky = MAX_DEPTH
    semantics: (B, N_cam, H, W) uint8, core.constants.Semantic
    """

    rgb: torch.Tensor
    depth: torch.Tensor
    semantics: torch.Tensor


def slice_scene(scene: Scene, start: int, stop: int) -> Scene:
    """Environments [start, stop) of a scene (views, no copy)."""
    changes = {
        f.name: getattr(scene, f.name)[start:stop]
        for f in fields(scene)
        if isinstance(getattr(scene, f.name), torch.Tensor)
    }
    g = scene.ground
    ground = replace(g, material=g.material[start:stop], origin=g.origin[start:stop])
    return replace(scene, ground=ground, **changes)


class Renderer:
    """Ray-casting renderer for a fixed rig on one device.

    max_per_tile: candidate boxes per tile of `tile` (h, w) pixels (objects.py explains the cap)
    max_depth:    m, far clamp of the depth image
    compact:      work on pixel/pair lists (one host sync per frame); default: True on CPU only
    batch_chunk:  environments rendered together (0: all). On CPU a few at a time keep the
                  temporaries in cache (4 measured fastest, ~25% over 16); default 4 on CPU, 0 elsewhere
    """

    def __init__(
        self,
        rig: CameraRig,
        device: torch.device | str = "cpu",
        max_per_tile: int = 16,
        max_depth: float = MAX_DEPTH,
        tile: tuple[int, int] = (4, 16),
        compact: bool | None = None,
        batch_chunk: int | None = None,
    ):
        if max_per_tile < 1:
            raise ValueError(f"max_per_tile must be >= 1, got {max_per_tile}")
        self.rig = rig
        self.device = as_device(device)
        self.max_per_tile = max_per_tile
        self.max_depth = max_depth
        self.compact = self.device.type == "cpu" if compact is None else compact
        self.batch_chunk = (4 if self.device.type == "cpu" else 0) if batch_chunk is None else batch_chunk
        self.rays = make_camera_rays(rig, self.device, tile)
        albedo, self.texture_table = material_tables(self.device)
        self.albedo_planar = albedo.T.contiguous()  # (3, NUM_SEMANTIC_CLASSES)
        self.noise = noise_texture(self.device)
        elevation = self.rays.dirs[..., 2] / self.rays.ray_norm  # (N, P) sine of each ray's elevation
        self.sky_g = elevation.clamp(0, 1).sqrt()  # (N, P) position between horizon and zenith
        self.reflect_g = (-elevation).clamp(0, 1).sqrt()  # the same for the ray mirrored by the ground
        self.reflectance = fresnel(-elevation)  # (N, P) water reflectance at the ground hit
        # Pixels whose ray meets the ground (fixed by the rig): the only ones the material raster
        # is read for. Every other pixel is sky or an object, where the material is multiplied
        # by zero (ground_f = 0), so SKY (0) stands in for it there: the same image.
        self.ground_pix = torch.isfinite(self.rays.ground_t).view(-1).nonzero().squeeze(1)  # (G,)
        self.ground_xy = self.rays.ground_xy.reshape(-1, 2)[self.ground_pix][None]  # (1, G, 2)
        N, P = self.rays.dirs.shape[:2]
        self.pix_origin = self.rays.origin.repeat_interleave(P, 0)  # (N P, 3) camera centre per pixel
        self.pix_dirs = self.rays.dirs.reshape(N * P, 3)

    def render(self, scene: Scene) -> RenderOutput:
        """Render every camera of every environment of `scene` (on the renderer's device)."""
        if scene.ego_pose.device.type != self.device.type:
            raise ValueError(
                f"scene is on {scene.ego_pose.device}, renderer on {self.device}: move one of them"
            )
        B, step = scene.batch_size, self.batch_chunk
        if step <= 0 or B <= step:
            return self._render(scene)
        parts = [self._render(slice_scene(scene, i, min(i + step, B))) for i in range(0, B, step)]
        return RenderOutput(
            *(torch.cat([getattr(p, f) for p in parts]) for f in ("rgb", "depth", "semantics"))
        )

    def _render(self, scene: Scene) -> RenderOutput:
        boxes = scene_boxes(scene)
        rays = self.rays
        B = scene.batch_size
        N, P = rays.dirs.shape[:2]
        H, W = self.rig.height, self.rig.width

        t_obj, box = cast_boxes(rays, boxes, W, H, self.max_per_tile, self.compact)  # (B, N, P)
        t_ground = rays.ground_t.expand(B, N, P)
        is_obj = t_obj < t_ground
        is_ground = ~is_obj & torch.isfinite(t_ground)
        depth = torch.minimum(t_obj, t_ground).clamp(max=self.max_depth)  # sky (inf) -> max_depth

        ego = scene.ego_pose.float()
        c, s = torch.cos(ego[:, 2]), torch.sin(ego[:, 2])  # (B,)
        mat_g, cell_g = ground_lookup(scene.ground, ego, self.ground_xy, torch.int32)  # (B, 1, G)
        material = torch.zeros(B, N * P, dtype=mat_g.dtype, device=self.device)
        cell = torch.zeros(B, N * P, dtype=cell_g.dtype, device=self.device)
        material.index_copy_(1, self.ground_pix, mat_g[:, 0])
        cell.index_copy_(1, self.ground_pix, cell_g[:, 0])
        material, cell = material.view(B, N, P), cell.view(B, N, P)

        sun = scene.sun_dir.float()
        sun_ego = torch.stack([c * sun[:, 0] + s * sun[:, 1], -s * sun[:, 0] + c * sun[:, 1], sun[:, 2]], -1)
        ambient = scene.ambient.float()  # (B,)
        fog = scene.fog.float()
        keep = torch.exp(-fog.view(B, 1, 1) * depth * rays.ray_norm)  # (B, N, P) share not lost to fog

        # Ground and sky in one expression (colour planes first, (3, B, N, P)); per-pixel scalars
        # are folded first so that few operations touch all three planes:
        #   rgb = albedo * shade + sky(G) * w_sky + fog_rgb * (1 - keep), scaled to 0..255
        # ground: shade = texture x Lambert x (1 - puddle reflectance), G = mirrored-ray sky;
        # sky: shade = 0, G = the ray's own elevation, w_sky = 1.
        ground_f = is_ground.float()
        light = ambient.view(B, 1, 1) * (
            AMBIENT_SHARE + (1 - AMBIENT_SHARE) * sun_ego[:, 2].clamp(min=0).view(B, 1, 1)
        )
        refl = (material == Semantic.PUDDLE) * self.reflectance  # (B, N, P)
        shade = ground_f * ground_shade(material, cell, self.texture_table, self.noise) * light * (1 - refl)
        w_sky = 1 - ground_f * (1 - refl)
        g = self.sky_g + ground_f * (self.reflect_g - self.sky_g)
        k255 = keep * 255
        # In place, in this order: the same float operations as the expression above, but two
        # (3, B, N, P) temporaries instead of eight (fresh multi-MB buffers cost page faults).
        color = self.albedo_planar.index_select(1, material.view(-1)).view(3, B, N, P)  # (3, B, N, P)
        color.mul_(shade * k255)
        horizon, zenith = sky_palette(sun[:, 2], g.dim())
        sky = torch.mul(zenith - horizon, g).add_(horizon)  # sky_color(g, sun_z)
        color.add_(sky.mul_(w_sky * k255))
        color.add_(torch.mul(fog_color(ambient).T.reshape(3, B, 1, 1), 255 * (1 - keep), out=sky))
        sem = material.to(torch.uint8) * is_ground  # (B, N, P) uint8, SKY is 0

        flat_color, flat_sem = color.view(3, -1), sem.view(-1)
        if boxes.num_boxes > 0:
            flat_color, flat_sem = self._draw_boxes(
                boxes, box, t_obj, is_obj, keep, sun_ego, ambient, flat_color, flat_sem
            )

        rgb = flat_color.add_(0.5).clamp_(0, 255).to(torch.uint8).view(3, B, N, P)
        return RenderOutput(
            rgb=self._row_major(rgb.permute(1, 2, 0, 3)),
            depth=self._row_major(depth),
            semantics=self._row_major(flat_sem.view(B, N, P).to(torch.uint8)),
        )

    def _row_major(self, x: torch.Tensor) -> torch.Tensor:
        """(..., P) tile-major pixels -> (..., H, W): a pure permutation of the tile axes."""
        r = self.rays
        H, W = self.rig.height, self.rig.width
        nty, ntx = H // r.tile_h, W // r.tile_w
        x = x.reshape(*x.shape[:-1], nty, ntx, r.tile_h, r.tile_w).transpose(-3, -2)
        return x.reshape(*x.shape[:-4], H, W)

    def _draw_boxes(
        self,
        boxes: SolidBoxes,
        box: torch.Tensor,
        t_obj: torch.Tensor,
        is_obj: torch.Tensor,
        keep: torch.Tensor,
        sun_ego: torch.Tensor,
        ambient: torch.Tensor,
        flat_color: torch.Tensor,
        flat_sem: torch.Tensor,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Write box pixels into the frame (3, B*N*P) and semantics (B*N*P,): only the pixels
        they cover in compact mode, every pixel masked otherwise."""
        B, N, P = box.shape
        flat_obj = is_obj.reshape(-1)
        pid = flat_obj.nonzero().squeeze(1) if self.compact else torch.arange(B * N * P, device=self.device)
        # index_select, not x[pid]: the same values, several times faster on CPU.
        t_hit = t_obj.clamp(max=self.max_depth).reshape(-1).index_select(0, pid)  # finite even where masked
        box_q = box.reshape(-1).index_select(0, pid)
        obj_rgb, obj_sem = self._shade_boxes(boxes, box_q, t_hit, pid, sun_ego, ambient)
        obj_sem = obj_sem.to(flat_sem.dtype)  # uint8 (wraps consistently in the masked blend)
        k = keep.reshape(-1).index_select(0, pid)[:, None]
        fog_q = fog_color(ambient).index_select(0, pid // (N * P))
        obj_rgb = 255 * (obj_rgb * k + fog_q * (1 - k))  # (Q, 3)
        if self.compact:
            flat_color[:, pid] = obj_rgb.T
            flat_sem[pid] = obj_sem
            return flat_color, flat_sem
        return flat_color + flat_obj * (obj_rgb.T - flat_color), flat_sem + flat_obj * (obj_sem - flat_sem)

    def _shade_boxes(
        self,
        boxes: SolidBoxes,
        box: torch.Tensor,
        t: torch.Tensor,
        pid: torch.Tensor,
        sun_ego: torch.Tensor,
        ambient: torch.Tensor,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Colour (Q, 3) and semantics (Q,) of pixels pid (Q,) (flat (B, N, P) indices) hitting
        box (Q,) at depth t (Q,)."""
        rays = self.rays
        N, P = rays.dirs.shape[:2]
        B, K = boxes.yaw.shape
        b, ray = pid // (N * P), pid % (N * P)
        fb = b * K + box  # flat (B, K) index

        # The box fields of every pixel, gathered with one index_select per dtype.
        fcols = [
            boxes.center,
            boxes.yaw[..., None],
            boxes.half,
            boxes.z0[..., None],
            boxes.z1[..., None],
            boxes.color,
        ]
        fq = torch.cat(fcols, -1).view(B * K, 10).index_select(0, fb)  # (Q, 10)
        center, yaw, half, z0, z1, color = fq[:, 0:2], fq[:, 2], fq[:, 3:5], fq[:, 5], fq[:, 6], fq[:, 7:10]
        iq = (
            torch.stack([boxes.look, boxes.semantic, boxes.light_state], -1)
            .view(B * K, 3)
            .index_select(0, fb)
        )
        look, semantic, light_state = iq[:, 0], iq[:, 1], iq[:, 2]

        p = self.pix_origin.index_select(0, ray) + t[:, None] * self.pix_dirs.index_select(0, ray)  # (Q, 3)
        c, s = torch.cos(yaw), torch.sin(yaw)
        rx, ry = p[:, 0] - center[:, 0], p[:, 1] - center[:, 1]
        lx, ly = c * rx + s * ry, -s * rx + c * ry
        hz = ((z1 - z0) / 2).clamp(min=1e-6)
        z_mid = p[:, 2] - (z0 + z1) / 2
        # The face hit is the one the point is relatively closest to: largest |local| / half-size.
        ax, ay, az = (
            lx.abs() / half[:, 0].clamp(min=1e-6),
            ly.abs() / half[:, 1].clamp(min=1e-6),
            z_mid.abs() / hz,
        )
        face = torch.where((ax >= ay) & (ax >= az), 0, torch.where(ay >= az, 1, 2))
        local = torch.where(face == 0, lx, torch.where(face == 1, ly, z_mid))
        sign = torch.where(local >= 0, 1.0, -1.0)
        sun = sun_ego.index_select(0, b)  # (Q, 3)
        # Normal . sun with the normal (+-1 along the face's axis) rotated into the ego frame.
        n_dot_sun = sign * torch.where(
            face == 0,
            c * sun[:, 0] + s * sun[:, 1],
            torch.where(face == 1, c * sun[:, 1] - s * sun[:, 0], sun[:, 2]),
        )
        hit = BoxHit(lx=lx, ly=ly, zr=(p[:, 2] - z0) / (2 * hz), z_mid=z_mid, face=face, sign=sign)
        albedo, emissive = box_albedo(look, semantic, color, hit, half, light_state)
        rgb = torch.where(
            emissive.unsqueeze(-1), albedo, lambert(albedo, n_dot_sun, ambient.index_select(0, b))
        )
        return rgb, semantic
