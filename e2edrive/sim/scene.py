"""`Scene`: everything the renderer and the label maker need to know about the world at one
instant, batched over B environments, in the per-episode world frame (x, y on the ground, z up).

It is the contract between the world (maps, actors, scenarios) and its consumers (renderer,
labels, top-down view): the world fills it, they read it. Nothing here is visible to a policy.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass
class GroundRaster:
    """Top-down raster of ground materials (core.constants.Semantic values), world frame.

    material: (B, Hr, Wr) uint8. Cell [r, c] covers x in [origin_x + c res, origin_x + (c+1) res)
              and y in [origin_y + r res, origin_y + (r+1) res): rows run along +y, columns along +x.
    origin:   (B, 2) float32 world xy of the corner of cell [0, 0]
    res:      metres per cell (one value for the batch)
    Outside the raster the ground is GRASS.
    """

    material: torch.Tensor
    origin: torch.Tensor
    res: float

    def lookup(self, xy: torch.Tensor) -> torch.Tensor:
        """Material under world points xy (B, ..., 2) -> (B, ...) uint8; GRASS outside."""
        from e2edrive.core.constants import Semantic

        B, Hr, Wr = self.material.shape
        flat = xy.reshape(B, -1, 2)
        col = torch.floor((flat[..., 0] - self.origin[:, None, 0]) / self.res).long()
        row = torch.floor((flat[..., 1] - self.origin[:, None, 1]) / self.res).long()
        inside = (col >= 0) & (col < Wr) & (row >= 0) & (row < Hr)
        idx = row.clamp(0, Hr - 1) * Wr + col.clamp(0, Wr - 1)
        out = torch.gather(self.material.reshape(B, -1), 1, idx)
        out = torch.where(inside, out, torch.full_like(out, int(Semantic.GRASS)))
        return out.reshape(xy.shape[:-1])


@dataclass
class Scene:
    """One instant of B worlds.

    ground:        material raster (asphalt, markings, crosswalks, kerbs, grass, puddles)
    ego_pose:      (B, 3) (x, y, yaw) of the ego frame origin (rear-axle centre) in the world
    ego_velocity:  (B, 2) world-frame m/s
    obj_pose:      (B, N, 3) (x, y, yaw) of each actor's box centre on the ground
    obj_size:      (B, N, 3) (length, width, height) m; boxes stand on the ground (z from 0 to height)
    obj_velocity:  (B, N, 2) world-frame m/s (flow labels)
    obj_class:     (B, N) long, core.constants.ObjectClass
    obj_color:     (B, N, 3) uint8 body colour (vehicles vary; animals and people fixed by class)
    obj_valid:     (B, N) bool, False for padding and for actors not yet spawned / removed
    obj_braking:   (B, N) bool, a vehicle's brake lights are lit (None: none are)
    barriers:      (B, M, 4) float32 (x0, y0, x1, y1) line segments of road-edge barriers
    barrier_valid: (B, M) bool
    barrier_height: m, one value (0.8 m concrete barrier)
    light_pos:     (B, T, 3) world position of each traffic light's lamp housing centre
    light_yaw:     (B, T) direction the lamps face (towards the traffic they govern)
    light_state:   (B, T) long, core.constants.LightState
    light_valid:   (B, T) bool
    ego_light:     (B,) long, LightState of the light governing the ego's route (NONE if none ahead
                   within 80 m); index into light_* in ego_light_index (B,), -1 if none
    ego_light_index: (B,) long
    lane_lines:    (B, L, P, 2) world-frame polylines of lane lines, centre lines and road edges
    lane_line_type:(B, L) long: 0 lane line, 1 centre line, 2 road edge
    lane_line_valid:(B, L) bool
    sun_dir:       (B, 3) unit vector towards the sun, world frame (z > 0 by day)
    ambient:       (B,) ambient light in [0, 1] (1 noon, ~0.25 night)
    fog:           (B,) fog density per metre (0 = clear); visibility ~ 3 / fog
    """

    ground: GroundRaster
    ego_pose: torch.Tensor
    ego_velocity: torch.Tensor
    obj_pose: torch.Tensor
    obj_size: torch.Tensor
    obj_velocity: torch.Tensor
    obj_class: torch.Tensor
    obj_color: torch.Tensor
    obj_valid: torch.Tensor
    barriers: torch.Tensor
    barrier_valid: torch.Tensor
    light_pos: torch.Tensor
    light_yaw: torch.Tensor
    light_state: torch.Tensor
    light_valid: torch.Tensor
    ego_light: torch.Tensor
    ego_light_index: torch.Tensor
    lane_lines: torch.Tensor
    lane_line_type: torch.Tensor
    lane_line_valid: torch.Tensor
    sun_dir: torch.Tensor
    ambient: torch.Tensor
    fog: torch.Tensor
    barrier_height: float = 0.8
    obj_braking: torch.Tensor | None = None

    @property
    def batch_size(self) -> int:
        return self.ego_pose.shape[0]
