"""Training windows for the world model: T consecutive frames of one recorded episode.

A `Window` holds what the tokenizer reconstructs (images, depth, semantics) and what the dynamics
model reads and predicts (actions, odometry, speed, boxes, events) for frames t0 .. t0+T-1.
`WindowDataset` cuts them from a dataset directory (data/FORMAT.md) with the dataset's own shard
reader; `synthetic_window` makes a random one for tests.

Events of frame t are the infractions the recorder stored at row t: what happened during the
step taken from frame t (the collision / off-road the dynamics predicts from frame t's action).
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np
import pyarrow.compute as pc
import torch
from torch.utils.data import Dataset

from e2edrive.core.constants import MAX_BOXES, NUM_OBJECT_CLASSES, NUM_SEMANTIC_CLASSES
from e2edrive.core.rig import CameraRig
from e2edrive.data.dataset import DrivingDataset

COLLISION_COLUMNS = (
    "infraction_collision_vehicle",
    "infraction_collision_pedestrian_animal",
    "infraction_collision_static",
)


@dataclass
class Window:
    """(B, T, ...) each; one window per row of B. Frames oldest first."""

    images: torch.Tensor  # (B, T, N, 3, H, W) uint8
    depth: torch.Tensor  # (B, T, N, H, W) float32 m
    semantics: torch.Tensor  # (B, T, N, H, W) uint8
    action: torch.Tensor  # (B, T, 2) [steer, accel] executed from the frame
    odom: torch.Tensor  # (B, T, 3) the frame's pose in the previous ego frame
    speed: torch.Tensor  # (B, T) m/s
    boxes: torch.Tensor  # (B, T, MAX_BOXES, 9) ego frame
    box_class: torch.Tensor  # (B, T, MAX_BOXES) long
    box_valid: torch.Tensor  # (B, T, MAX_BOXES) bool
    events: torch.Tensor  # (B, T, 2) float {0, 1}: collision, off-road during the step from the frame

    def to(self, device) -> Window:
        return Window(**{f.name: getattr(self, f.name).to(device) for f in fields(self)})

    @property
    def length(self) -> int:
        return self.images.shape[1]


def collate_windows(items: list[Window]) -> Window:
    return Window(**{f.name: torch.cat([getattr(w, f.name) for w in items]) for f in fields(Window)})


class WindowDataset(Dataset):
    """Every window of `length` frames inside one episode (windows never cross episodes), every
    `stride` frames. Episodes shorter than `length` give none; a dataset with no window is an
    error that says how many frames are needed."""

    def __init__(self, root, length: int, stride: int = 1, seeds=None, scenarios=None):
        self.ds = DrivingDataset(root, history=1, seeds=seeds, scenarios=scenarios)
        self.rig: CameraRig = self.ds.rig
        self.length = length
        index = self.ds.index
        ep, t = index["episode"].to_numpy(), index["t"].to_numpy()
        self.starts: list[tuple[int, int]] = []
        self.episode_frames = {int(e): int(t[ep == e].max()) + 1 for e in np.unique(ep)}
        for e, n in self.episode_frames.items():
            self.starts += [(e, s) for s in range(0, n - length + 1, stride)]
        if not self.starts:
            raise ValueError(
                f"{root}: no episode has {length} frames (the world model needs context + unroll "
                f"= {length} consecutive frames); record longer episodes"
            )
        self._events = {}
        for e in np.unique(ep):
            rows = index.filter(pc.equal(index["episode"], int(e))).sort_by("t")
            col = np.zeros(len(rows), bool)
            for c in COLLISION_COLUMNS:
                col |= rows[c].to_numpy(zero_copy_only=False)
            off = rows["infraction_off_road"].to_numpy(zero_copy_only=False)
            self._events[int(e)] = np.stack([col, off], -1).astype(np.float32)  # (T_ep, 2)

    def __len__(self) -> int:
        return len(self.starts)

    def __getitem__(self, k: int) -> Window:
        ep, t0 = self.starts[k]
        sh = self.ds.shard(ep)
        rows = np.arange(t0, t0 + self.length)

        def read(name: str) -> torch.Tensor:
            return torch.from_numpy(sh.read(name, rows))[None]  # (1, T, ...)

        return Window(
            images=read("images"),
            depth=read("depth"),
            semantics=read("semantics"),
            action=read("action"),
            odom=read("odom"),
            speed=read("speed"),
            boxes=read("boxes"),
            box_class=read("box_class").long(),
            box_valid=read("box_valid"),
            events=torch.from_numpy(self._events[ep][rows])[None],
        )


def synthetic_window(batch: int, length: int, rig: CameraRig, seed: int = 0, agents: int = 3) -> Window:
    """A random but self-consistent window (constant-speed ego, agents moving straight) for tests:
    smooth images so an autoencoder can fit them in a few steps."""
    g = torch.Generator().manual_seed(seed)
    B, T, N, H, W = batch, length, rig.num_cameras, rig.height, rig.width
    base = torch.rand(B, 1, N, 3, H // 8 + 1, W // 8 + 1, generator=g)
    img = torch.nn.functional.interpolate(base.flatten(0, 2), size=(H, W), mode="bilinear")
    images = (255 * img).view(B, 1, N, 3, H, W).expand(B, T, N, 3, H, W).to(torch.uint8).clone()
    speed = (5 + 10 * torch.rand(B, 1, generator=g)).expand(B, T).clone()
    odom = torch.stack([speed * 0.1, torch.zeros_like(speed), torch.zeros_like(speed)], -1)
    boxes = torch.zeros(B, T, MAX_BOXES, 9)
    valid = torch.zeros(B, T, MAX_BOXES, dtype=torch.bool)
    valid[:, :, :agents] = True
    x0 = 10 + 20 * torch.rand(B, 1, agents, generator=g)
    vx = 5 * torch.rand(B, 1, agents, generator=g)
    tt = torch.arange(T).view(1, T, 1) * 0.1
    boxes[:, :, :agents, 0] = x0 + (vx - speed[:, :1, None]) * tt  # relative to the moving ego
    boxes[:, :, :agents, 3:6] = torch.tensor([4.5, 1.8, 1.5])
    boxes[:, :, :agents, 7] = vx
    return Window(
        images=images,
        depth=1 + 100 * img.view(B, 1, N, 3, H, W)[:, :, :, 0].expand(B, T, N, H, W).clone(),
        semantics=(img.view(B, 1, N, 3, H, W)[:, :, :, 1] * (NUM_SEMANTIC_CLASSES - 1))
        .round()
        .to(torch.uint8)
        .expand(B, T, N, H, W)
        .clone(),
        action=torch.zeros(B, T, 2),
        odom=odom,
        speed=speed,
        boxes=boxes,
        box_class=torch.zeros(B, T, MAX_BOXES, dtype=torch.long).clamp(max=NUM_OBJECT_CLASSES - 1),
        box_valid=valid,
        events=torch.zeros(B, T, 2),
    )
