"""The far-traffic read: its ordinal targets and loss, and the report's counts, on worked examples."""

from __future__ import annotations

import math
from dataclasses import replace

import pytest
import torch
from torch import nn

from e2edrive.eval.far_read import far_read_counts, far_read_table
from e2edrive.model.far_traffic import FAR_GAPS, far_targets, far_traffic_loss
from e2edrive.model.output import DrivingOutput
from e2edrive.model.synthetic import synthetic_clip

NAN, INF = float("nan"), float("inf")


def test_targets_are_ordinal_and_unknown_gaps_are_masked():
    assert FAR_GAPS == (25.0, 50.0, 75.0, 100.0, 125.0)
    target, known = far_targets(torch.tensor([30.0, INF, NAN, 0.0]))
    assert target.tolist() == [[0, 1, 1, 1, 1], [0, 0, 0, 0, 0], [0, 0, 0, 0, 0], [1, 1, 1, 1, 1]]
    assert known.tolist() == [True, True, False, True]


def test_loss_is_the_mean_bce_over_known_samples():
    logits = torch.zeros(3, len(FAR_GAPS), requires_grad=True)  # p = 0.5 everywhere: BCE = ln 2
    loss = far_traffic_loss(logits, torch.tensor([30.0, NAN, INF]))
    assert loss.item() == pytest.approx(math.log(2.0), rel=1e-6)
    loss.backward()
    assert logits.grad[1].abs().sum() == 0  # the unknown sample teaches nothing
    none = far_traffic_loss(torch.zeros(2, len(FAR_GAPS)), torch.tensor([NAN, NAN]))
    assert none.item() == 0.0


class _SeesACarAt60m(nn.Module):
    """A stand-in network whose far read always says: an oncoming car about 60 m ahead."""

    far = True

    def forward(self, obs):
        B = obs.images.shape[0]
        logits = torch.tensor([5.0 if d > 60.0 else -5.0 for d in FAR_GAPS]).expand(B, -1)
        return DrivingOutput(
            action=torch.zeros(B, 2), plan=torch.zeros(B, 1, 3), speed=torch.zeros(B), far_traffic=logits
        )


def test_counts_worked_example():
    """Gaps 30, 80, none and unknown against a read that always says 60 m: at 50 m it misses the car
    at 30; at 75 m it finds it and false-alarms on the other two; the unknown frame is not counted."""
    clips = []
    for k, gap in enumerate((30.0, 80.0, INF, NAN)):
        c = synthetic_clip(batch=1, frames=2, seed=k)
        clips.append(replace(c, labels=replace(c.labels, oncoming_gap=torch.tensor([gap]))))
    counts = far_read_counts(_SeesACarAt60m(), clips, batch_size=3)
    row = {d: tuple(r.values()) for d, r in counts.items()}  # positives, hits, negatives, false alarms
    assert row == {
        "25": (0, 0, 3, 0),
        "50": (1, 0, 2, 0),
        "75": (1, 1, 2, 2),
        "100": (2, 2, 1, 1),
        "125": (2, 2, 1, 1),
    }
    table = far_read_table(counts)
    assert "| 75 m | 1: 100% | 2: 100% |" in table and "| 25 m | 0: - | 3: 0% |" in table
