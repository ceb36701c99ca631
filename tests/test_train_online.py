"""Online imitation / DAgger: takeover rules, and a short run that records interventions and trains."""

from __future__ import annotations

import json

import pytest
import torch

from e2edrive.commands.dagger import run_dagger
from e2edrive.core.reasons import Reason
from e2edrive.train.online import OnlineConfig, takeover


def test_takeover_rules():
    cfg = OnlineConfig()
    inf = float("inf")
    ttc = torch.tensor([1.0, inf, inf, inf, inf, 2.0])
    ego_d = torch.tensor([0.0, 1.5, 0.2, 0.0, 0.0, 0.0])
    target_d = torch.zeros(6)
    reason = torch.tensor([int(Reason.CRUISE)] * 3 + [int(Reason.STOP_RED_LIGHT)] * 2 + [int(Reason.CRUISE)])
    policy_accel = torch.tensor([0.0, 0.0, 0.0, 0.5, -2.5, 1.0])
    expert_accel = torch.tensor([0.0, 0.0, 0.0, -3.0, -3.0, 1.0])
    lane_d = torch.zeros(6)
    unsafe = takeover(ttc, ego_d, target_d, lane_d, reason, policy_accel, expert_accel, cfg)
    # TTC 1.0 < 1.5; 1.5 m off the line; fine; red light and not braking; red light and braking
    # within 1 m/s^2 of the expert; TTC 2 s is fine
    assert unsafe.tolist() == [True, True, False, True, False, False]


def test_lateral_takeover_spares_a_policy_that_keeps_its_lane():
    """The expert pulls out to pass (target 3.5 m left of the lane): a policy still in its lane is
    not unsafe under left_lane (its stall is recorded with the expert's labels) and is under the
    default rule; a policy that left its lane away from the expert's line is taken over either way."""
    inf = float("inf")
    ttc = torch.full((4,), inf)
    ego_d = torch.tensor([0.0, 0.8, 1.6, -1.2])  # in lane; drifting, inside 1 m; half out; out right
    target_d = torch.tensor([3.5, 3.5, 3.5, 0.0])  # the expert passes in the first three
    lane_d = torch.zeros(4)
    reason = torch.full((4,), int(Reason.PASS_STATIC_ANIMALS))
    accel = torch.zeros(4)
    args = (ttc, ego_d, target_d, lane_d, reason, accel, accel)
    new = takeover(*args, OnlineConfig(lateral_takeover="left_lane"))
    old = takeover(*args, OnlineConfig())
    assert new.tolist() == [False, False, True, True]
    assert old.tolist() == [True, True, True, True]


def test_seeds_must_stay_in_the_training_range(tmp_path):
    with pytest.raises(ValueError, match="training range"):
        run_dagger(OnlineConfig(out=str(tmp_path), first_seed=99_999, rounds=2, episodes_per_round=2))


@pytest.mark.slow  # renders and labels every frame: ~15 s alone, ~50 s on a loaded machine
def test_a_short_dagger_run_records_interventions_and_trains(tmp_path):
    from e2edrive.data.dataset import DrivingDataset

    cfg = OnlineConfig(
        out=str(tmp_path / "dagger"),
        model="ego_mlp",
        scenarios="lane_follow",
        rounds=2,
        episodes_per_round=1,
        num_envs=1,
        beta=0.0,
        max_episode_steps=6,
        train_steps=2,
        batch_size=4,
        lane_takeover=-1.0,
    )  # every frame "unsafe": all are interventions
    log = run_dagger(cfg)
    assert [row["round"] for row in log] == [0, 1] and log[-1]["step"] == 4
    assert log[0]["interventions"] == log[0]["frames"] == 6  # 1 episode x 6 steps
    data = DrivingDataset(tmp_path / "dagger/data", history=2)
    assert len(data.episodes) == 2  # aggregated over both rounds
    flags = data.index["flags"].to_pylist()
    assert all("expert_takeover" in f for f in flags)
    assert (tmp_path / "dagger/run/checkpoint/config.json").is_file()
    rows = [json.loads(x) for x in (tmp_path / "dagger/dagger_log.jsonl").read_text().splitlines()]
    assert len(rows) == 2
