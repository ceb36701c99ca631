"""Ground and sky appearance: material albedos, procedural texture, puddles, the sky gradient.

Colours are float RGB in [0, 1], laid out (B, N_cam, 3, P) like the renderer's frame buffer.
Texture matters for learning, not just for looks: a noisy asphalt gives the network something
to track between frames (ego-motion), a flat grey plane would not.
"""

from __future__ import annotations

import torch

from e2edrive.core.constants import NUM_SEMANTIC_CLASSES, Semantic
from e2edrive.sim.scene import GroundRaster

# Albedo of each ground material (indexed by Semantic; non-ground classes unused here).
_ALBEDO = {
    Semantic.ROAD: (0.30, 0.30, 0.32),
    Semantic.LANE_MARKING: (0.88, 0.88, 0.86),
    Semantic.CENTER_LINE: (0.92, 0.74, 0.16),
    Semantic.CROSSWALK: (0.90, 0.90, 0.88),
    Semantic.STOP_LINE: (0.92, 0.92, 0.90),
    Semantic.KERB: (0.62, 0.61, 0.58),
    Semantic.GRASS: (0.27, 0.46, 0.19),
    Semantic.PUDDLE: (0.10, 0.13, 0.18),  # the water body under the reflection
}
# Relative strength of the procedural texture per material (grass is patchy, paint is uniform).
_TEXTURE = {Semantic.ROAD: 0.07, Semantic.GRASS: 0.20, Semantic.KERB: 0.10, Semantic.PUDDLE: 0.0}


def material_tables(device) -> tuple[torch.Tensor, torch.Tensor]:
    """(NUM_SEMANTIC_CLASSES, 3) albedo and (NUM_SEMANTIC_CLASSES,) texture strength."""
    albedo = torch.full((NUM_SEMANTIC_CLASSES, 3), 0.5)
    tex = torch.full((NUM_SEMANTIC_CLASSES,), 0.04)
    for k, v in _ALBEDO.items():
        albedo[int(k)] = torch.tensor(v)
    for k, v in _TEXTURE.items():
        tex[int(k)] = v
    return albedo.to(device), tex.to(device)


def hash_noise(ix: torch.Tensor, iy: torch.Tensor, iz: torch.Tensor | None = None) -> torch.Tensor:
    """A deterministic value in [0, 1) per integer lattice cell (same on every device)."""
    h = ix.long() * 73856093 ^ iy.long() * 19349663
    if iz is not None:
        h = h ^ iz.long() * 83492791
    h = (h ^ (h >> 13)) * 1274126177
    h = h ^ (h >> 16)
    return (h & 1023).float() / 1024.0


NOISE_LEN = 1 << 16  # entries of the noise table, indexed by raster cell
# The texture seed of a cell is col + row * TEXTURE_STRIDE, a constant: with the padded raster
# width in its place (as before session 3) an episode's ground texture changed with the other
# maps that shared its batch, so its images were not a function of (scenario, seed) alone.
TEXTURE_STRIDE = 4099  # odd, and wider than any single map's raster


def noise_texture(device) -> torch.Tensor:
    """(NOISE_LEN,) zero-mean noise, one value per raster cell (cell index modulo NOISE_LEN).

    Looking up the cell index the material lookup already computed costs two operations per
    pixel, against a dozen for hashing world coordinates every frame.
    """
    i = torch.arange(NOISE_LEN)
    return (hash_noise(i, i * 7 + 3) - 0.5).to(device)


