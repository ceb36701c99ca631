"""`WorldModel` = tokenizer + dynamics, their training losses, and the checkpoint format.

Losses (named parts, weights in WorldModelConfig):
    tokenizer_loss  reconstruction of every frame of a window: rgb, depth, semantics
    dynamics_loss   a K-step open-loop unroll: from K context latents (tokenizer frozen, Gaussian
                    noise of `context_noise` added), predict the next latents, feed the prediction
                    back as the newest context frame, `unroll` times. Each step adds the latent MSE,
                    the ego-motion and event losses, and the agents' box losses. Actions, odometry,
                    speed and boxes that the model reads at unrolled steps are the recorded ones
                    (teacher forcing); only the latents are the model's own.

Checkpoint directory (written by worldmodel.train, read by `load_worldmodel`):
    model.safetensors   tokenizer.* and dynamics.* weights (no pickle)
    config.json         {"format": 1, "config": WorldModelConfig.to_dict(), "extra": {...}}
"""

from __future__ import annotations

import json
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from e2edrive.worldmodel.config import WorldModelConfig
from e2edrive.worldmodel.data import Window
from e2edrive.worldmodel.dynamics import Dynamics, DynamicsOutput, match_next_boxes
from e2edrive.worldmodel.residual import RgbAnchor, residual_rgb
from e2edrive.worldmodel.tokenizer import Tokenizer, rgb_uint8

FORMAT = 1
WEIGHTS, CONFIG = "model.safetensors", "config.json"


