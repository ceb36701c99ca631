"""The tokenizer: one conv autoencoder shared by every camera, images <-> latent maps.

    encode  (B*N, 3, H, W) uint8 -> (B*N, C, H/8, W/8) float in [-1, 1] (tanh: a bounded latent,
            so the dynamics' context noise has a fixed scale)
    decode  latent -> Decoded(rgb (B*N, 3, H, W) in [0, 1], log_depth (B*N, H, W) log metres,
            semantics (B*N, S, H, W) logits over core.constants.Semantic)

Depth is regressed as log-depth: the renderer's depth spans 0.5 m to MAX_DEPTH (150 m, the sky),
and an L1 on the log weighs a 10 % error the same near and far. The decoder's reconstruction of a
real frame is the ceiling of what any dream frame can reach: `worldmodel eval` reports it.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from e2edrive.worldmodel.config import WorldModelConfig

MIN_DEPTH = 0.1  # m, floor of the depth targets before the log (the renderer never gives less)
MAX_LOG_DEPTH = 5.5  # log(245 m): decoded depth is clamped below it (the renderer's far clamp is 150 m)


def _conv(c_in: int, c_out: int, stride: int = 1) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(c_in, c_out, 3, stride, 1), nn.GroupNorm(4, c_out), nn.GELU())


def rgb_uint8(rgb: torch.Tensor) -> torch.Tensor:
    """RGB in [0, 1] (any shape) -> uint8, rounded to the nearest level."""
    return (rgb * 255 + 0.5).clamp(0, 255).to(torch.uint8)


@dataclass
class Decoded:
    """What the decoder reconstructs, (B*N, ...) each."""

    rgb: torch.Tensor  # (B*N, 3, H, W) float in [0, 1]
    log_depth: torch.Tensor  # (B*N, H, W) log metres
    semantics: torch.Tensor  # (B*N, S, H, W) logits

    def rgb_uint8(self) -> torch.Tensor:
        return rgb_uint8(self.rgb)

    def depth(self) -> torch.Tensor:
        return self.log_depth.clamp(max=MAX_LOG_DEPTH).exp()


class Tokenizer(nn.Module):
    def __init__(self, cfg: WorldModelConfig):
        super().__init__()
        widths = cfg.encoder_widths
        enc, c = [], 3
        for w in widths:  # each stage halves the resolution
            enc.append(_conv(c, w, stride=2))
            c = w
        self.encoder = nn.Sequential(*enc, nn.Conv2d(c, cfg.latent_channels, 1))
        dec: list[nn.Module] = [nn.Conv2d(cfg.latent_channels, widths[-1], 1)]
        rev = list(reversed(widths))
        for w_in, w_out in zip(rev, [*rev[1:], widths[0]]):  # mirror of the encoder
            dec += [nn.Upsample(scale_factor=2, mode="nearest"), _conv(w_in, w_out)]
        self.decoder = nn.Sequential(*dec)
        self.rgb_head = nn.Conv2d(widths[0], 3, 3, 1, 1)
        self.depth_head = nn.Conv2d(widths[0], 1, 3, 1, 1)
        self.semantic_head = nn.Conv2d(widths[0], cfg.num_semantics, 1)
        self.cfg = cfg

    def encode(self, images: torch.Tensor) -> torch.Tensor:
        """(B*N, 3, H, W) uint8 -> (B*N, C, h, w) in [-1, 1]."""
        x = images.float() / 255.0 - 0.5
        return torch.tanh(self.encoder(x))

    def decode(self, latent: torch.Tensor, rgb_only: bool = False) -> Decoded:
        """(B*N, C, h, w) -> Decoded; rgb_only skips the depth and semantic heads (the dream's
        observation needs only the images)."""
        f = self.decoder(latent)  # (B*N, widths[0], H, W)
        rgb = torch.sigmoid(self.rgb_head(f))
        if rgb_only:
            empty = rgb.new_zeros(0)
            return Decoded(rgb, empty, empty)
        return Decoded(rgb, self.depth_head(f)[:, 0], self.semantic_head(f))

    def forward(self, images: torch.Tensor) -> tuple[torch.Tensor, Decoded]:
        latent = self.encode(images)
        return latent, self.decode(latent)

    def loss(
        self, decoded: Decoded, images: torch.Tensor, depth: torch.Tensor, semantics: torch.Tensor
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """Weighted sum and named parts. images (B*N, 3, H, W) uint8, depth (B*N, H, W) metres,
        semantics (B*N, H, W) uint8 class ids."""
        cfg = self.cfg
        rgb = F.l1_loss(decoded.rgb, images.float() / 255.0)
        dep = F.l1_loss(decoded.log_depth, depth.clamp(min=MIN_DEPTH).log())
        sem = F.cross_entropy(decoded.semantics, semantics.long())
        parts = {"rgb": rgb, "depth": dep, "semantics": sem}
        total = cfg.w_rgb * rgb + cfg.w_depth * dep + cfg.w_semantics * sem
        return total, parts
