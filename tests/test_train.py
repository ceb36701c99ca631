"""The imitation trainer: it learns, logs, validates open loop, and refuses bad input clearly."""

from __future__ import annotations

import json
import math

import pytest
import torch

from e2edrive.commands.train import main as train_main
from e2edrive.core.constants import PLAN_STEPS
from e2edrive.core.rig import make_rig
from e2edrive.core.types import Labels
from e2edrive.eval.suites import seed_overlap
from e2edrive.model.open_loop import OpenLoopMetrics, horizon_index
from e2edrive.model.output import DrivingOutput
from e2edrive.train.checkpoint import find_checkpoint, load_trainer_state, seeds_to_ranges
from e2edrive.train.config import TrainConfig
from e2edrive.train.loop import _lr, train
from e2edrive.train.synthetic import SyntheticClips


def _cfg(tmp_path, **kw) -> TrainConfig:
    base = dict(
        data="synthetic:64",
        out=str(tmp_path / "run"),
        model="probe",
        epochs=2,
        batch_size=8,
        checkpoint_every=1000,
        log_every=1,
        progress=False,
        lr=3e-3,
        warmup_steps=2,
    )
    base.update(kw)
    return TrainConfig(**base)


def test_training_lowers_the_validation_loss_and_writes_a_checkpoint(tmp_path):
    small = make_rig(height=8, width=16)
    state = train(
        _cfg(tmp_path, epochs=6),
        dataset=SyntheticClips(64, rig=small, label_grids=False),
        val_dataset=SyntheticClips(32, rig=small, label_grids=False),
    )
    assert state.step == 6 * 64 // 8 and state.epoch == 6
    first, last = state.history[0], state.history[-1]
    assert last["steer_err"] < 0.6 * first["steer_err"] and last["l2_2s"] < first["l2_2s"]
    assert last["l2_3s"] is None  # beyond the 2 s plan: not available, not invented
    assert (tmp_path / "run/checkpoint/trainer_state.pt").is_file()
    rows = [json.loads(line) for line in (tmp_path / "run/train_log.jsonl").read_text().splitlines()]
    steps = [r for r in rows if "step" in r and "loss" in r]
    assert {"loss/plan", "loss/action", "loss/speed", "samples_per_s", "lr", "grad_norm"} <= set(steps[0])
    assert sum("validation" in r for r in rows) == 6
    assert state.train_seeds == {"synthetic": [[0, 4]]}  # 64 clips = 4 synthetic episodes


def test_max_steps_stops_mid_epoch(tmp_path):
    state = train(
        _cfg(tmp_path, max_steps=5), dataset=SyntheticClips(64, rig=make_rig(8, 16), label_grids=False)
    )
    assert state.step == 5 and state.epoch == 0 and state.batch_in_epoch == 5


def test_learning_rate_schedule_warms_up_then_decays_to_a_tenth(tmp_path):
    cfg = _cfg(tmp_path, lr=1.0, warmup_steps=10)
    assert _lr(0, 100, cfg) == pytest.approx(0.1)
    assert _lr(9, 100, cfg) == pytest.approx(1.0)
    assert _lr(10, 100, cfg) == pytest.approx(1.0)
    assert _lr(55, 100, cfg) == pytest.approx(0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * 0.5)))
    assert _lr(100, 100, cfg) == pytest.approx(0.1)


def test_plan_horizons_map_to_pose_indices():
    assert horizon_index(1.0) == 4 and horizon_index(2.0) == 9
    assert horizon_index(3.0) is None  # the plan covers PLAN_STEPS * 0.2 s = 2 s
    with pytest.raises(ValueError, match="multiple"):
        horizon_index(0.3)


def _labels(plan: torch.Tensor, action: torch.Tensor) -> Labels:
    B = plan.shape[0]
    z = torch.zeros(B)
    return Labels(
        occupancy=z,
        flow=z,
        boxes=z,
        box_class=z,
        box_valid=z,
        lanes=z,
        lane_polylines=z,
        lane_polyline_type=z,
        lane_polyline_valid=z,
        drivable=z,
        traffic_light=torch.tensor([1, 2]),
        depth=z,
        semantics=z,
        expert_plan=plan,
        expert_speed=torch.full((B,), 10.0),
        expert_action=action,
        reason=torch.tensor([0, 3]),
    )


