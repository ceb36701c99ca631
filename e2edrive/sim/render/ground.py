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
_TEXTURE = {Semantic.ROAD: 0.10, Semantic.GRASS: 0.30, Semantic.KERB: 0.12, Semantic.PUDDLE: 0.0}


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


NOISE_SIZE = 256  # cells per side of the tiled noise texture (a 51 m period at 0.2 m cells)


def noise_texture(device) -> torch.Tensor:
    """(NOISE_SIZE * NOISE_SIZE,) zero-mean cell noise, two octaves (fine cells and 8x8 blobs).

    A lookup in a precomputed tile costs a third of hashing every pixel each frame.
    """
    i = torch.arange(NOISE_SIZE)
    ix, iy = torch.meshgrid(i, i, indexing="ij")
    n = 0.6 * hash_noise(ix, iy) + 0.4 * hash_noise(ix // 8, iy // 8, torch.ones_like(ix)) - 0.5
    return n.reshape(-1).to(device)


def sky_color(g: torch.Tensor, sun_z: torch.Tensor) -> torch.Tensor:
    """Sky radiance by g = sqrt(ray elevation sine) (...) and the sun height sun_z (B,).

    Day, dusk and night palettes blend by the sun's height; within one, the colour goes from a
    pale horizon (g = 0) to a deep zenith (g = 1). g is (B, ...) -> planar (3, B, ...): colour
    planes first, so per-channel constants broadcast over contiguous pixels.
    """
    dev = g.device
    day = torch.clamp(sun_z / 0.25, 0, 1)
    night = torch.clamp(-sun_z / 0.1, 0, 1)
    w = torch.stack([day, 1 - day - night, night], -1)  # (B, 3)
    horizon = w @ torch.tensor([[0.78, 0.85, 0.93], [0.95, 0.64, 0.42], [0.05, 0.06, 0.10]], device=dev)
    zenith = w @ torch.tensor([[0.30, 0.50, 0.82], [0.22, 0.28, 0.50], [0.01, 0.01, 0.04]], device=dev)
    shape = (3, sun_z.shape[0]) + (1,) * (g.dim() - 1)
    horizon, zenith = horizon.T.reshape(shape), zenith.T.reshape(shape)
    return horizon + (zenith - horizon) * g


def lookup_material(raster: GroundRaster, xy: torch.Tensor) -> torch.Tensor:
    """GroundRaster.lookup with the same result (GRASS outside), in arithmetic masks instead of
    torch.where (several times slower on CPU). xy (B, ..., 2) world -> (B, ...) long."""
    B, Hr, Wr = raster.material.shape
    flat = xy.reshape(B, -1, 2)
    cr = torch.floor((flat - raster.origin[:, None, :]) / raster.res).long()  # (B, M, 2) (col, row)
    col, row = cr[..., 0], cr[..., 1]
    inside = (col >= 0) & (col < Wr) & (row >= 0) & (row < Hr)
    idx = row.clamp(0, Hr - 1) * Wr + col.clamp(0, Wr - 1)
    m = torch.gather(raster.material.reshape(B, -1), 1, idx).long()
    m = m * inside + int(Semantic.GRASS) * ~inside
    return m.view(xy.shape[:-1])


def ground_shade(
    material: torch.Tensor, world_xy: torch.Tensor, texture_table: torch.Tensor, noise: torch.Tensor
) -> torch.Tensor:
    """Brightness factor (...) of the procedural texture: cell noise at 0.2 m (and 1.6 m blobs)
    in world coordinates, glued to the ground as the car moves; scaled per material."""
    cell = torch.floor(world_xy * 5).long() & (NOISE_SIZE - 1)  # (..., 2)
    n = noise[cell[..., 0] * NOISE_SIZE + cell[..., 1]]
    return 1 + 2 * texture_table[material] * n


def fresnel(cos_incidence: torch.Tensor) -> torch.Tensor:
    """Schlick reflectance of water, floored at 0.25 for the ripples and sheen of a real puddle."""
    return (0.02 + 0.98 * (1 - cos_incidence.clamp(0, 1)) ** 5).clamp(min=0.25)
