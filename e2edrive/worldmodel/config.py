"""`WorldModelConfig`: the shape of the learned, action-conditioned 8-camera world model.

The rig (`CameraRig.to_dict()`) and the image size are part of the config: a world model learns
the look of one camera layout, so loading it beside an environment or a dataset recorded with
another rig is an error that names both (`check_rig`), never a silent mismatch.

Presets:
    tiny   2 CPU cores: 8 latent channels at 1/8 resolution (8 x 16 per camera for 64 x 128
           images), patches of 4 x 4 latent cells -> 8 tokens per camera, 64 camera tokens, a
           2-layer transformer of width 64. Meant to run at >= 10 dream steps/s at batch 1.
    base   a GPU: 16 latent channels, patches of 2 x 2 (32 tokens per camera, 256 camera tokens),
           6 layers of width 256.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

from e2edrive.core.constants import MAX_BOXES, NUM_SEMANTIC_CLASSES
from e2edrive.core.rig import CameraRig, make_rig


@dataclass
class WorldModelConfig:
    """Sizes of the tokenizer and the dynamics model, the rig they were built for, and the loss
    weights (named, so a log line `loss/depth` maps to one field here)."""

    rig: dict = field(default_factory=lambda: make_rig().to_dict())
    """CameraRig.to_dict() of the cameras the model was trained on (names, K, T_ego_from_cam, size)"""
    latent_channels: int = 8
    """C: channels of each camera's latent map"""
    encoder_widths: tuple[int, ...] = (16, 32, 32)
    """conv widths of the tokenizer's stride-2 stages; 3 stages -> latent at 1/8 resolution"""
    patch: int = 4
    """latent cells per side of one camera token (8 x 16 latent, patch 4 -> 2 x 4 tokens per camera)"""
    context: int = 4
    """K: past frames the dynamics model reads (0.4 s at 10 Hz)"""
    d_model: int = 64
    """width of the dynamics transformer's tokens"""
    n_layers: int = 2
    """transformer blocks"""
    n_heads: int = 4
    """attention heads (d_model must be a multiple)"""
    max_agents: int = 16
    """agent tokens: the nearest boxes of Labels.boxes (MAX_BOXES at most), one token each"""
    unroll: int = 3
    """steps of the open-loop unroll loss (the model's own latents fed back)"""
    context_noise: float = 0.1
    """std of the Gaussian noise added to context latents in training (latents are in [-1, 1]);
    it teaches the dynamics to read its own imperfect predictions"""
    w_rgb: float = 1.0
    """tokenizer loss weight: L1 on RGB in [0, 1]"""
    w_depth: float = 0.5
    """tokenizer loss weight: L1 on log-depth (log metres)"""
    w_semantics: float = 0.2
    """tokenizer loss weight: cross-entropy over core.constants.Semantic"""
    w_latent: float = 1.0
    """dynamics loss weight: MSE of the next latents"""
    w_boxes: float = 0.5
    """dynamics loss weight: agents' next boxes (smooth L1 on motion, BCE on staying in view)"""
    w_ego: float = 1.0
    """dynamics loss weight: ego's next motion (dx, dy, dyaw, speed), smooth L1"""
    w_events: float = 0.5
    """dynamics loss weight: collision / off-road BCE"""

    def __post_init__(self) -> None:
        if isinstance(self.rig, CameraRig):
            self.rig = self.rig.to_dict()
        self.encoder_widths = tuple(self.encoder_widths)
        h, w = self.latent_hw
        if h % self.patch or w % self.patch:
            raise ValueError(
                f"latent {h}x{w} (image {self.height}x{self.width} / {self.downsample}) is not divisible "
                f"by patch {self.patch}"
            )
        if self.d_model % self.n_heads:
            raise ValueError(f"d_model {self.d_model} is not a multiple of n_heads {self.n_heads}")
        if not 1 <= self.max_agents <= MAX_BOXES:
            raise ValueError(f"max_agents must be in [1, {MAX_BOXES}], got {self.max_agents}")
        if self.context < 1:
            raise ValueError(f"context must be >= 1 frame, got {self.context}")

    # --- derived sizes ---------------------------------------------------------------------------
    @property
    def camera_rig(self) -> CameraRig:
        return CameraRig.from_dict(self.rig)

    @property
    def num_cameras(self) -> int:
        return len(self.rig["names"])

    @property
    def height(self) -> int:
        return int(self.rig["height"])

    @property
    def width(self) -> int:
        return int(self.rig["width"])

    @property
    def downsample(self) -> int:
        return 2 ** len(self.encoder_widths)

    @property
    def latent_hw(self) -> tuple[int, int]:
        return self.height // self.downsample, self.width // self.downsample

    @property
    def patch_grid(self) -> tuple[int, int]:
        """(rows, cols) of camera tokens per camera."""
        h, w = self.latent_hw
        return h // self.patch, w // self.patch

    @property
    def num_semantics(self) -> int:
        return NUM_SEMANTIC_CLASSES

    def to_dict(self) -> dict:
        d = dataclasses.asdict(self)
        d["encoder_widths"] = list(self.encoder_widths)
        return d

    @staticmethod
    def from_dict(d: dict) -> WorldModelConfig:
        names = {f.name for f in dataclasses.fields(WorldModelConfig)}
        unknown, missing = sorted(set(d) - names), sorted(names - set(d))
        if unknown or missing:
            raise ValueError(
                f"world model config does not match this version: unknown fields {unknown}, missing {missing}"
            )
        return WorldModelConfig(**d)