class WorldModel(nn.Module):
    def __init__(self, cfg: WorldModelConfig):
        super().__init__()
        self.cfg = cfg
        self.tokenizer = Tokenizer(cfg)
        self.dynamics = Dynamics(cfg)

    def encode(self, images: torch.Tensor) -> torch.Tensor:
        """(B, T, N, 3, H, W) uint8 -> (B, T, N, C, h, w)."""
        B, T, N = images.shape[:3]
        z = self.tokenizer.encode(images.flatten(0, 2))  # (B*T*N, C, h, w)
        return z.view(B, T, N, *z.shape[1:])

    def decode_rgb(self, latent: torch.Tensor, anchor: RgbAnchor | None = None) -> torch.Tensor:
        """(B, N, C, h, w) -> (B, N, 3, H, W) uint8: decoded in full, or residually against the
        anchor (worldmodel.residual: the last real frame plus the decoded change since it)."""
        return self.rgb_of(self.decode_rgb_float(latent), anchor)

    @staticmethod
    def rgb_of(rgb: torch.Tensor, anchor: RgbAnchor | None = None) -> torch.Tensor:
        """The uint8 frames of decoded RGB (B, N, 3, H, W) float in [0, 1], in full or residually:
        one decode serves both (policy_eyes)."""
        return rgb_uint8(rgb) if anchor is None else residual_rgb(rgb, anchor)

    def rgb_anchor(self, images: torch.Tensor, latent: torch.Tensor) -> RgbAnchor:
        """The anchor of residual decoding: the last real frame images (B, N, 3, H, W) uint8 and
        its latent (B, N, C, h, w)."""
        return RgbAnchor(images, self.decode_rgb_float(latent))

    def decode_rgb_float(self, latent: torch.Tensor) -> torch.Tensor:
        """(B, N, C, h, w) -> (B, N, 3, H, W) float in [0, 1], the decoder's RGB."""
        B, N = latent.shape[:2]
        rgb = self.tokenizer.decode(latent.flatten(0, 1), rgb_only=True).rgb  # (B*N, 3, H, W)
        return rgb.view(B, N, *rgb.shape[1:])

    # --- losses ----------------------------------------------------------------------------------
    def tokenizer_loss(self, w: Window) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        images = w.images.flatten(0, 2)  # (B*T*N, 3, H, W)
        _, decoded = self.tokenizer(images)
        return self.tokenizer.loss(decoded, images, w.depth.flatten(0, 2), w.semantics.flatten(0, 2))

    def predict_from(self, context: torch.Tensor, w: Window, t: int):
        """The dynamics' prediction of frame t + 1 from `context` latents (B, K, N, C, h, w), given what
        the recorded window holds at frame t (the action, motion and agent boxes)."""
        return self.dynamics(
            context,
            w.action[:, t],
            w.odom[:, t],
            w.speed[:, t],
            w.boxes[:, t],
            w.box_class[:, t],
            w.box_valid[:, t],
        )

    def dynamics_loss(
        self, w: Window, generator: torch.Generator | None = None
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        cfg = self.cfg
        K, U, A = cfg.context, cfg.unroll, cfg.max_agents
        if w.length < K + U:
            raise ValueError(f"a window of {w.length} frames is shorter than context + unroll = {K + U}")
        with torch.no_grad():  # the tokenizer is trained in its own phase, frozen here
            z = self.encode(w.images)  # (B, T, N, C, h, w)
        noise = torch.randn(z[:, :K].shape, generator=generator, device=z.device) if generator else None
        if noise is None:
            noise = torch.randn_like(z[:, :K])
        context = z[:, :K] + cfg.context_noise * noise
        parts = {k: z.new_zeros(()) for k in ("latent", "ego", "events", "boxes")}
        for u in range(U):
            t = K - 1 + u  # the current frame; the model predicts frame t + 1
            out = self.predict_from(context, w, t)
            parts["latent"] = parts["latent"] + F.mse_loss(out.latent, z[:, t + 1])
            ego_target = torch.cat([w.odom[:, t + 1], w.speed[:, t + 1, None]], -1)  # (B, 4)
            parts["ego"] = parts["ego"] + F.smooth_l1_loss(out.ego_motion, ego_target, beta=0.1)
            parts["events"] = parts["events"] + F.binary_cross_entropy_with_logits(
                out.event_logits, w.events[:, t]
            )
            parts["boxes"] = parts["boxes"] + _box_loss(out, w, t, A)
            context = torch.cat([context[:, 1:], out.latent[:, None]], 1)  # own prediction fed back
        parts = {k: v / U for k, v in parts.items()}
        total = (
            cfg.w_latent * parts["latent"]
            + cfg.w_ego * parts["ego"]
            + cfg.w_events * parts["events"]
            + cfg.w_boxes * parts["boxes"]
        )
        return total, parts


def _box_loss(out: DynamicsOutput, w: Window, t: int, A: int) -> torch.Tensor:
    """Smooth L1 on the motion of boxes matched in frame t + 1, BCE on whether each valid box is
    matched (still labelled next step)."""
    valid = w.box_valid[:, t, :A]
    motion, matched = match_next_boxes(
        w.boxes[:, t, :A],
        w.box_class[:, t, :A],
        valid,
        w.boxes[:, t + 1],
        w.box_class[:, t + 1],
        w.box_valid[:, t + 1],
        w.odom[:, t + 1],
    )
    zero = out.box_motion.sum() * 0.0  # keeps the graph when no box is valid
    reg = F.smooth_l1_loss(out.box_motion, motion, beta=0.1, reduction="none").sum(-1)  # (B, A)
    reg = (reg * matched).sum() / matched.sum().clamp(min=1)
    keep = F.binary_cross_entropy_with_logits(out.box_keep_logit, matched.float(), reduction="none")
    keep = (keep * valid).sum() / valid.sum().clamp(min=1)
    return zero + reg + keep


# --- checkpoint ----------------------------------------------------------------------------------


def save_weights(model: WorldModel, directory: Path, extra: dict | None = None) -> None:
    """model.safetensors + config.json into `directory` (the caller makes the directory atomic)."""
    from safetensors.torch import save_file

    directory = Path(directory)
    state = {k: v.detach().contiguous().cpu() for k, v in model.state_dict().items()}
    save_file(state, str(directory / WEIGHTS))
    meta = {"format": FORMAT, "config": model.cfg.to_dict(), "extra": extra or {}}
    (directory / CONFIG).write_text(json.dumps(meta, indent=1))


def read_config(directory: str | Path) -> tuple[WorldModelConfig, dict]:
    path = Path(directory) / CONFIG
    if not path.is_file():
        raise FileNotFoundError(f"no world model at {directory} (no {CONFIG})")
    meta = json.loads(path.read_text())
    if meta.get("format") != FORMAT:
        raise ValueError(f"{path}: world model format {meta.get('format')}, this code reads {FORMAT}")
    return WorldModelConfig.from_dict(meta["config"]), meta.get("extra", {})


def load_worldmodel(directory: str | Path, map_location="cpu") -> WorldModel:
    """The world model of a checkpoint directory (WM or WM/checkpoint), weights checked strictly."""
    from safetensors.torch import load_file

    directory = Path(directory)
    if (directory / "checkpoint" / CONFIG).is_file():
        directory = directory / "checkpoint"
    cfg, _ = read_config(directory)
    model = WorldModel(cfg)
    model.load_state_dict(load_file(str(directory / WEIGHTS), device=str(map_location)), strict=True)
    return model.to(map_location).eval()
