"""Residual decoding: a dream frame is the last real frame plus the decoded change since it.

Full decoding turns every dreamed latent into a frame from scratch, so the tokenizer's
reconstruction error (blur of static background, lost texture) is in every frame, even where
nothing moved. Residual decoding, the usual design of video predictors, keeps the real pixels of
the anchor (the last real context frame, t0) and adds only what the decoder says changed:

    rgb        x_t = clamp(x_t0 + D(z_t) - D(z_t0), 0, 255)
    depth      d_t = d_t0 * exp(D(z_t) - D(z_t0)), clamped to the decoder's far limit: the decoder
               regresses log-depth, so its change is a ratio, and a ratio keeps depth positive
    semantics  the decoded class where the decoder's argmax changed since t0 (the content there
               changed), the real class of t0 elsewhere: class logits have no meaningful difference
               to add, but a changed argmax says where the decoder sees new content

Decoding the anchor's own latent gives back the anchor exactly (the change is zero), so repeating
the last frame is residual decoding of a model that predicts no change. `Frames` are what the
fidelity evaluation compares; `rgb_anchor` / `residual_rgb` serve the dream's observations, which
are RGB only.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal, NamedTuple

import torch

from e2edrive.worldmodel.tokenizer import MAX_LOG_DEPTH, Decoded

Decode = Literal["full", "residual"]
DECODES: tuple[Decode, ...] = ("full", "residual")
MAX_DEPTH = math.exp(MAX_LOG_DEPTH)  # m: the far limit of full decoding (Decoded.depth)


@dataclass
class Frames:
    """Images of M frames (cameras, or batch x cameras) in the recordings' units."""

    rgb: torch.Tensor  # (M, 3, H, W) uint8
    depth: torch.Tensor  # (M, H, W) metres
    semantics: torch.Tensor  # (M, H, W) long class ids


class RgbAnchor(NamedTuple):
    """The RGB of the last real context frame and the decoder's RGB of its latent."""

    real: torch.Tensor  # (..., 3, H, W) uint8
    decoded: torch.Tensor  # (..., 3, H, W) float in [0, 1]


def full_frames(d: Decoded) -> Frames:
    """The decoder's output as frames: every pixel decoded from the latent."""
    return Frames(d.rgb_uint8(), d.depth(), d.semantics.argmax(1))


def residual_rgb(decoded: torch.Tensor, anchor: RgbAnchor) -> torch.Tensor:
    """decoded (..., 3, H, W) float in [0, 1] -> (..., 3, H, W) uint8: the anchor's real pixels plus
    the decoded change (rounded as Decoded.rgb_uint8 rounds)."""
    change = 255.0 * (decoded - anchor.decoded)
    return (anchor.real.float() + change + 0.5).clamp(0, 255).to(torch.uint8)


def residual_depth(
    log_depth: torch.Tensor, anchor_log_depth: torch.Tensor, real: torch.Tensor
) -> torch.Tensor:
    """(..., H, W) log metres, log metres, metres -> (..., H, W) metres: the real depth scaled by
    the decoded ratio."""
    return (real * (log_depth - anchor_log_depth).exp()).clamp(max=MAX_DEPTH)


def residual_semantics(logits: torch.Tensor, anchor_logits: torch.Tensor, real: torch.Tensor) -> torch.Tensor:
    """(..., S, H, W) logits, logits, (..., H, W) class ids -> (..., H, W) long: the decoded class
    where the decoded argmax changed since the anchor, the real class elsewhere."""
    now, before = logits.argmax(-3), anchor_logits.argmax(-3)
    return torch.where(now != before, now, real.long())


def residual_frames(d: Decoded, anchor: Decoded, real: Frames) -> Frames:
    """Residual decoding of d (M frames) against the anchor: the decoder's output on the anchor's
    latent (M frames) and the anchor's real frames."""
    return Frames(
        residual_rgb(d.rgb, RgbAnchor(real.rgb, anchor.rgb)),
        residual_depth(d.log_depth, anchor.log_depth, real.depth),
        residual_semantics(d.semantics, anchor.semantics, real.semantics),
    )
