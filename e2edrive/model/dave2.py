"""DAVE-2 (Bojarski et al. 2016, "End to End Learning for Self-Driving Cars", arXiv 1604.07316):
one front camera in, controls out. The baseline every camera-to-control network must beat.

As in the paper (its Figure 4):
    66x200 YUV image -> normalisation -> conv 24, 36, 48 (5x5, stride 2) -> conv 64, 64 (3x3)
    -> 64x1x18 = 1152 features -> FC 100 -> 50 -> 10 -> output
(the figure prints 1164 flattened neurons; 64 * 1 * 18 = 1152 is what those layers produce.)

Our changes, so that it fits `DrivingOutput` and `driving_loss`:
- the output is [steer, accel] instead of the inverse turning radius alone (acceleration added as
  a second control), plus a plan (PLAN_STEPS future poses) and a target speed. The plan and speed
  heads are our addition: the paper has neither.
- the paper does not name its nonlinearity; we use ELU (as comma.ai's steering model and most
  DAVE-2 reimplementations do): with ReLU the 10-unit layer loses units to dead ReLUs and the
  network could not even overfit four samples in our test.
- our front_main image (64x128 by default) is resized to 66x200 inside the model (bilinear) and
  converted RGB -> YUV (BT.601) there, so the network takes the simulator's uint8 frames as is.
- a frame flagged invalid (camera_valid False) is replaced by the mid-grey of the normalised
  input (zeros), so a dropped frame reads as "no information" rather than as stale pixels.

The paper's network sees one image and nothing else: it cannot observe its own speed, which is
one reason it brakes and accelerates poorly. That is faithful, and it is why it is a baseline.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn

from e2edrive.core.constants import PLAN_STEPS
from e2edrive.core.types import Labels, Observation
from e2edrive.model.base import ACTION_SCALE, DrivingLossWeights, DrivingPolicy, driving_loss
from e2edrive.model.output import DrivingOutput
from e2edrive.model.validate import check_frames

# Output scales: the last linear layer predicts order-one numbers, these bring them to units, so
# a freshly initialised network starts near zero and Adam reaches metres in hundreds of steps,
# not tens of thousands. Plans cover 2 s: x reaches ~ 30 m at highway speed, yaw ~ 0.5 rad in turns.
PLAN_SCALE = (10.0, 10.0, 0.5)  # m, m, rad per unit of (x, y, yaw)
SPEED_SCALE = 10.0  # m/s per unit

# RGB -> YUV, BT.601 analogue (the paper says YUV without naming the matrix). Rows: Y, U, V.
RGB_TO_YUV = (
    (0.299, 0.587, 0.114),
    (-0.14713, -0.28886, 0.436),
    (0.615, -0.51499, -0.10001),
)
# Y in [0, 1], U in [-0.436, 0.436], V in [-0.615, 0.615]: these bring each channel to [-1, 1].
YUV_OFFSET = (0.5, 0.0, 0.0)
YUV_HALF_RANGE = (0.5, 0.436, 0.615)


class DrivingHead(nn.Module):
    """Linear layer -> DrivingOutput (action, plan, speed), scaled to units. Shared by the baselines."""

    def __init__(self, in_features: int):
        super().__init__()
        self.linear = nn.Linear(in_features, 2 + PLAN_STEPS * 3 + 1)
        self.register_buffer("action_scale", torch.tensor(ACTION_SCALE), persistent=False)
        self.register_buffer("plan_scale", torch.tensor(PLAN_SCALE), persistent=False)

    def forward(self, h: torch.Tensor) -> DrivingOutput:  # h (B, in_features)
        raw = self.linear(h)  # (B, 2 + PLAN_STEPS * 3 + 1)
        action = raw[:, :2] * self.action_scale  # (B, 2) rad, m/s^2
        plan = raw[:, 2 : 2 + PLAN_STEPS * 3].reshape(-1, PLAN_STEPS, 3) * self.plan_scale  # (B, P, 3)
        speed = raw[:, -1] * SPEED_SCALE  # (B,) m/s
        return DrivingOutput(action=action, plan=plan, speed=speed)


@dataclass
class Dave2Config:
    camera: str = "front_main"
    """the one camera DAVE-2 sees, by name in the observation's rig"""
    input_height: int = 66
    """px, the paper's input height; the camera image is resized to it"""
    input_width: int = 200
    """px, the paper's input width"""
    loss: DrivingLossWeights = field(default_factory=DrivingLossWeights)
    """weights of the plan, control and speed terms"""


