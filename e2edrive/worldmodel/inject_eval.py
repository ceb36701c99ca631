"""Does an injected cut-in land where it was commanded, and leave the rest of the dream alone?

For each (scenario, seed), two agent_conditioned dreams start from the same live context and take
the same actions (the wheel straight, speed held: steer 0, accel 0) for `steps` steps:
    plain     agents from the World stepped beside it
    injected  the same, with a cut-in car (inject.cut_in_trajectory) written into a free agent slot
Scores:
    box_iou    each step, the model's predicted box of the injected car for the next step (its box
               head's motion applied to the commanded box, in the dream's predicted next ego frame)
               against the commanded box of that step: bird's-eye IoU of the two rotated
               rectangles (`bev_iou`, on a sampling grid); mean and min over the steps and episodes;
               `box_iou_hold` beside it is the IoU of the box left where it was (no motion), the
               baseline a box head must beat
    away_psnr  PSNR against the simulator's frames (the World beside, rendered) of the pixels away
               from the injected car (outside its projected box in every camera, dilated by MARGIN_PX),
               injected dream minus plain dream, dB (the issue asks |change| <= 1 dB); the PSNR of
               the injected dream against the plain one on those pixels stands beside it
"""

from __future__ import annotations

import torch

from e2edrive.core.constants import MAX_BOXES
from e2edrive.core.geometry import se2_compose
from e2edrive.core.rig import CameraRig, project_points
from e2edrive.core.types import Action
from e2edrive.worldmodel.context import ego_to_world, world_to_ego
from e2edrive.worldmodel.dynamics import advance_boxes
from e2edrive.worldmodel.evaluate import masked_psnr
from e2edrive.worldmodel.inject import InjectedAgents, cut_in_trajectory

MARGIN_PX = 4  # the projected box's pixel rectangle is dilated by this much (the decoder blurs edges)
SLOT = MAX_BOXES - 1  # the injected car's agent slot: the last, free unless every slot is taken


def bev_iou(a: torch.Tensor, b: torch.Tensor, grid: int = 64) -> torch.Tensor:
    """Bird's-eye IoU of rotated boxes a, b (..., 9) [x, y, z, l, w, h, yaw, ...], estimated on a
    grid x grid sampling of the rectangle that holds both (error ~ 1 / grid)."""
    ra = 0.5 * torch.linalg.vector_norm(a[..., 3:5], dim=-1)  # circumradius
    rb = 0.5 * torch.linalg.vector_norm(b[..., 3:5], dim=-1)
    lo = torch.minimum(a[..., :2] - ra[..., None], b[..., :2] - rb[..., None])  # (..., 2)
    hi = torch.maximum(a[..., :2] + ra[..., None], b[..., :2] + rb[..., None])
    u = (torch.arange(grid, dtype=a.dtype, device=a.device) + 0.5) / grid
    gx = lo[..., 0, None, None] + (hi - lo)[..., 0, None, None] * u[:, None]  # (..., grid, 1)
    gy = lo[..., 1, None, None] + (hi - lo)[..., 1, None, None] * u[None, :]  # (..., 1, grid)

    def inside(box: torch.Tensor) -> torch.Tensor:
        dx, dy = gx - box[..., 0, None, None], gy - box[..., 1, None, None]
        c, s = torch.cos(box[..., 6])[..., None, None], torch.sin(box[..., 6])[..., None, None]
        along, across = c * dx + s * dy, -s * dx + c * dy
        return (along.abs() <= box[..., 3, None, None] / 2) & (across.abs() <= box[..., 4, None, None] / 2)

    ia, ib = inside(a), inside(b)
    inter = (ia & ib).sum((-1, -2)).float()
    union = (ia | ib).sum((-1, -2)).float()
    return inter / union.clamp(min=1)


def box_pixel_mask(rig: CameraRig, box: torch.Tensor, margin: int = MARGIN_PX) -> torch.Tensor:
    """(N, H, W) bool: the pixels of each camera inside the projected rectangle of the ego-frame
    box (9,); a box partly behind a camera masks that whole camera (its projection is unbounded)."""
    x, y, z, ln, wd, ht, yaw = box[:7].tolist()
    sx = torch.tensor([1, 1, 1, 1, -1, -1, -1, -1], dtype=torch.float32) * ln / 2
    sy = torch.tensor([1, 1, -1, -1, 1, 1, -1, -1], dtype=torch.float32) * wd / 2
    sz = torch.tensor([1, -1, 1, -1, 1, -1, 1, -1], dtype=torch.float32) * ht / 2
    c, s = torch.cos(torch.tensor(yaw)), torch.sin(torch.tensor(yaw))
    corners = torch.stack([x + c * sx - s * sy, y + s * sx + c * sy, z + sz], -1)  # (8, 3)
    uv, depth = project_points(rig, corners)  # (N, 8, 2), (N, 8)
    H, W = rig.height, rig.width
    mask = torch.zeros(rig.num_cameras, H, W, dtype=torch.bool)
    for n in range(rig.num_cameras):
        front = depth[n] > 0.1
        if not bool(front.any()):
            continue
        if not bool(front.all()):
            mask[n] = True
            continue
        u0, v0 = (uv[n].min(0).values - margin).floor().long().tolist()
        u1, v1 = (uv[n].max(0).values + margin).ceil().long().tolist()
        mask[n, max(0, v0) : max(0, min(H, v1 + 1)), max(0, u0) : max(0, min(W, u1 + 1))] = True
    return mask


