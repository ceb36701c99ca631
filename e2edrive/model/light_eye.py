"""A full-resolution look at the forward cameras for the traffic light's colour.

The light head of the first networks read the encoder's camera features, max-pooled. At the
default 64 x 128 those are 4 x 8 cells per camera (stride 16), and a lamp is 1-3 pixels: the
head learned where a light is, not which lamp is lit. Measured on unseen expert episodes
(BENCHMARKS.md, eval.light_read): red 98 %, yellow 0 %, green 7 % recall; it called nearly every
light red, so the planner, which reads the head's probabilities, could not tell red from green
and ran 12 of 16 red lights.

This eye reads the raw pixels of a few forward cameras at full resolution, the upper half of the
image only: lamps hang 4-6 m up, above the cameras (1.35 m), so they project above the horizon,
which is at or above the middle row of the forward cameras (pitch 0 and 5 degrees down); the
distractors of the same colours (brake lights, yellow lane lines, grass) lie mostly below it.
Three 3 x 3 convolutions (stride 1, 2, 2) over RGB plus two coordinate channels, ReLU, then the
maximum over the image per channel: "is there a bright saturated disc in a dark housing, and
where". Its logits are
added to the light head's (`TrafficLightHead`), starting near zero (the last layer's weights are
drawn with std 0.01, its bias is zero), so a network fine-tuned with a new eye starts from nearly
what it computed before. Exactly zero stalls the learning: with a zero last layer every hidden unit
gets the same class-blind gradient, and the toy of tests/test_light_eye.py stayed at chance for
300 steps (a default-initialised one learned in 100, std 0.01 in 200).
Cost at 64 x 128: about 5 M multiply-adds per camera.
"""

from __future__ import annotations

import torch
from torch import nn

from e2edrive.model.heads import NUM_LIGHT_STATES


class LightEye(nn.Module):
    """images (B, K, 3, H, W) uint8 or float 0..255 of the K eye cameras, valid (B, K) bool ->
    logits (B, NUM_LIGHT_STATES) to add to the light head's."""

    def __init__(self, num_cameras: int, width: int = 16):
        super().__init__()
        self.net = nn.Sequential(
            nn.Conv2d(5, width, 3, padding=1),
            nn.ReLU(inplace=True),
            nn.Conv2d(width, width, 3, stride=2, padding=1),
            nn.ReLU(inplace=True),
            nn.Conv2d(width, 2 * width, 3, stride=2, padding=1),
            nn.ReLU(inplace=True),
        )
        self.out = nn.Sequential(
            nn.Linear(num_cameras * 2 * width, 4 * width),
            nn.ReLU(inplace=True),
            nn.Linear(4 * width, NUM_LIGHT_STATES),
        )
        nn.init.normal_(self.out[-1].weight, std=0.01)
        nn.init.zeros_(self.out[-1].bias)

    def forward(self, images: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
        H = images.shape[-2] // 2  # the upper half: above the horizon
        B, K, _, _, W = images.shape
        x = images[..., :H, :].flatten(0, 1).float() / 255.0  # (B*K, 3, H, W)
        grid = dict(device=x.device, dtype=x.dtype)
        v = torch.linspace(-1.0, 1.0, H, **grid).view(1, 1, H, 1).expand(B * K, 1, H, W)  # image row
        u = torch.linspace(-1.0, 1.0, W, **grid).view(1, 1, 1, W).expand(B * K, 1, H, W)  # image column
        f = self.net(torch.cat([x, u, v], 1)).amax((-2, -1))  # (B*K, 2w): max, a lamp is a few pixels
        f = f.view(B, K, -1) * valid.unsqueeze(-1).to(f.dtype)  # a failed camera adds nothing
        return self.out(f.flatten(1))
