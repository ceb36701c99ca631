"""The navigation goal a car's navigation system gives (core.types.NavGoal), and the traffic
lights' poses for the scene, from the map and the ego's Frenet position."""

from __future__ import annotations

import math

import torch

from e2edrive.core.constants import TurnCommand
from e2edrive.core.geometry import to_local_points
from e2edrive.core.types import NavGoal
from e2edrive.sim.map.roadmap import RoadMap, frenet_to_world
from e2edrive.sim.map.spec import SHOULDER

ROUTE_POINTS = 10
ROUTE_SPACING = 5.0  # m
MAX_DIST_TO_TURN = 200.0  # m
LAMP_HEIGHT = 4.5  # m above the road, lamp housing centre


def nav_goal(rmap: RoadMap, ego_pose: torch.Tensor, ego_s: torch.Tensor, route_d: torch.Tensor) -> NavGoal:
    """Route points every 5 m ahead on the route lane's centreline (ego frame), the distance to
    the next intersection (where the turn command applies; routes here go straight through) and
    the road's speed limit. ego_pose (B, 3) rear axle; ego_s, route_d (B,)."""
    B, dev = ego_pose.shape[0], ego_pose.device
    k = torch.arange(1, ROUTE_POINTS + 1, device=dev, dtype=torch.float32) * ROUTE_SPACING
    s = ego_s[:, None] + k  # (B, 10)
    xy, _ = frenet_to_world(rmap, s, route_d[:, None].expand_as(s))
    pts = to_local_points(ego_pose, xy)  # (B, 10, 2)
    ahead = rmap.inter_s - ego_s[:, None]  # (B, I)
    ahead = torch.where(rmap.inter_valid & (ahead > 0), ahead, torch.full_like(ahead, MAX_DIST_TO_TURN))
    dist = ahead.amin(1).clamp(max=MAX_DIST_TO_TURN)
    cmd = torch.full((B,), int(TurnCommand.STRAIGHT), dtype=torch.long, device=dev)
    return NavGoal(
        route_points=pts, dist_to_turn=dist, turn_command=cmd, speed_limit=rmap.speed_limit.clone()
    )


def light_poses(rmap: RoadMap) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Four lights per intersection, one per approach, at the right-hand corner before the box,
    facing the traffic they govern. -> pos (B, 4I, 3), yaw (B, 4I), approach (4I,) long where
    0 route, 1 oncoming, 2 and 3 crossing (lights 0, 1 show the route's state, 2, 3 the crossing's)."""
    B, I = rmap.inter_s.shape
    s_list, d_list, yaw_off = [], [], []
    for i in range(I):
        s_int, half = rmap.inter_s[:, i], rmap.inter_half[:, i]
        wr, wl = rmap.width_right, rmap.width_left
        s_list += [s_int - half - 1.0, s_int + half + 1.0, s_int + half + 1.0, s_int - half - 1.0]
        d_list += [-wr - SHOULDER, wl + SHOULDER, -wr - SHOULDER, wl + SHOULDER]
        yaw_off += [math.pi, 0.0, -math.pi / 2, math.pi / 2]
    s = torch.stack(s_list, 1)
    d = torch.stack(d_list, 1)
    xy, ref_yaw = frenet_to_world(rmap, s, d)
    z = torch.full_like(s, LAMP_HEIGHT)
    yaw = ref_yaw + torch.tensor(yaw_off, device=s.device)
    approach = torch.tensor([0, 1, 2, 3] * I, device=s.device)
    return torch.cat([xy, z[..., None]], -1), yaw, approach
