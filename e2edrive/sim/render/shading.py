"""Box textures, Lambert lighting and fog.

Boxes get their look from where the ray hits them, in the box's own frame: a vehicle's upper
band is glass and its lower band dark (wheels, shadow), its front has headlights and its rear
red tail lights, so heading is visible; a pedestrian has a head and legs; a traffic-light
housing shows three lamps on the face it turns to its traffic, the lit one emissive.
All inputs are per pixel: (...) scalars and (..., 3) colours (a flat list of pixels in practice).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from e2edrive.core.constants import LightState, Semantic
from e2edrive.sim.render.boxes import LAMP_HALF, LAMP_OFFSETS, Look
from e2edrive.sim.render.ground import hash_noise

AMBIENT_SHARE = 0.55  # share of light that is sky ambient; the rest is the sun's Lambert term

_LAMP_LIT = {
    LightState.RED: (1.0, 0.12, 0.08),
    LightState.YELLOW: (1.0, 0.78, 0.10),
    LightState.GREEN: (0.10, 1.0, 0.35),
}
LAMP_DARK = (0.09, 0.08, 0.08)


def lamp_color(state: LightState) -> tuple[float, float, float]:
    """Emitted RGB (0..1) of a lit lamp: what a test counts in the image."""
    return _LAMP_LIT[state]


@dataclass
class BoxHit:
    """Where a ray hits its box, in the box's frame (per pixel, (...)).

    lx, ly: along the box's length and width axes from its centre; zr: height fraction in
    [0, 1] from bottom to top; z_mid: height above the box's vertical centre; face: 0 for the
    ±length faces, 1 for the ±width faces, 2 for top/bottom; sign: +1 or -1, the face's side.
    """

    lx: torch.Tensor
    ly: torch.Tensor
    zr: torch.Tensor
    z_mid: torch.Tensor
    face: torch.Tensor
    sign: torch.Tensor


def _rgb(v, ref: torch.Tensor) -> torch.Tensor:
    return torch.tensor(v, dtype=ref.dtype, device=ref.device)


def box_albedo(
    look: torch.Tensor,
    semantic: torch.Tensor,
    base: torch.Tensor,
    hit: BoxHit,
    half: torch.Tensor,
    light_state: torch.Tensor,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Albedo (..., 3) of box hits and an emissive mask (...) (lit lamps, not shaded).

    look, semantic, light_state (...) long; base (..., 3) the box's colour;
    half (..., 2) half length and width. Painting writes palette indices (one channel, later
    paints win) and a brightness gain on the base colour; colours are looked up once at the end.
    """
    side = hit.face < 2
    hx, hy = half[..., 0], half[..., 1]
    palette: list[tuple[float, float, float]] = [(0.0, 0.0, 0.0)]  # 0: keep the base colour
    paint_id = torch.zeros_like(look, dtype=torch.int32)
    # Looks present (one host sync on CPU, where it is free): the paints of an absent look are
    # no-ops (false masks, gain terms of +-0), so they are skipped: the same image, less work.
    present = set(torch.unique(look).tolist()) if look.device.type == "cpu" else set(Look)

    def paint(mask: torch.Tensor, rgb: tuple[float, float, float]) -> None:
        nonlocal paint_id
        palette.append(rgb)
        paint_id = torch.where(mask, len(palette) - 1, paint_id)

    emissive = torch.zeros_like(side)  # lit lamps: brake lights, traffic lights
    if Look.VEHICLE in present:
        veh = look == Look.VEHICLE
        along = torch.where(hit.face == 1, hit.lx.abs() < 0.8 * hx, hit.ly.abs() < 0.85 * hy)
        paint(veh & side & (hit.zr > 0.58) & (hit.zr < 0.92) & along, (0.09, 0.12, 0.16))  # windows
        paint(veh & side & (hit.zr < 0.22), (0.05, 0.05, 0.05))  # wheels, sills, shadow under the body
        lamps = veh & (hit.face == 0) & (hit.zr > 0.38) & (hit.zr < 0.52) & (hit.ly.abs() > 0.55 * hy)
        paint(lamps & (hit.sign > 0), (0.95, 0.95, 0.85))  # headlights
        paint(lamps & (hit.sign < 0), (0.75, 0.04, 0.04))  # tail lights
        # brake lights (light_state RED on a vehicle): the tail lamps and a centre high-mount stop
        # lamp, lit (emissive) so a braking car ahead reads in one frame, as it does on the road
        rear = veh & (hit.face == 0) & (hit.sign < 0) & (light_state == LightState.RED)
        high = (hit.zr > 0.80) & (hit.zr < 0.88) & (hit.ly.abs() < 0.25 * hy)
        brake = rear & (lamps | high)
        paint(brake, _LAMP_LIT[LightState.RED])
        emissive = emissive | brake

    if Look.PEDESTRIAN in present:
        ped = look == Look.PEDESTRIAN
        paint(ped & (hit.zr > 0.86), (0.80, 0.62, 0.50))  # head
        paint(ped & (hit.zr < 0.47), (0.17, 0.19, 0.30))  # trousers

    if Look.ANIMAL in present:
        animal = look == Look.ANIMAL
        chicken, goose = animal & (semantic == Semantic.CHICKEN), animal & (semantic == Semantic.GOOSE)
        paint(chicken & (hit.zr > 0.85), (0.80, 0.12, 0.08))  # comb
        paint(goose & (hit.zr > 0.6) & (hit.lx > 0.2 * hx), (0.07, 0.07, 0.07))  # black neck and head
        paint(animal & (hit.zr < 0.18), (0.90, 0.60, 0.12))  # legs and feet

    # gain = 1 + debris * (1.1 cell - 0.65) + barrier * (0.2 slab - 0.1): mottled debris,
    # concrete slabs; a missing term is +-0 and adding it changes nothing.
    gain = None
    if Look.DEBRIS in present:
        # Debris: an irregular patchwork (no class describes it, so it must not look like one).
        cell = hash_noise(torch.floor(hit.lx * 4), torch.floor(hit.ly * 4), torch.floor(hit.zr * 5))
        debris = look == Look.DEBRIS
        paint(debris & (cell > 0.7), (0.45, 0.25, 0.12))  # rusty patches
        gain = 1 + debris * (1.1 * cell - 0.65)
    if Look.BARRIER in present:
        barrier = look == Look.BARRIER
        slab = hash_noise(torch.floor(hit.lx * 0.5 + 0.5 * hit.ly), torch.zeros_like(hit.lx))
        paint(barrier & (hit.zr < 0.1), (0.35, 0.35, 0.33))  # dirty foot of the barrier
        term = barrier * (0.2 * slab - 0.1)
        gain = 1 + term if gain is None else gain + term

    # Traffic-light housing: lamps on the +length face (the one facing light_yaw).
    if Look.HOUSING in present:
        front = (look == Look.HOUSING) & (hit.face == 0) & (hit.sign > 0) & (hit.ly.abs() < LAMP_HALF)
        for state, dz in zip(
            (LightState.RED, LightState.YELLOW, LightState.GREEN), LAMP_OFFSETS, strict=True
        ):
            on_lamp = front & ((hit.z_mid - dz).abs() < LAMP_HALF)
            lit = on_lamp & (light_state == state)
            paint(on_lamp & ~lit, LAMP_DARK)
            paint(lit, _LAMP_LIT[state])
            emissive = emissive | lit
    table = torch.tensor(palette, dtype=base.dtype, device=base.device)
    painted = table.index_select(0, paint_id.reshape(-1)).view(*paint_id.shape, 3)
    col = torch.where(
        (paint_id > 0).unsqueeze(-1), painted, base if gain is None else base * gain.unsqueeze(-1)
    )
    return col, emissive


def lambert(albedo: torch.Tensor, n_dot_sun: torch.Tensor, ambient: torch.Tensor) -> torch.Tensor:
    """Diffuse shading: albedo * ambient * (AMBIENT_SHARE + (1 - AMBIENT_SHARE) max(n.s, 0)).

    albedo (..., 3); n_dot_sun and ambient (...) (or broadcastable to it).
    """
    light = ambient * (AMBIENT_SHARE + (1 - AMBIENT_SHARE) * n_dot_sun.clamp(min=0))
    return albedo * light.unsqueeze(-1)


FOG_RGB = (0.74, 0.76, 0.79)


def fog_color(ambient: torch.Tensor) -> torch.Tensor:
    """(B, 3) fog colour (0..1): a light grey, darker at night."""
    return _rgb(FOG_RGB, ambient) * ambient.clamp(0.15, 1)[:, None]
