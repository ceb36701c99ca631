"""Sampling balanced by the expert's reason (data.balance) and the trainer's use of it: worked
examples of the weights, the mixture's reasons, and seeded, resumable, rank-split draws."""

from __future__ import annotations

import math

import numpy as np
import pyarrow as pa
import pytest
import torch

from e2edrive.data.balance import balanced_indices, decision_weights, item_reasons
from e2edrive.train.config import TrainConfig
from e2edrive.train.ddp import Dist
from e2edrive.train.loop import _loader


class _Frames(torch.utils.data.Dataset):
    """Items are their own index; the expert's reason of each in `index`, as a DrivingDataset's."""

    def __init__(self, reasons):
        self.index = pa.table({"expert_reason": pa.array(reasons, pa.int8())})

    def __len__(self):
        return self.index.num_rows

    def __getitem__(self, k):
        return k


class _Mixture:
    """The shape of data.mixture.PrioritizedClips: base, mined, repeat."""

    def __init__(self, base, mined, repeat):
        self.base, self.mined, self.repeat = base, mined, repeat


def test_weights_worked_example():
    reasons = np.array([0, 0, 0, 5])  # three cruising frames, one rare decision
    assert decision_weights(reasons, 0.0).tolist() == [0.25] * 4  # uniform
    w1 = decision_weights(reasons, 1.0)  # every reason equally: 1/2 shared by the three, 1/2 the one
    assert w1.tolist() == pytest.approx([1 / 6, 1 / 6, 1 / 6, 1 / 2])
    half = decision_weights(reasons, 0.5)  # reason shares in proportion to sqrt(count): sqrt3 : 1
    assert float(half[:3].sum()) == pytest.approx(math.sqrt(3) / (math.sqrt(3) + 1))
    assert float(half.sum()) == pytest.approx(1.0)
    with pytest.raises(ValueError, match=">= 0"):
        decision_weights(reasons, -1.0)


def test_mixture_reasons_repeat_the_mined_frames():
    mix = _Mixture(_Frames([0, 0, 1]), _Frames([7, 8]), repeat=2)
    assert item_reasons(mix).tolist() == [0, 0, 1, 7, 8, 7, 8]  # PrioritizedClips' item order
    assert item_reasons(_Mixture(_Frames([0, 1]), _Frames([7]), repeat=0)).tolist() == [0, 1]
    assert item_reasons(object()) is None  # nothing to balance by (synthetic clips)


def test_draws_follow_the_weights_and_the_seed():
    frames = _Frames([0] * 90 + [1] * 9 + [2])  # 90 % / 9 % / 1 %
    drawn = np.array(balanced_indices(frames, 1.0, 30_000, seed=3))
    share = np.bincount(np.array(item_reasons(frames))[drawn], minlength=3) / len(drawn)
    assert share == pytest.approx([1 / 3] * 3, abs=0.02)  # each decision a third of the draws
    assert drawn.tolist() == balanced_indices(frames, 1.0, 30_000, seed=3)  # the seed fixes the draw
    assert drawn.tolist() != balanced_indices(frames, 1.0, 30_000, seed=4)


def _order(dataset, cfg, epoch, skip=0, rank=0, world=1) -> list[int]:
    loader = _loader(dataset, None, cfg, Dist(rank=rank, world_size=world), epoch, skip=skip)
    return [i for batch in loader.batch_sampler for i in batch]


def test_trainer_draws_are_resumable_and_split_over_ranks():
    frames = _Frames([0] * 60 + [1] * 4)
    cfg = TrainConfig(data="unused", batch_size=4, balance_reasons=1.0, seed=2)
    order = _order(frames, cfg, epoch=0)
    assert len(order) == 64  # an epoch is still len(dataset) samples
    assert sum(i >= 60 for i in order) > 16  # the 4 rare frames: 1/16 of the data, ~half the draws
    assert _order(frames, cfg, epoch=0, skip=3) == order[12:]  # a resume skips the batches done
    assert _order(frames, cfg, epoch=1) != order  # each epoch draws anew
    ranks = [_order(frames, cfg, epoch=0, rank=r, world=2) for r in (0, 1)]
    assert sorted(ranks[0] + ranks[1]) == sorted(order)  # two ranks share one epoch's draws
    uniform = _order(frames, TrainConfig(data="unused", batch_size=4, seed=2), epoch=0)
    assert sorted(uniform) == list(range(64))  # 0: the seeded permutation, every frame once


def test_a_negative_power_is_refused_before_training(tmp_path):
    from e2edrive.train.loop import check_config

    with pytest.raises(ValueError, match="--balance-reasons must be >= 0"):
        check_config(TrainConfig(data="synthetic:8", out=str(tmp_path), balance_reasons=-0.5))