@torch.no_grad()
def evaluate_injection(model, pairs: list[tuple[str, int]], steps: int = 20, device="cpu") -> dict:
    """Per episode and overall: box IoU and away-pixel PSNR of the module docstring."""
    from e2edrive.sim.render import Renderer
    from e2edrive.worldmodel.context import WorldStart
    from e2edrive.worldmodel.dream_env import DreamEnv

    rig, K, A = model.cfg.camera_rig, model.cfg.context, model.cfg.max_agents
    trajectories: list[torch.Tensor] = []

    def wrap(ctx, source):
        for b in range(ctx.speed.shape[0]):
            traj = cut_in_trajectory(ctx.ego_pose[b].cpu(), float(ctx.speed[b]), steps + 1)
            trajectories.append(traj)
            source = InjectedAgents(source, traj, env=b)
            source.slot = SLOT
        return source

    plain_start = WorldStart(rig, K, device, agents=True)
    plain = DreamEnv(model, plain_start, pairs, "agent_conditioned")
    injected = DreamEnv(model, WorldStart(rig, K, device, agents=True, wrap=wrap), pairs, "agent_conditioned")
    real, renderer = plain_start.worlds[-1], Renderer(rig, device)
    B = len(pairs)
    zero = torch.zeros(B, device=device)
    action = Action(zero, zero)
    ious = [[] for _ in range(B)]
    hold = []
    delta = [[] for _ in range(B)]
    vs_plain = [[] for _ in range(B)]
    injected.step(action)  # the injected car enters the agent tokens with the first step's boxes
    plain.step(action)
    for t in range(1, steps + 1):
        env = injected
        out = model.dynamics(
            env.latents,
            action.as_tensor().to(device).float(),
            env.odom,
            env.speed,
            env.boxes,
            env.box_class,
            env.box_valid,
        )
        commanded_now = torch.stack([tr[t - 1] for tr in trajectories]).to(device)  # (B, 9) world
        here = world_to_ego(commanded_now[:, None], env.ego_pose)[:, 0]  # (B, 9) current ego frame
        d = torch.linalg.vector_norm(env.boxes[:, :A, :2] - here[:, None, :2], dim=-1)
        d = torch.where(env.box_valid[:, :A], d, torch.full_like(d, float("inf")))
        slot = d.argmin(-1)  # (B,) the injected car's token (it sits exactly at the commanded box)
        odom = out.ego_motion[:, :3]
        moved = advance_boxes(env.boxes[:, :A], out.box_motion, odom)  # next ego frame
        pose_next = se2_compose(env.ego_pose, odom)
        predicted = ego_to_world(moved[torch.arange(B, device=device), slot][:, None], pose_next)[:, 0]
        commanded = torch.stack([tr[t] for tr in trajectories]).to(device)
        iou = bev_iou(predicted, commanded)
        hold += bev_iou(commanded_now, commanded).tolist()
        injected.step(action)
        plain.step(action)
        truth = renderer.render(real.scene()).rgb  # (B, N, 3, H, W)
        img_i, img_p = injected.observation().images, plain.observation().images
        for b in range(B):
            ious[b].append(float(iou[b]))
            box_now = world_to_ego(commanded[b][None, None], injected.ego_pose[b : b + 1])[0, 0]
            away = ~box_pixel_mask(rig, box_now.cpu()).to(device)
            p_i = masked_psnr(img_i[b], truth[b], away)
            p_p = masked_psnr(img_p[b], truth[b], away)
            delta[b].append(float((p_i - p_p).nanmean()))
            vs_plain[b].append(float(masked_psnr(img_i[b], img_p[b], away).nanmean()))
    flat_iou = [x for row in ious for x in row]
    flat_delta = [x for row in delta for x in row if x == x]
    return {
        "steps": steps,
        "pairs": [[s, int(seed)] for s, seed in pairs],
        "box_iou": {"mean": sum(flat_iou) / len(flat_iou), "min": min(flat_iou)},
        "box_iou_hold": {"mean": sum(hold) / len(hold), "min": min(hold)},
        "away_psnr_change_db": {
            "mean": sum(flat_delta) / len(flat_delta) if flat_delta else None,
            "max_abs": max(abs(x) for x in flat_delta) if flat_delta else None,
        },
        "away_psnr_injected_vs_plain_db": sum(x for row in vs_plain for x in row) / max(1, len(flat_iou)),
        "episodes": [
            {"scenario": s, "seed": int(seed), "box_iou": ious[b], "away_psnr_change_db": delta[b]}
            for b, (s, seed) in enumerate(pairs)
        ],
    }