def describe_rig(rig: CameraRig | dict) -> str:
    """'8 cameras 64x128 (front_main, ..., rear_left)' for error messages."""
    r = rig if isinstance(rig, dict) else rig.to_dict()
    names = r["names"]
    short = ", ".join(names) if len(names) <= 3 else f"{names[0]}, ..., {names[-1]}"
    return f"{len(names)} cameras {r['height']}x{r['width']} ({short})"


def check_rig(cfg: WorldModelConfig, rig: CameraRig, where: str) -> None:
    """ValueError naming both rigs when `rig` (of an environment or a dataset) is not the one
    the world model was built for."""
    from e2edrive.model.validate import rig_difference

    diff = rig_difference(cfg.camera_rig, rig)
    if diff is not None:
        raise ValueError(
            f"rig mismatch: the world model was built for {describe_rig(cfg.rig)}, {where} has "
            f"{describe_rig(rig)}: {diff}"
        )


def _patch(rig: CameraRig, want: int, downsample: int = 8) -> int:
    """`want`, or the largest power of two dividing the latent map of a smaller rig (a 16 x 32
    test rig has a 2 x 4 latent: patch 2)."""
    h, w = rig.height // downsample, rig.width // downsample
    p = want
    while p > 1 and (h % p or w % p):
        p //= 2
    return p


def tiny(rig: CameraRig | None = None) -> WorldModelConfig:
    """2 CPU cores (the defaults above)."""
    rig = rig or make_rig()
    return WorldModelConfig(rig=rig.to_dict(), patch=_patch(rig, 4))


def base(rig: CameraRig | None = None) -> WorldModelConfig:
    """One GPU: more latent channels, finer tokens, a deeper transformer."""
    rig = rig or make_rig()
    return WorldModelConfig(
        rig=rig.to_dict(),
        latent_channels=16,
        encoder_widths=(64, 128, 128),
        patch=_patch(rig, 2),
        context=6,
        d_model=256,
        n_layers=6,
        n_heads=8,
        max_agents=MAX_BOXES,
        unroll=5,
    )


PRESETS = {"tiny": tiny, "base": base}


def preset(name: str, rig: CameraRig | None = None) -> WorldModelConfig:
    if name not in PRESETS:
        raise KeyError(f"unknown world model preset {name!r}; presets: {', '.join(PRESETS)}")
    return PRESETS[name](rig)
