"""RegNet-Y camera encoder in plain torch, key-compatible with torchvision's `regnet.py`.

A RegNet is a stem (3x3 stride-2 conv) and stages of Y-blocks: 1x1 -> grouped 3x3 ->
squeeze-excitation -> 1x1, with a residual (projected when the shape changes). Module names
follow torchvision exactly (`stem.0.weight`, `trunk_output.block1.block1-0.f.a.0.weight`,
`...f.se.fc1.weight`, `...proj.1.running_mean`), so a torchvision `regnet_y_400mf` state dict
loads with `load_torchvision_weights(encoder, path)` (its `fc.*` classifier keys are dropped).
Nothing is downloaded: the weights file is the user's to supply.

The encoder is shared by all cameras (one batch of B*N images) and returns a feature map that
fuses the last two stages (FPN-lite: upsample the deepest, add a 1x1 lateral of the one before).
"""

from __future__ import annotations

import math
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

# ImageNet statistics of torchvision's weights; images are normalised with them inside the model.
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


@dataclass(frozen=True)
class RegNetSpec:
    """Per-stage widths and depths of a RegNet (every stage halves the resolution)."""

    stem_width: int
    widths: tuple[int, ...]
    depths: tuple[int, ...]
    group_width: int
    se_ratio: float = 0.25  # SE bottleneck relative to the block's input width (RegNet-Y)

    @property
    def stride(self) -> int:
        """Output stride of the deepest stage."""
        return 2 ** (1 + len(self.widths))


