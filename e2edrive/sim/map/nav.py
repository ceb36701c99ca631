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
    """Route points every 5 m ahead on the route lane's centreline (ego frame; through a turn
    they follow its arc), the turn command at the next intersection and the distance to it, and
    the road's speed limit. ego_pose (B, 3) rear axle; ego_s, route_d (B,).

    The distance is to the junction centre when the route goes straight through, and to the start
    of the turn (0 while turning) when it turns; a turn's command holds until its arc is done."""
    dev = ego_pose.device
    k = torch.arange(1, ROUTE_POINTS + 1, device=dev, dtype=torch.float32) * ROUTE_SPACING
    s = ego_s[:, None] + k  # (B, 10)
    xy, _ = frenet_to_world(rmap, s, route_d[:, None].expand_as(s))
    pts = to_local_points(ego_pose, xy)  # (B, 10, 2)
    turning = rmap.inter_turn != int(TurnCommand.STRAIGHT)  # (B, I)
    ahead = rmap.inter_s - ego_s[:, None]  # (B, I)
    to_turn = (rmap.inter_s - rmap.inter_entry - ego_s[:, None]).clamp(min=0.0)
    pending = rmap.inter_valid & torch.where(turning, ahead + rmap.inter_exit > 0, ahead > 0)
    dist_i = torch.where(turning, to_turn, ahead)
    dist_i = torch.where(pending, dist_i, torch.full_like(dist_i, MAX_DIST_TO_TURN))
    dist, j = dist_i.min(1)
    dist = dist.clamp(max=MAX_DIST_TO_TURN)
    next_turn = torch.gather(rmap.inter_turn, 1, j[:, None]).squeeze(1)
    next_pending = torch.gather(pending, 1, j[:, None]).squeeze(1)
    cmd = torch.where(next_pending, next_turn, torch.full_like(next_turn, int(TurnCommand.STRAIGHT)))
    return NavGoal(
        route_points=pts, dist_to_turn=dist, turn_command=cmd, speed_limit=rmap.speed_limit.clone()
    )


def light_poses(rmap: RoadMap) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Four lights per intersection, one per approach, at the right-hand corner before the box,
    facing the traffic they govern. -> pos (B, 4I, 3), yaw (B, 4I), approach (4I,) long where
    0 route, 1 oncoming (the road ahead), 2 and 3 crossing (lights 0, 1 show the route's state,
    2, 3 the crossing's), valid (B, 4I) (a T junction's missing arm has none)."""
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
    valid = rmap.inter_valid.repeat_interleave(4, 1)
    if bool((rmap.inter_valid & ~rmap.inter_band).any()):
        gxy, gyaw, gvalid = _junction_light_poses(rmap)
        band = rmap.inter_band.repeat_interleave(4, 1)
        xy = torch.where(band[..., None], xy, gxy)
        yaw = torch.where(band, yaw, gyaw)
        valid = valid & (band | gvalid)
    return torch.cat([xy, z[..., None]], -1), yaw, approach, valid


def _junction_light_poses(rmap: RoadMap) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Light poses of turning and T junctions, in the world frame of each arm: an arm heading
    phi (away from the centre) has its light where its incoming lane meets the junction, on
    that lane's right-hand kerb, facing out along phi. The route's approach and exit lights stand
    at the turn's entry and exit (its arc reaches further out than the box)."""
    xs, ys, yaws, oks = [], [], [], []
    # approach columns: 0 the route's approach, then the arms ahead, left and right of it
    rel = torch.tensor([math.pi, 0.0, math.pi / 2, -math.pi / 2], device=rmap.device)
    col_of = torch.tensor([1, 2, 3], device=rmap.device)  # TurnCommand STRAIGHT, LEFT, RIGHT -> column
    for i in range(rmap.inter_s.shape[1]):
        cx, cy, th = rmap.inter_center[:, i].unbind(-1)
        half, turn, missing = rmap.inter_half[:, i], rmap.inter_turn[:, i], rmap.inter_missing[:, i]
        phi = th[:, None] + rel  # (B, 4)
        exit_hot = torch.nn.functional.one_hot(col_of[turn], 4).bool() & (turn != 0)[:, None]
        exit_hot[:, 0] = True  # the approach's light stands at the entry too
        along = torch.where(exit_hot, rmap.inter_entry[:, i : i + 1], half[:, None]) + 1.0
        side = half[:, None] + SHOULDER
        xs.append(cx[:, None] + along * torch.cos(phi) - side * torch.sin(phi))
        ys.append(cy[:, None] + along * torch.sin(phi) + side * torch.cos(phi))
        yaws.append(phi)
        gone = torch.nn.functional.one_hot(col_of[missing.clamp(min=0)], 4).bool() & (missing >= 0)[:, None]
        oks.append(~gone)
    return torch.stack([torch.cat(xs, 1), torch.cat(ys, 1)], -1), torch.cat(yaws, 1), torch.cat(oks, 1)