def test_open_loop_metrics_on_a_worked_example():
    expert = torch.zeros(2, PLAN_STEPS, 3)
    pred = expert.clone()
    pred[0, 4, :2] = torch.tensor([3.0, 4.0])  # sample 0 is 5 m off at 1 s
    pred[1, 9, :2] = torch.tensor([6.0, 8.0])  # sample 1 is 10 m off at 2 s
    out = DrivingOutput(
        action=torch.tensor([[0.1, 1.0], [0.0, -2.0]]),
        plan=pred,
        speed=torch.tensor([10.0, 12.0]),
        traffic_light=torch.tensor([[0, 5.0, 0, 0], [0, 5.0, 0, 0]]),
    )
    m = OpenLoopMetrics()
    m.update(out, _labels(expert, torch.zeros(2, 2)))
    r = m.compute()
    assert r["l2_1s"] == pytest.approx(2.5) and r["l2_2s"] == pytest.approx(5.0) and r["l2_3s"] is None
    assert r["ade"] == pytest.approx((5 / 10 + 10 / 10) / 2)
    assert r["steer_err"] == pytest.approx(0.05) and r["accel_err"] == pytest.approx(1.5)
    assert r["speed_err"] == pytest.approx(1.0) and r["light_acc"] == pytest.approx(0.5)
    assert "reason_acc" not in r  # no reason head: no metric


def test_open_loop_metrics_refuse_an_empty_set():
    with pytest.raises(ValueError, match="empty"):
        OpenLoopMetrics().compute()


def test_seed_sets_are_stored_as_ranges_and_overlap_is_found():
    ranges = seeds_to_ranges([("a", 3), ("a", 1), ("a", 2), ("a", 7), ("b", 0)])
    assert ranges == {"a": [[1, 4], [7, 8]], "b": [[0, 1]]}
    assert seed_overlap(ranges, "a", range(0, 10)) == [1, 2, 3, 7]
    assert seed_overlap(ranges, "c", range(0, 10)) == []


def test_bad_data_gives_clear_errors(tmp_path):
    with pytest.raises(ValueError, match="synthetic:N"):
        train(_cfg(tmp_path, data="synthetic:abc"))
    with pytest.raises(FileNotFoundError, match="does not exist"):
        train(_cfg(tmp_path, data=str(tmp_path / "nowhere")))
    with pytest.raises(ValueError, match="fewer than one global batch"):
        train(_cfg(tmp_path, data="synthetic:4"))
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(Exception, match="meta.json|empty|no "):
        train(_cfg(tmp_path, data=str(empty)))


def test_a_corrupt_dataset_is_reported(tmp_path):
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "meta.json").write_text("{ not json")
    with pytest.raises(Exception, match="meta.json"):
        train(_cfg(tmp_path, data=str(bad)))


def test_resume_refuses_a_different_config_and_existing_runs_need_resume(tmp_path):
    with pytest.raises(FileNotFoundError, match="no checkpoint"):
        train(_cfg(tmp_path, resume=True))
    train(_cfg(tmp_path, max_steps=2))
    with pytest.raises(FileExistsError, match="--resume"):
        train(_cfg(tmp_path, max_steps=4))
    with pytest.raises(ValueError, match="batch_size: checkpoint has 8, now 16"):
        train(_cfg(tmp_path, resume=True, batch_size=16))


def test_a_corrupt_trainer_state_is_reported(tmp_path):
    train(_cfg(tmp_path, max_steps=2))
    (tmp_path / "run/checkpoint/trainer_state.pt").write_bytes(b"garbage")
    with pytest.raises(ValueError, match="corrupt"):
        train(_cfg(tmp_path, resume=True))


def test_cli_trains_and_reports_errors(tmp_path, capsys):
    out = str(tmp_path / "cli")
    assert (
        train_main(
            [
                "--data",
                "synthetic:16",
                "--out",
                out,
                "--model",
                "probe",
                "--epochs",
                "1",
                "--batch-size",
                "8",
                "--no-progress",
            ]
        )
        == 0
    )
    assert "trained 2 steps" in capsys.readouterr().out
    assert train_main(["--data", "synthetic:16", "--out", out, "--model", "probe", "--no-progress"]) == 2
    assert "--resume" in capsys.readouterr().err


def test_a_time_limit_stops_training_early_with_a_checkpoint(tmp_path):
    small = make_rig(height=8, width=16)
    data = SyntheticClips(64, rig=small, label_grids=False)
    state = train(_cfg(tmp_path, epochs=10_000, time_limit_min=0.02), dataset=data)  # 1.2 s
    assert 5 <= state.step < 10_000 * 8
    saved = load_trainer_state(find_checkpoint(tmp_path / "run"))
    assert saved.step == state.step


def test_tensorboard_is_optional_and_says_how_to_get_it(tmp_path):
    small = SyntheticClips(16, rig=make_rig(height=8, width=16), label_grids=False)
    try:
        import tensorboard  # noqa: F401
    except ImportError:
        with pytest.raises(ImportError, match="pip install tensorboard"):
            train(_cfg(tmp_path, tensorboard=True, max_steps=1), dataset=small)
    else:
        train(_cfg(tmp_path, tensorboard=True, max_steps=2), dataset=small)
        assert any((tmp_path / "run" / "tensorboard").iterdir())