def sky_palette(sun_z: torch.Tensor, ndim: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Horizon and zenith colours (3, B, 1, ...) (ndim - 1 trailing ones) for the sun height
    sun_z (B,): day, dusk and night palettes blended by the sun's height."""
    dev = sun_z.device
    day = torch.clamp(sun_z / 0.25, 0, 1)
    night = torch.clamp(-sun_z / 0.1, 0, 1)
    w = torch.stack([day, 1 - day - night, night], -1)  # (B, 3)
    horizon = w @ torch.tensor([[0.78, 0.85, 0.93], [0.95, 0.64, 0.42], [0.05, 0.06, 0.10]], device=dev)
    zenith = w @ torch.tensor([[0.30, 0.50, 0.82], [0.22, 0.28, 0.50], [0.01, 0.01, 0.04]], device=dev)
    shape = (3, sun_z.shape[0]) + (1,) * (ndim - 1)
    return horizon.T.reshape(shape), zenith.T.reshape(shape)


def sky_color(g: torch.Tensor, sun_z: torch.Tensor) -> torch.Tensor:
    """Sky radiance by g = sqrt(ray elevation sine) (...) and the sun height sun_z (B,).

    Within a palette (`sky_palette`) the colour goes from a pale horizon (g = 0) to a deep
    zenith (g = 1). g is (B, ...) -> planar (3, B, ...): colour planes first, so per-channel
    constants broadcast over contiguous pixels.
    """
    horizon, zenith = sky_palette(sun_z, g.dim())
    return horizon + (zenith - horizon) * g


def ground_lookup(
    raster: GroundRaster, ego_pose: torch.Tensor, ground_xy: torch.Tensor, dtype: torch.dtype = torch.long
) -> tuple[torch.Tensor, torch.Tensor]:
    """Material under ego-frame ground points, the same result as GroundRaster.lookup (GRASS
    outside the raster).

    ego_pose (B, 3) world pose of the ego; ground_xy (N, P, 2) ego-frame points shared by the
    batch (the fixed ground hits of the rig's rays) -> material (B, N, P) and the raster cell
    index (B, N, P) (texture seed), both of `dtype` (torch.long or torch.int32; int32 halves the
    memory traffic of the per-pixel integer work); the texture seed is the cell's own
    (TEXTURE_STRIDE), independent of the batch's padding. The raster column and row are computed
    straight from the ego pose (no world-coordinate tensor), clamped in float before the
    integer conversion, and the raster is read with one flat index_select: this runs on every
    ground pixel of every frame.
    """
    B, Hr, Wr = raster.material.shape
    if dtype not in (torch.long, torch.int32):
        raise ValueError(f"ground_lookup returns torch.long or torch.int32 indices, not {dtype}")
    if dtype == torch.int32 and B * Hr * Wr >= 2**31:
        dtype = torch.long  # the flat index would overflow
    inv = 1.0 / raster.res
    c, s = torch.cos(ego_pose[:, 2]).view(B, 1, 1), torch.sin(ego_pose[:, 2]).view(B, 1, 1)
    gx, gy = ground_xy[..., 0] * inv, ground_xy[..., 1] * inv  # (N, P) in cells
    a = ((ego_pose[:, 0] - raster.origin[:, 0]) * inv).view(B, 1, 1)
    b = ((ego_pose[:, 1] - raster.origin[:, 1]) * inv).view(B, 1, 1)
    col = (c * gx - s * gy + a).floor_()  # (B, N, P) integer-valued floats
    row = (s * gx + c * gy + b).floor_()
    col_c, row_c = col.clamp(0, Wr - 1), row.clamp(0, Hr - 1)
    outside = (col_c != col) | (row_c != row)
    idx = torch.add(col_c.to(dtype), row_c.to(dtype), alpha=Wr)  # (B, N, P) cell of env b's raster
    flat = idx + (torch.arange(B, device=idx.device, dtype=dtype) * (Hr * Wr)).view(B, 1, 1)
    m = raster.material.reshape(-1).index_select(0, flat.view(-1)).view(idx.shape).to(dtype)
    # unclamped: grass beyond the map keeps its own texture, whether or not padding covers it
    seed = torch.add(col.to(dtype), row.to(dtype), alpha=TEXTURE_STRIDE)  # (B, N, P)
    return m.masked_fill_(outside, int(Semantic.GRASS)), seed


def ground_shade(
    material: torch.Tensor, cell: torch.Tensor, texture_table: torch.Tensor, noise: torch.Tensor
) -> torch.Tensor:
    """Brightness factor (...) of the ground texture: per-raster-cell noise (glued to the world
    as the car moves), scaled per material."""
    strength = texture_table.index_select(0, material.reshape(-1)).view(material.shape)
    return 1 + 2 * strength * noise.index_select(0, (cell & (NOISE_LEN - 1)).reshape(-1)).view(cell.shape)


def fresnel(cos_incidence: torch.Tensor) -> torch.Tensor:
    """Schlick reflectance of water, floored at 0.25 for the ripples and sheen of a real puddle."""
    return (0.02 + 0.98 * (1 - cos_incidence.clamp(0, 1)) ** 5).clamp(min=0.25)
