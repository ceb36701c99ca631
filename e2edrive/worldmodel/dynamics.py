"""The dynamics model: next-step latents of all cameras, the agents' next boxes, the ego's next
motion and events, from K past latents and the ego's action.

Tokens (one small transformer attends over all of them at once, so cameras stay consistent
with each other and with the agents):
    camera tokens  N cameras x (h/p x w/p) patches of p x p latent cells; a token reads its patch
                   in all K context frames, plus a camera embedding (an MLP over the camera's
                   extrinsics and field of view, from the rig) and a patch-position embedding
    agent tokens   the current frame's nearest `max_agents` boxes (ego frame), class one-hot;
                   invalid boxes are masked out of attention
    ego token      action (steer, accel), last odometry (dx, dy, dyaw) and speed; its embedding is
                   also added to every camera token (the action conditions every patch directly)

Heads (zero-initialised, so an untrained model repeats the last frame, keeps agents still, and
moves the ego by the kinematic prior below; training learns corrections):
    latent  residual over the last context latent, per patch
    boxes   each agent's motion (dx, dy, dyaw) in the current ego frame and a logit that it is
            still among the labelled boxes next step (training matches boxes across frames by
            nearest centre of the same class: `match_next_boxes`, an approximation)
    ego     residual over a kinematic prior: speed' = speed + accel DT, dx = speed DT + accel DT^2/2,
            dyaw = speed tan(steer) / wheelbase DT; outputs (dx, dy, dyaw, speed') next step
    events  logits of (collision, off-road) during the step
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from e2edrive.core.constants import DT, EGO_WHEELBASE, MAX_STEER, NUM_OBJECT_CLASSES
from e2edrive.worldmodel.config import WorldModelConfig

EVENTS = ("collision", "off_road")  # order of DynamicsOutput.event_logits


@dataclass
class DynamicsOutput:
    latent: torch.Tensor  # (B, N, C, h, w) next latents
    box_motion: torch.Tensor  # (B, A, 3) (dx, dy, dyaw) of each agent, current ego frame
    box_keep_logit: torch.Tensor  # (B, A) agent still labelled next step
    ego_motion: torch.Tensor  # (B, 4) (dx, dy, dyaw, speed) of the next step
    event_logits: torch.Tensor  # (B, 2) EVENTS


def camera_features(K: torch.Tensor, T_ego_from_cam: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """(N, 14): rotation (9) and mount position in metres (3) of each camera, its horizontal and
    vertical field of view (rad). What makes a camera's patches mean something in the ego frame."""
    R = T_ego_from_cam[:, :3, :3].flatten(1)
    t = T_ego_from_cam[:, :3, 3]
    hfov = 2 * torch.atan(width / 2 / K[:, 0, 0])
    vfov = 2 * torch.atan(height / 2 / K[:, 1, 1])
    return torch.cat([R, t, hfov[:, None], vfov[:, None]], -1).float()


def box_features(boxes: torch.Tensor, box_class: torch.Tensor) -> torch.Tensor:
    """(B, A, 9) [x, y, z, l, w, h, yaw, vx, vy] + class -> (B, A, 10 + classes), roughly unit scale."""
    x, y, z, ln, wd, ht, yaw, vx, vy = boxes.unbind(-1)
    geo = torch.stack(
        [x / 50, y / 50, z, ln / 5, wd / 5, ht / 5, torch.sin(yaw), torch.cos(yaw), vx / 10, vy / 10], -1
    )
    return torch.cat([geo, F.one_hot(box_class.clamp(0, NUM_OBJECT_CLASSES - 1), NUM_OBJECT_CLASSES)], -1)


def kinematic_prior(action: torch.Tensor, speed: torch.Tensor) -> torch.Tensor:
    """(B, 4) (dx, dy, dyaw, speed') of a kinematic bicycle over DT from (steer, accel) and speed."""
    steer, accel = action[..., 0], action[..., 1]
    v1 = (speed + accel * DT).clamp(min=0.0)  # the car does not reverse
    v_mean = 0.5 * (speed + v1)
    dyaw = v_mean * torch.tan(steer) / EGO_WHEELBASE * DT
    dx = v_mean * DT * torch.cos(dyaw / 2)
    dy = v_mean * DT * torch.sin(dyaw / 2)
    return torch.stack([dx, dy, dyaw, v1], -1)


class Block(nn.Module):
    def __init__(self, cfg: WorldModelConfig):
        super().__init__()
        self.ln_1 = nn.LayerNorm(cfg.d_model)
        self.attn = nn.MultiheadAttention(cfg.d_model, cfg.n_heads, batch_first=True)
        self.ln_2 = nn.LayerNorm(cfg.d_model)
        self.mlp = nn.Sequential(
            nn.Linear(cfg.d_model, 4 * cfg.d_model), nn.GELU(), nn.Linear(4 * cfg.d_model, cfg.d_model)
        )

    def forward(self, x: torch.Tensor, pad: torch.Tensor) -> torch.Tensor:
        h = self.ln_1(x)
        x = x + self.attn(h, h, h, key_padding_mask=pad, need_weights=False)[0]
        x = x + self.mlp(self.ln_2(x))
        return x