def _make_divisible(v: float, divisor: int) -> int:
    new_v = max(divisor, int(v + divisor / 2) // divisor * divisor)
    return new_v + divisor if new_v < 0.9 * v else new_v


def regnet_spec(
    depth: int,
    w_0: int,
    w_a: float,
    w_m: float,
    group_width: int,
    stem_width: int = 32,
    se_ratio: float = 0.25,
) -> RegNetSpec:
    """Stage widths and depths from RegNet's quantised-linear design rule (Radosavovic et al. 2020),
    the same computation as torchvision's `BlockParams.from_init_params` (bottleneck ratio 1)."""
    widths_cont = torch.arange(depth) * w_a + w_0
    capacity = torch.round(torch.log(widths_cont / w_0) / math.log(w_m))
    block_widths = (torch.round(w_0 * torch.pow(w_m, capacity) / 8) * 8).int().tolist()
    widths: list[int] = []
    depths: list[int] = []
    for w in block_widths:
        if widths and widths[-1] == w:
            depths[-1] += 1
        else:
            widths.append(w)
            depths.append(1)
    groups = [min(group_width, w) for w in widths]
    widths = [_make_divisible(w, g) for w, g in zip(widths, groups)]
    return RegNetSpec(stem_width, tuple(widths), tuple(depths), min(groups), se_ratio)


REGNET_Y_400MF = regnet_spec(depth=16, w_0=48, w_a=27.89, w_m=2.09, group_width=8)  # widths 48,104,208,440


def conv_bn(
    c_in: int, c_out: int, k: int, stride: int = 1, groups: int = 1, act: bool = True
) -> nn.Sequential:
    """torchvision's Conv2dNormActivation layout: `.0` conv (no bias), `.1` BN, `.2` ReLU."""
    layers: list[nn.Module] = [
        nn.Conv2d(c_in, c_out, k, stride, padding=k // 2, groups=groups, bias=False),
        nn.BatchNorm2d(c_out),
    ]
    if act:
        layers.append(nn.ReLU(inplace=True))
    return nn.Sequential(*layers)


class SqueezeExcitation(nn.Module):
    """Channel gating from the global average (keys `fc1`, `fc2` as torchvision)."""

    def __init__(self, channels: int, squeeze: int):
        super().__init__()
        self.fc1 = nn.Conv2d(channels, squeeze, 1)
        self.fc2 = nn.Conv2d(squeeze, channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s = x.mean((2, 3), keepdim=True)  # (B, C, 1, 1)
        return x * torch.sigmoid(self.fc2(F.relu(self.fc1(s))))


class YBlock(nn.Module):
    """x + f(x) with f = 1x1 -> grouped 3x3 (stride) -> SE -> 1x1; `proj` on the skip when needed."""

    def __init__(self, c_in: int, c_out: int, stride: int, group_width: int, se_ratio: float):
        super().__init__()
        self.proj = conv_bn(c_in, c_out, 1, stride, act=False) if (c_in != c_out or stride != 1) else None
        self.f = nn.Sequential(
            OrderedDict(
                a=conv_bn(c_in, c_out, 1),
                b=conv_bn(c_out, c_out, 3, stride, groups=c_out // group_width),
                se=SqueezeExcitation(c_out, int(round(se_ratio * c_in))),
                c=conv_bn(c_out, c_out, 1, act=False),
            )
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        skip = x if self.proj is None else self.proj(x)
        return F.relu(skip + self.f(x))


class RegNetEncoder(nn.Module):
    """Images (M, 3, H, W) float in [0, 1] -> fused features (M, out_channels, H/s, W/s), s = spec.stride / 2.

    The deepest stage (stride s*2) is upsampled and added to a lateral of the stage before it
    (stride s): the deepest stage sees context, the one before keeps the resolution that small
    objects at range (a chicken at 15 m is ~6 px wide) need.
    """

    def __init__(self, spec: RegNetSpec, out_channels: int):
        super().__init__()
        if len(spec.widths) < 2:
            raise ValueError(
                f"RegNetEncoder fuses the last two stages and needs >= 2 stages, got {spec.widths}"
            )
        self.spec = spec
        self.stem = conv_bn(3, spec.stem_width, 3, 2)
        stages = []
        c_in = spec.stem_width
        for i, (w, d) in enumerate(zip(spec.widths, spec.depths), start=1):
            blocks = OrderedDict(
                (
                    f"block{i}-{j}",
                    YBlock(
                        c_in if j == 0 else w, w, 2 if j == 0 else 1, min(spec.group_width, w), spec.se_ratio
                    ),
                )
                for j in range(d)
            )
            stages.append((f"block{i}", nn.Sequential(blocks)))
            c_in = w
        self.trunk_output = nn.Sequential(OrderedDict(stages))
        self.lateral = nn.Conv2d(spec.widths[-2], out_channels, 1)
        self.top = nn.Conv2d(spec.widths[-1], out_channels, 1)
        self.smooth = conv_bn(out_channels, out_channels, 3)
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1), persistent=False)
        self._init_weights()

    def _init_weights(self) -> None:
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                fan_out = m.kernel_size[0] * m.kernel_size[1] * m.out_channels // m.groups
                nn.init.normal_(m.weight, 0.0, math.sqrt(2.0 / fan_out))
                if m.bias is not None:
                    nn.init.zeros_(m.bias)

    @property
    def stride(self) -> int:
        return self.spec.stride // 2

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        # channels_last lets oneDNN (CPU) and cuDNN pick their fast NHWC kernels: ~30% faster here.
        x = ((images - self.mean) / self.std).contiguous(memory_format=torch.channels_last)
        x = self.stem(x)
        stages = list(self.trunk_output.children())
        for stage in stages[:-1]:
            x = stage(x)
        c4 = x  # (M, w[-2], H/s, W/s)
        c5 = stages[-1](c4)  # (M, w[-1], H/2s, W/2s)
        top = F.interpolate(self.top(c5), size=c4.shape[-2:], mode="bilinear", align_corners=False)
        return self.smooth(self.lateral(c4) + top)  # (M, out_channels, H/s, W/s)


def backbone_state_dict(encoder: RegNetEncoder) -> dict[str, torch.Tensor]:
    """The torchvision-named part of the encoder's state (stem + trunk_output)."""
    return {k: v for k, v in encoder.state_dict().items() if k.startswith(("stem.", "trunk_output."))}


def load_torchvision_weights(encoder: RegNetEncoder, path: str | Path | None) -> list[str]:
    """Load torchvision-format RegNet weights (a .pth/.pt state dict or a .safetensors file).

    Returns the list of loaded keys. With `path=None` it raises and says so, rather than silently
    training from scratch. Shape or key mismatches (another RegNet size) are reported by name.
    """
    if path is None:
        raise ValueError(
            "no pretrained weights given: pass the path of a torchvision regnet_y_400mf state dict "
            "(e.g. regnet_y_400mf-c65dace8.pth) or train from scratch with pretrained=None"
        )
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"pretrained RegNet weights not found: {path}")
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        state = load_file(str(path))
    else:
        state = torch.load(str(path), map_location="cpu", weights_only=True)
    state = {k: v for k, v in state.items() if not k.startswith("fc.")}
    own = backbone_state_dict(encoder)
    missing = sorted(set(own) - set(state))
    unexpected = sorted(set(state) - set(own))
    wrong = [
        f"{k}: file {tuple(state[k].shape)} vs model {tuple(own[k].shape)}"
        for k in own
        if k in state and state[k].shape != own[k].shape
    ]
    if missing or unexpected or wrong:
        raise ValueError(
            f"{path} does not match this RegNet ({encoder.spec}): missing {missing[:5]}"
            f"{'...' if len(missing) > 5 else ''}, unexpected {unexpected[:5]}, wrong shapes {wrong[:5]}"
        )
    encoder.load_state_dict(state, strict=False)
    return sorted(state)
