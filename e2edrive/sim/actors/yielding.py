"""Vehicles yield to pedestrians on a crosswalk: a car stops before the crosswalk while a
pedestrian who has stepped onto it has not yet cleared the car's lane.

Computed in the world frame, so it holds for cars on the route (either direction) and for cross
traffic on world lines alike, whose frames do not see the route's pedestrians otherwise. For a
car i heading h_i and a crossing pedestrian j (a walk light's pedestrian who has set off and not
arrived) at (u, e) in the car's frame, walking across the car's path (|sin(heading_j - h_i)| >
ACROSS_SIN) towards side w = sign(sin(heading_j - h_i)):

    waits for j   if  e * w < CLEAR (half the car's width + half the pedestrian's + CLEAR_MARGIN)
                      and |e| < REACH_SIDE and the pedestrian is ahead (gap > -STOP_BEFORE)
    stop gap      =   u - len_j / 2 - STOP_BEFORE - len_i / 2   (m, car front to its stop point)

A pedestrian waiting at the kerb is not on the crosswalk yet (they set off only with no car
near, actors/step.py), so cars do not wait for the ones who wait for them.
"""

from __future__ import annotations

import torch

from e2edrive.core.constants import ObjectClass
from e2edrive.sim.actors.state import Actors, Behavior

STOP_BEFORE = 1.5  # m between a car's front and the pedestrian it waits for
CLEAR_MARGIN = 0.5  # m beyond the car's side a pedestrian must be to count as past its lane
REACH_SIDE = 10.0  # m: pedestrians further to the side are on another crosswalk
ACROSS_SIN = 0.5  # |sin| of the angle between a pedestrian's walk and the car's heading


def on_crosswalk(a: Actors) -> torch.Tensor:
    """(B, N) pedestrians with a walk light who have stepped off the kerb and not yet arrived."""
    ped = a.valid & (a.cls == int(ObjectClass.PEDESTRIAN)) & (a.behavior == int(Behavior.WALKER))
    return ped & (a.walk_light >= 0) & (a.d != a.d_home) & ~a.walk_done & ~a.crashed


def crosswalk_stop_gap(a: Actors, pose: torch.Tensor) -> torch.Tensor:
    """(B, N) gap (m) from each vehicle's front to where it stops for a pedestrian on a crosswalk
    ahead who has not cleared its lane; inf where there is none. pose: (B, N, 3) world box poses."""
    walkers = on_crosswalk(a)  # (B, N)
    h = pose[..., 2]
    c, s = torch.cos(h)[:, :, None], torch.sin(h)[:, :, None]  # the car i, (B, N, 1)
    dx = pose[:, None, :, 0] - pose[:, :, None, 0]  # pedestrian j relative to car i, (B, N, N)
    dy = pose[:, None, :, 1] - pose[:, :, None, 1]
    u, e = c * dx + s * dy, -s * dx + c * dy
    rel = torch.sin(h[:, None, :] - h[:, :, None])  # the pedestrian's walk across the car's path
    w = torch.sign(rel)
    clear = (a.size[:, :, None, 1] + a.size[:, None, :, 1]) / 2 + CLEAR_MARGIN
    gap = u - a.size[:, None, :, 0] / 2 - STOP_BEFORE - a.size[:, :, None, 0] / 2
    waits = walkers[:, None, :] & (rel.abs() > ACROSS_SIN) & (e * w < clear) & (e.abs() < REACH_SIDE)
    waits = waits & (gap > -STOP_BEFORE)  # a car already on the crosswalk drives off it
    gap = torch.where(waits, gap.clamp(min=0.0), torch.full_like(gap, float("inf"))).amin(-1)
    vehicle = a.valid & (a.behavior == int(Behavior.VEHICLE))
    return torch.where(vehicle, gap, torch.full_like(gap, float("inf")))
