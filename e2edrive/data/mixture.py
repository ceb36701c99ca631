"""The data engine's priority in training: a dataset plus its mined clips, repeated.

After a round of the engine, the clips its triggers cut (infractions, takeovers, hard braking,
disagreement, hazards on the route, light changes) are a small share of the frames but most of
what the policy still gets wrong. `PrioritizedClips` keeps every frame once and adds the mined
clips' frames `repeat` more times, so an epoch samples them (1 + repeat) times as often. The
sample order stays the trainer's (a seeded permutation), so a resumed run is still exact.
"""

from __future__ import annotations

import torch

from e2edrive.data.dataset import DrivingDataset


class PrioritizedClips(torch.utils.data.Dataset):
    """base[i] for i < len(base), then the mined frames `repeat` times over."""

    def __init__(self, base: DrivingDataset, mined: DrivingDataset | None, repeat: int):
        if repeat < 0:
            raise ValueError(f"repeat must be >= 0, got {repeat}")
        self.base, self.mined = base, mined
        self.repeat = repeat if mined is not None and len(mined) > 0 else 0

    def __len__(self) -> int:
        return len(self.base) + (self.repeat * len(self.mined) if self.repeat else 0)

    def __getitem__(self, i: int):
        if i < len(self.base):
            return self.base[i]
        return self.mined[(i - len(self.base)) % len(self.mined)]

    @property
    def index(self):
        """The base dataset's index: its episodes are what the model was trained on."""
        return self.base.index

    @property
    def mined_frames(self) -> int:
        return len(self.mined) if self.mined is not None else 0