def _mlp(c_in: int, d: int) -> nn.Sequential:
    return nn.Sequential(nn.Linear(c_in, d), nn.GELU(), nn.Linear(d, d))


class Dynamics(nn.Module):
    def __init__(self, cfg: WorldModelConfig):
        super().__init__()
        self.cfg = cfg
        d, C, p, K = cfg.d_model, cfg.latent_channels, cfg.patch, cfg.context
        rig = cfg.camera_rig
        self.register_buffer("cam_feats", camera_features(rig.K, rig.T_ego_from_cam, rig.height, rig.width))
        self.camera_embed = _mlp(14, d)
        ph, pw = cfg.patch_grid
        self.patch_pos = nn.Parameter(0.02 * torch.randn(ph * pw, d))
        self.patch_in = nn.Linear(K * C * p * p, d)
        self.agent_in = _mlp(10 + NUM_OBJECT_CLASSES, d)
        self.ego_in = _mlp(6, d)
        self.type_embed = nn.Parameter(0.02 * torch.randn(3, d))  # camera, agent, ego
        self.blocks = nn.ModuleList(Block(cfg) for _ in range(cfg.n_layers))
        self.ln_f = nn.LayerNorm(d)
        self.latent_head = nn.Linear(d, C * p * p)
        self.box_head = nn.Linear(d, 4)
        self.ego_head = nn.Linear(d, 4)
        self.event_head = nn.Linear(d, len(EVENTS))
        for head in (self.latent_head, self.box_head, self.ego_head, self.event_head):
            nn.init.zeros_(head.weight)
            nn.init.zeros_(head.bias)
        nn.init.constant_(self.box_head.bias[3], 3.0)  # agents stay labelled (p = 0.95)
        nn.init.constant_(self.event_head.bias, -4.0)  # events are rare (p = 0.018)

    def patchify(self, z: torch.Tensor) -> torch.Tensor:
        """(B, K, N, C, h, w) -> (B, N, P, K*C*p*p), P = (h/p)(w/p) patches per camera."""
        B, K, N, C, h, w = z.shape
        p = self.cfg.patch
        z = z.view(B, K, N, C, h // p, p, w // p, p)
        z = z.permute(0, 2, 4, 6, 1, 3, 5, 7)  # (B, N, h/p, w/p, K, C, p, p)
        return z.reshape(B, N, (h // p) * (w // p), K * C * p * p)

    def unpatchify(self, x: torch.Tensor) -> torch.Tensor:
        """(B, N, P, C*p*p) -> (B, N, C, h, w)."""
        B, N, _, _ = x.shape
        C, p = self.cfg.latent_channels, self.cfg.patch
        ph, pw = self.cfg.patch_grid
        x = x.view(B, N, ph, pw, C, p, p).permute(0, 1, 4, 2, 5, 3, 6)  # (B, N, C, ph, p, pw, p)
        return x.reshape(B, N, C, ph * p, pw * p)

    def forward(
        self,
        context: torch.Tensor,
        action: torch.Tensor,
        odom: torch.Tensor,
        speed: torch.Tensor,
        boxes: torch.Tensor,
        box_class: torch.Tensor,
        box_valid: torch.Tensor,
    ) -> DynamicsOutput:
        """context (B, K, N, C, h, w) latents oldest first; action (B, 2) [steer, accel] taken now;
        odom (B, 3) the current pose in the previous ego frame; speed (B,) m/s; boxes (B, A', 9),
        box_class (B, A'), box_valid (B, A') of the current frame, ego frame (A' >= max_agents:
        the nearest max_agents are read)."""
        cfg = self.cfg
        A = cfg.max_agents
        boxes, box_class, box_valid = boxes[:, :A], box_class[:, :A], box_valid[:, :A]
        B, K, N = context.shape[:3]
        if K != cfg.context or N != cfg.num_cameras:
            raise ValueError(
                f"context has {K} frames of {N} cameras, the model reads {cfg.context} of {cfg.num_cameras}"
            )
        steer, accel = action[:, 0] / MAX_STEER, action[:, 1] / 4.0
        ego_feats = torch.stack([steer, accel, odom[:, 0] / 3, odom[:, 1], odom[:, 2] * 10, speed / 15], -1)
        ego = self.ego_in(ego_feats) + self.type_embed[2]  # (B, d)

        cams = self.patch_in(self.patchify(context))  # (B, N, P, d)
        cams = cams + self.camera_embed(self.cam_feats)[None, :, None] + self.patch_pos + ego[:, None, None]
        cams = cams + self.type_embed[0]
        P = cams.shape[2]
        agents = self.agent_in(box_features(boxes, box_class)) + self.type_embed[1]  # (B, A, d)

        x = torch.cat([cams.flatten(1, 2), agents, ego[:, None]], 1)  # (B, N*P + A + 1, d)
        pad = torch.cat(
            [
                torch.zeros(B, N * P, dtype=torch.bool, device=x.device),
                ~box_valid,
                torch.zeros(B, 1, dtype=torch.bool, device=x.device),
            ],
            1,
        )  # (B, tokens) True = ignored
        for block in self.blocks:
            x = block(x, pad)
        x = self.ln_f(x)

        cam_out, agent_out, ego_out = x[:, : N * P], x[:, N * P : N * P + A], x[:, -1]
        delta = self.unpatchify(self.latent_head(cam_out).view(B, N, P, -1))  # (B, N, C, h, w)
        box = self.box_head(agent_out)  # (B, A, 4)
        ego_motion = kinematic_prior(action, speed) + self.ego_head(ego_out)
        ego_motion = torch.cat([ego_motion[:, :3], ego_motion[:, 3:].clamp(min=0.0)], -1)
        return DynamicsOutput(
            latent=context[:, -1] + delta,
            box_motion=box[..., :3],
            box_keep_logit=box[..., 3],
            ego_motion=ego_motion,
            event_logits=self.event_head(ego_out),
        )


# --- boxes between frames --------------------------------------------------------------------


def to_previous_frame(boxes: torch.Tensor, odom: torch.Tensor) -> torch.Tensor:
    """Boxes (B, A, 9) of frame t+1 expressed in ego frame t; odom (B, 3) = pose t+1 in frame t."""
    c, s = torch.cos(odom[:, 2])[:, None], torch.sin(odom[:, 2])[:, None]
    x, y, yaw = boxes[..., 0], boxes[..., 1], boxes[..., 6]
    vx, vy = boxes[..., 7], boxes[..., 8]
    out = boxes.clone()
    out[..., 0] = c * x - s * y + odom[:, :1]
    out[..., 1] = s * x + c * y + odom[:, 1:2]
    out[..., 6] = yaw + odom[:, 2:3]
    out[..., 7], out[..., 8] = c * vx - s * vy, s * vx + c * vy
    return out


def to_next_frame(boxes: torch.Tensor, odom: torch.Tensor) -> torch.Tensor:
    """Inverse of to_previous_frame: boxes of frame t into frame t+1."""
    c, s = torch.cos(odom[:, 2])[:, None], torch.sin(odom[:, 2])[:, None]
    x, y = boxes[..., 0] - odom[:, :1], boxes[..., 1] - odom[:, 1:2]
    vx, vy = boxes[..., 7], boxes[..., 8]
    out = boxes.clone()
    out[..., 0], out[..., 1] = c * x + s * y, -s * x + c * y
    out[..., 6] = boxes[..., 6] - odom[:, 2:3]
    out[..., 7], out[..., 8] = c * vx + s * vy, -s * vx + c * vy
    return out


def match_next_boxes(
    boxes: torch.Tensor,
    box_class: torch.Tensor,
    box_valid: torch.Tensor,
    next_boxes: torch.Tensor,
    next_class: torch.Tensor,
    next_valid: torch.Tensor,
    odom: torch.Tensor,
    gate: float = 4.0,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Which box of frame t+1 each box of frame t became, by nearest centre of the same class
    within `gate` m (after undoing the ego's motion `odom`). Labels sort boxes by distance, not by
    identity, so this greedy match is an approximation (two close agents of a class may swap).

    -> motion (B, A, 3) (dx, dy, dyaw) in frame t, matched (B, A) bool."""
    nxt = to_previous_frame(next_boxes, odom)
    d = torch.cdist(boxes[..., :2], nxt[..., :2])  # (B, A, A')
    ok = box_valid[..., None] & next_valid[:, None] & (box_class[..., None] == next_class[:, None])
    d = torch.where(ok, d, torch.full_like(d, math.inf))
    dist, j = d.min(-1)  # (B, A)
    matched = torch.isfinite(dist) & (dist <= gate)
    target = torch.gather(nxt, 1, j[..., None].expand(-1, -1, nxt.shape[-1]))
    dyaw = torch.atan2(torch.sin(target[..., 6] - boxes[..., 6]), torch.cos(target[..., 6] - boxes[..., 6]))
    motion = torch.stack([target[..., 0] - boxes[..., 0], target[..., 1] - boxes[..., 1], dyaw], -1)
    return motion * matched[..., None], matched


def advance_boxes(boxes: torch.Tensor, motion: torch.Tensor, ego_odom: torch.Tensor) -> torch.Tensor:
    """Move boxes (B, A, 9) of frame t by motion (B, A, 3) (frame t), set their velocity to
    motion / DT, and express them in the next ego frame (ego_odom (B, 3))."""
    moved = boxes.clone()
    moved[..., 0] = boxes[..., 0] + motion[..., 0]
    moved[..., 1] = boxes[..., 1] + motion[..., 1]
    moved[..., 6] = boxes[..., 6] + motion[..., 2]
    moved[..., 7], moved[..., 8] = motion[..., 0] / DT, motion[..., 1] / DT
    return to_next_frame(moved, ego_odom)