class Dave2(DrivingPolicy):
    """DAVE-2: front camera -> [steer, accel], plan, target speed. Memoryless: `act` is the base
    class's one-frame clip, and the state is None."""

    name = "dave2"
    config_class = Dave2Config

    def __init__(self, config: Dave2Config | None = None):
        super().__init__()
        self.config = config or Dave2Config()
        self.register_buffer("rgb_to_yuv", torch.tensor(RGB_TO_YUV), persistent=False)
        self.register_buffer("yuv_offset", torch.tensor(YUV_OFFSET).view(3, 1, 1), persistent=False)
        self.register_buffer("yuv_half_range", torch.tensor(YUV_HALF_RANGE).view(3, 1, 1), persistent=False)
        self.convs = nn.Sequential(
            nn.Conv2d(3, 24, 5, stride=2),
            nn.ELU(),
            nn.Conv2d(24, 36, 5, stride=2),
            nn.ELU(),
            nn.Conv2d(36, 48, 5, stride=2),
            nn.ELU(),
            nn.Conv2d(48, 64, 3),
            nn.ELU(),
            nn.Conv2d(64, 64, 3),
            nn.ELU(),
        )
        n_flat = conv_features(self.config.input_height, self.config.input_width)
        self.fcs = nn.Sequential(
            nn.Linear(n_flat, 100),
            nn.ELU(),
            nn.Linear(100, 50),
            nn.ELU(),
            nn.Linear(50, 10),
            nn.ELU(),
        )
        self.head = DrivingHead(10)

    def camera_index(self, obs: Observation) -> int:
        if self.config.camera not in obs.rig.names:
            raise ValueError(
                f"DAVE-2 drives from the {self.config.camera!r} camera, which this rig lacks; "
                f"rig cameras: {list(obs.rig.names)}"
            )
        return obs.rig.names.index(self.config.camera)

    def normalise(self, image: torch.Tensor) -> torch.Tensor:
        """(B, 3, H, W) uint8 RGB -> (B, 3, 66, 200) YUV in [-1, 1] (the paper's normalisation layer)."""
        rgb = image.float() / 255.0
        size = (self.config.input_height, self.config.input_width)
        rgb = F.interpolate(rgb, size=size, mode="bilinear", align_corners=False)
        yuv = torch.einsum("oc,bchw->bohw", self.rgb_to_yuv, rgb)  # (B, 3, 66, 200)
        return (yuv - self.yuv_offset) / self.yuv_half_range

    def forward(self, obs: Observation) -> DrivingOutput:  # obs tensors (B, T, ...); uses the last frame
        check_frames(obs, clip=True)
        cam = self.camera_index(obs)
        x = self.normalise(obs.images[:, -1, cam])  # (B, 3, 66, 200)
        valid = obs.camera_valid[:, -1, cam].to(x.dtype).view(-1, 1, 1, 1)  # (B, 1, 1, 1)
        x = self.convs(x * valid)  # (B, 64, 1, 18)
        return self.head(self.fcs(x.flatten(1)))  # flatten: (B, 1152)

    def act(self, obs: Observation, state=None):
        check_frames(obs, clip=False)  # before the one-frame clip: act takes camera frames, uint8
        return super().act(obs, state)

    def loss(self, out: DrivingOutput, labels: Labels) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        parts = driving_loss(out, labels, self.config.loss)
        return sum(parts.values()), parts


def conv_features(height: int, width: int) -> int:
    """Flattened size of DAVE-2's conv stack for a height x width input (1152 for 66x200)."""
    for k, s in ((5, 2), (5, 2), (5, 2), (3, 1), (3, 1)):
        height, width = (height - k) // s + 1, (width - k) // s + 1
    if height < 1 or width < 1:
        raise ValueError("DAVE-2 input too small for its five convolutions (the paper uses 66x200)")
    return 64 * height * width
