"""Conflict zones between the ego's route and cross traffic at a junction.

Cross traffic drives along world lines, straight or turning into an exit lane (sim.actors,
`line`, actors/paths.py); the ego along its route lane. Where the route crosses such a path
(somewhere at more than 30 degrees: a lane the route only runs beside, or merges into, is no
crossing), the two share a conflict zone: an interval [s_in, s_out] of the ego's rear-axle arc
length on the route in which its box overlaps the actor's lane, and the interval [u_in, u_out]
of the actor's path coordinate that the ego's box covers there; the two must not be occupied
at once. Zones depend only on the map, the route lane and the paths, so they are computed once
per episode; the expert yields by them and the record judges gaps by them.
"""

from __future__ import annotations

import torch

from e2edrive.core.constants import EGO_BOX_CENTER_X, EGO_LENGTH, EGO_WIDTH
from e2edrive.sim.actors import Actors
from e2edrive.sim.actors.paths import path_frame
from e2edrive.sim.map import RoadMap, frenet_to_world

SPAN = 45.0  # m of route either side of the junction centre searched for crossings
STEP = 0.5  # m between route samples
ZONE_MARGIN = 0.8  # m of clearance added on every side of a zone (the ego drifts up to ~0.6 m in turns)
MIN_CROSSING_SIN = 0.5  # |sin| of the angle between route and line: below it, a merge, not a crossing
SAFE_GAP = 2.0  # s: entering a zone an actor reaches sooner than this is a gap violation


def conflict_zones(rmap: RoadMap, route_d: torch.Tensor, a: Actors) -> torch.Tensor:
    """(B, N, 4) s_in, s_out (the ego's rear-axle arc length on the route), u_in, u_out (the
    actor's line coordinate) of each line actor's zone with the ego's route lane; inf where
    there is none. The ego is in the zone while its box, at its pose on the route lane, overlaps
    the actor's lane band (half its width) grown by ZONE_MARGIN; the actor is in it while its
    body overlaps the stretch of its line that the ego's box covers there."""
    B, N = a.s.shape
    dev = a.s.device
    k = torch.arange(-SPAN, SPAN + STEP / 2, STEP, device=dev)
    s_k = rmap.inter_s[:, :1] + k  # (B, K)
    xy, yaw = frenet_to_world(rmap, s_k, route_d[:, None].expand_as(s_k))  # rear axle on the lane
    box_x = xy[..., 0] + EGO_BOX_CENTER_X * torch.cos(yaw)
    box_y = xy[..., 1] + EGO_BOX_CENTER_X * torch.sin(yaw)
    path = (a.line_x, a.line_y, a.line_yaw, a.turn_s0, a.turn_kappa)
    u, e, head = path_frame(box_x[:, None], box_y[:, None], *(p[..., None] for p in path))
    # u, e (B, N, K): the ego box centre in the frame of the actor's path; head its heading there
    rel = yaw[:, None, :] - head
    rc, rs = torch.cos(rel).abs(), torch.sin(rel).abs()
    across = rs * EGO_LENGTH / 2 + rc * EGO_WIDTH / 2  # the box's half extent across the line
    along = rc * EGO_LENGTH / 2 + rs * EGO_WIDTH / 2  # and along it
    near = (e - a.d[..., None]).abs() < a.size[..., None, 1] / 2 + across + ZONE_MARGIN
    near = near & a.on_line[..., None] & a.valid[..., None] & rmap.inter_valid[:, :1, None]
    # a line the route crosses (somewhere at a steep angle): the whole stretch where the ego's
    # box nears its lane is the zone, the shallow approach to the crossing included; a lane
    # the route only runs beside, or merges into, has none
    crossing = (near & (rs > MIN_CROSSING_SIN)).any(-1, keepdim=True)
    inside = near & crossing
    inf = torch.full_like(u, float("inf"))
    s_b = s_k[:, None, :].expand_as(u)
    s_in = torch.where(inside, s_b, inf).amin(-1) - STEP
    s_out = torch.where(inside, s_b, -inf).amax(-1) + STEP
    u_in = torch.where(inside, u - along, inf).amin(-1) - ZONE_MARGIN
    u_out = torch.where(inside, u + along, -inf).amax(-1) + ZONE_MARGIN
    has = inside.any(-1)
    zone = torch.stack([s_in, s_out, u_in, u_out], -1)
    return torch.where(has[..., None], zone, torch.full_like(zone, float("inf")))


def zone_timing(a: Actors, zone: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """For each actor and its zone (B, N, 4): (t_in, t_out, cleared) (B, N): seconds until its
    front reaches the zone and until its rear leaves it at its current speed (0 if already in;
    large if stopped), and whether it is past the zone."""
    half = a.size[..., 0] / 2
    v = a.speed.clamp(min=0.1)
    t_in = ((zone[..., 2] - (a.s + half)).clamp(min=0.0)) / v
    t_out = (zone[..., 3] - (a.s - half)).clamp(min=0.0) / v
    cleared = (a.s - half) > zone[..., 3]
    return t_in, t_out, cleared


def gap_violation(world, s_before: torch.Tensor, s_after: torch.Tensor) -> torch.Tensor:
    """(B,) the ego entered a conflict zone this step (rear-axle arc length before / after,
    (B,)) while its actor, not yet past the zone, would reach it in under SAFE_GAP seconds (or
    was in it)."""
    zone = world.conflict
    if not world.has_lines:
        return torch.zeros_like(s_after, dtype=torch.bool)
    entered = (s_before[:, None] < zone[..., 0]) & (s_after[:, None] >= zone[..., 0])
    t_in, _, cleared = zone_timing(world.actors, zone)
    threat = world.actors.valid & world.actors.on_line & ~cleared & (t_in < SAFE_GAP)
    return (entered & threat).any(-1)
