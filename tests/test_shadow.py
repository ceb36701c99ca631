"""Shadow mode: the disagreement measure on worked examples, the wrapper driving exactly as the acting
driver does, and shadow columns recorded by collect and DAgger."""

import math

import pytest
import torch

from e2edrive.core.types import Action
from e2edrive.data.shadow import disagreement, plan_displacement
from e2edrive.eval.drivers import make_driver
from e2edrive.eval.runner import run_closed_loop
from e2edrive.eval.shadow import ShadowDriver


def test_plan_displacement_worked_example():
    a = torch.zeros(1, 10, 2)
    b = torch.stack([0.5 * torch.arange(1, 11, dtype=torch.float32), torch.zeros(10)], -1)[None]  # x = 0.5 i
    ade1, fde1 = plan_displacement(a, b, 5)  # 1 s = 5 poses at 0.2 s
    ade2, fde2 = plan_displacement(a, b, 10)
    assert ade1.item() == pytest.approx(1.5)  # mean(0.5, 1.0, ..., 2.5)
    assert fde1.item() == pytest.approx(2.5)
    assert ade2.item() == pytest.approx(2.75)  # mean(0.5, ..., 5.0)
    assert fde2.item() == pytest.approx(5.0)


def test_disagreement_controls_plans_and_reasons():
    act = Action(torch.tensor([0.1, 0.0]), torch.tensor([1.0, -2.0]))
    sh = Action(torch.tensor([0.0, 0.0]), torch.tensor([-1.0, -2.0]))
    plan = torch.zeros(2, 10, 2)
    shadow_plan = plan.clone()
    shadow_plan[0, :, 1] = 1.0  # one metre to the left at every pose
    d = disagreement(act, plan, ["a", "b"], sh, shadow_plan, ["a", "c"])
    torch.testing.assert_close(d.steer_diff, torch.tensor([0.1, 0.0]))
    torch.testing.assert_close(d.accel_diff, torch.tensor([2.0, 0.0]))
    torch.testing.assert_close(d.ade_1s, torch.tensor([1.0, 0.0]))
    torch.testing.assert_close(d.fde_2s, torch.tensor([1.0, 0.0]))
    assert d.reason_differs.tolist() == [False, True]
    none = disagreement(act, None, None, sh, shadow_plan, ["a", "c"])
    assert math.isnan(none.ade_2s[0].item()) and not none.reason_differs.any()


def test_shadow_driver_drives_as_the_acting_driver():
    pairs = [("follow_lead", 3), ("cut_in", 4)]
    alone = run_closed_loop(make_driver("expert"), pairs, num_envs=2, progress=False, max_steps=40)
    shadow = ShadowDriver(make_driver("expert"), make_driver("constant_velocity"))
    watched = run_closed_loop(shadow, pairs, num_envs=2, progress=False, max_steps=40)
    for a, b in zip(alone, watched):
        assert a.to_dict() == b.to_dict()  # the shadow never reaches the wheels
    summary = shadow.episode_summary[("follow_lead", 3)]
    assert summary["max_accel_diff"] >= summary["mean_accel_diff"] >= 0.0
    assert (
        math.isnan(summary["mean_ade_2s"]) or summary["mean_ade_2s"] == 0.0
    )  # constant velocity has no plan


def test_collect_with_a_shadow_network_records_its_disagreement(tmp_path):
    from e2edrive.commands.collect import CollectConfig, collect
    from e2edrive.data.dataset import DrivingDataset
    from e2edrive.model.checkpoint import save_checkpoint
    from e2edrive.model.config import make_config
    from e2edrive.model.driving_model import DrivingModel

    torch.manual_seed(0)
    ckpt = save_checkpoint(DrivingModel(make_config("tiny")), tmp_path / "net")
    cfg = CollectConfig(
        out=str(tmp_path / "d"), scenario="follow_lead", seeds="0:1", max_steps=6, shadow=str(ckpt)
    )
    collect(cfg)
    index = DrivingDataset(tmp_path / "d", history=1).index
    ade = index["shadow_ade_2s"].to_numpy()
    accel_diff = index["shadow_accel_diff"].to_numpy()
    assert len(ade) == 6 and (ade >= 0).all() and (accel_diff >= 0).all()  # finite: the network watched
    # the shadow_disagreement trigger fired exactly where the recorded disagreement crosses its thresholds
    from e2edrive.data import triggers as T

    steer = index["shadow_steer_diff"].to_numpy()
    differs = index["shadow_reason_differs"].to_numpy(zero_copy_only=False)
    expected = (
        (steer > T.SHADOW_STEER_DIFF) | (accel_diff > T.SHADOW_ACCEL_DIFF) | (ade > T.SHADOW_ADE_2S) | differs
    )
    flagged = ["shadow_disagreement" in f for f in index["flags"].to_pylist()]
    assert flagged == expected.tolist()
