"""The world model's measurements (issue 10's figures): worked examples of the scores, and each
measurement run end to end at a tiny scale on an untrained model (what an untrained model must
score is known: its zero-initialised heads repeat the last frame, keep agents still and move the
ego by the kinematic prior)."""

from __future__ import annotations

import json
import math

import pytest
import torch

from e2edrive.core.rig import make_rig
from e2edrive.worldmodel.agreement import agreement, closed_loop_agreement, merge
from e2edrive.worldmodel.config import tiny
from e2edrive.worldmodel.evaluate import evaluate_fidelity, masked_psnr, moving_mask
from e2edrive.worldmodel.inject_eval import bev_iou, box_pixel_mask, evaluate_injection
from e2edrive.worldmodel.model import WorldModel
from e2edrive.worldmodel.probe import EgoProbe, action_following, spearman, train_probe

SMALL_RIG = make_rig(16, 32)


def _small_model(seed: int = 0) -> WorldModel:
    torch.manual_seed(seed)
    return WorldModel(tiny(SMALL_RIG)).eval()


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    """16 x 32 episodes of lane_follow: two 16-frame ones by the expert, two by constant velocity
    (which leaves the road soon), recorded at once into one directory by two workers."""
    from e2edrive.cli import main

    out = tmp_path_factory.mktemp("wm_measure") / "ds"
    common = ["--out", str(out), "--scenario", "lane_follow", "--seeds", "0:2", "--num-envs", "2"]
    common += ["--max-steps", "16", "--height", "16", "--width", "32"]
    assert main(["worldmodel", "collect", *common, "--worker", "0", "--noise", "0.1"]) == 0
    assert main(["worldmodel", "collect", *common, "--worker", "1", "--driver", "constant_velocity"]) == 0
    return out


# --- scores, worked examples ------------------------------------------------------------------------


def test_spearman_worked_examples():
    assert spearman([1, 2, 3, 4], [10, 20, 30, 40]) == pytest.approx(1.0)
    assert spearman([1, 2, 3, 4], [4, 3, 2, 1]) == pytest.approx(-1.0)
    # one swap of neighbours among five: 1 - 6 * 2 / (5 * 24) = 0.9
    assert spearman([1, 2, 3, 4, 5], [1, 3, 2, 4, 5]) == pytest.approx(0.9)
    assert spearman([1, 2, 2, 3], [1, 2, 2, 3]) == pytest.approx(1.0)  # ties share a rank
    assert math.isnan(spearman([1, 2, 3], [5, 5, 5]))


def test_bev_iou_worked_examples():
    box = torch.tensor([0.0, 0.0, 0.75, 4.0, 2.0, 1.5, 0.0, 0.0, 0.0])
    shifted = box.clone()
    shifted[0] = 2.0  # half its length ahead: overlap 2 x 2 of a union 6 x 2
    turned = box.clone()
    turned[6] = math.pi  # the same rectangle
    far = box.clone()
    far[1] = 10.0
    iou = bev_iou(torch.stack([box, box, box, box]), torch.stack([box, shifted, turned, far]), grid=128)
    assert iou.tolist() == pytest.approx([1.0, 1 / 3, 1.0, 0.0], abs=0.03)


def test_masked_psnr_counts_only_the_masked_pixels():
    pred = torch.zeros(2, 3, 4, 4, dtype=torch.uint8)
    target = pred.clone()
    target[:, :, 0, 0] = 255  # one wrong pixel in each camera
    mask = torch.ones(2, 4, 4, dtype=torch.bool)
    mask[0, 0, 0] = False  # camera 0 ignores it: a perfect match (PSNR capped)
    mask[1] = False  # camera 1 has no pixel
    got = masked_psnr(pred, target, mask)
    assert got[0].item() == pytest.approx(100.0) and math.isnan(got[1].item())
    sem = torch.tensor([[1, 8], [9, 0]])  # road, vehicle, pedestrian, sky
    assert moving_mask(sem).tolist() == [[False, True], [True, False]]


def test_box_pixel_mask_covers_a_car_ahead_only_in_the_front_cameras():
    rig = make_rig()
    car = torch.tensor([15.0, 0.0, 0.75, 4.5, 1.8, 1.5, 0.0, 0.0, 0.0])
    mask = box_pixel_mask(rig, car)
    names = list(rig.names)
    assert mask[names.index("front_main")].any() and not mask[names.index("rear_main")].any()
    assert not mask[names.index("front_main")].all()  # a car 15 m ahead is not the whole image


def test_agreement_scores_from_known_episodes():
    def ep(score: float, hit: bool) -> dict:
        return {"driving_score": score, "route_completion": score / 100, "collisions": {"vehicle": int(hit)}}

    episodes = {
        "good": {"real": [ep(90, False), ep(80, False)], "free": [ep(85, False), ep(70, True)]},
        "bad": {"real": [ep(20, True), ep(30, True)], "free": [ep(25, True), ep(40, False)]},
    }
    got = agreement(episodes, "free")
    assert got["rank_driving_score"] == pytest.approx(1.0)
    # real collisions: bad x2; dreamed: good #2, bad #1 -> TP 1, FP 1, FN 1
    assert got["collision_precision"] == pytest.approx(0.5) and got["collision_recall"] == pytest.approx(0.5)


# --- measurements at tiny scale -------------------------------------------------------------------


def test_fidelity_reports_static_and_moving_pixels_and_a_summary(dataset):
    result = evaluate_fidelity(_small_model(), str(dataset), max_windows=2)
    assert result["horizons_s"] == [0.5, 1.0]  # 16-frame episodes: 2 s and 5 s are left out
    scores = result["scores"]["dream"]["1"]
    assert {"psnr", "psnr_static", "psnr_moving", "depth_abs_rel", "miou"} <= set(scores)
    row = result["summary"]["1"]
    sources = {"dream", "dream_residual", "repeat_last", "ceiling", "ceiling_residual"}
    assert set(row) == sources | {"dream_beats_repeat_last", "dream_residual_beats_repeat_last"}
    # an untrained dynamics model repeats the last latent: its dream is the ceiling of the last frame
    json.dumps(result, allow_nan=False)


def test_probe_learns_and_action_following_ranks_the_simulator_and_the_ego_head(dataset):
    probe, stats = train_probe(str(dataset), steps=3, batch_size=4, val_data=str(dataset))
    assert stats["steps"] == 3 and stats["val"]["pairs"] > 0
    odom = probe.read(torch.zeros(2, 3, 8, 3, 16, 32, dtype=torch.uint8))
    assert odom.shape == (2, 2, 3)
    result = action_following(_small_model(), probe, [("lane_follow", 5)], steps=6)
    summary = result["summary"]
    # the simulator obeys: more throttle goes further, more left steering turns more to the left
    assert summary["real_truth"]["rank_accel"]["mean"] == pytest.approx(1.0)
    assert summary["real_truth"]["rank_steer"]["mean"] == pytest.approx(1.0)
    # an untrained dream's ego head is the kinematic prior: it ranks the commands the same way
    assert summary["dream_ego_head"]["rank_accel"]["mean"] == pytest.approx(1.0)
    assert set(result["contexts"][0]["read_back"]) == {"dream", "real", "dream_ego_head", "real_truth"}
    json.dumps(result, allow_nan=False)


def test_policy_eyes_scores_real_and_dreamed_frames(dataset):
    from e2edrive.model.config import make_config
    from e2edrive.model.driving_model import DrivingModel
    from e2edrive.worldmodel.policy_eyes import policy_eyes

    torch.manual_seed(0)
    policy = DrivingModel(make_config("tiny", rig=SMALL_RIG)).eval()
    result = policy_eyes(_small_model(), policy, str(dataset), horizon_s=0.5, history=2, max_windows=2)
    assert result["windows"] == 2
    for src in ("real", "dream", "dream_residual"):
        assert 0.0 <= result[src]["light_acc"] <= 1.0
    assert set(result["ratio_residual"]) == set(result["ratio"])
    with pytest.raises(ValueError, match="history of 7 frames"):
        policy_eyes(_small_model(), policy, str(dataset), horizon_s=0.5, history=7)


def test_closed_loop_agreement_runs_every_driver_it_has(tmp_path):
    model = _small_model()
    partial = []
    result = closed_loop_agreement(
        model,
        [("cut_in", 0), ("lane_follow", 1)],
        checkpoints=tmp_path,
        max_steps=2,
        on_driver=partial.append,
    )
    assert result["drivers"] == ["expert", "expert_noisy", "constant_velocity"]
    assert len(result["skipped"]) == 3 and "dave2" in " ".join(result["skipped"])
    assert len(partial) == 3 and partial[0]["drivers"] == ["expert"]  # written after each driver
    for name in result["drivers"]:
        assert set(result["episodes"][name]) == {"real", "agent_conditioned", "free"}
        # the simulator's episode began with the context: its K - 1 expert steps count there too
        assert all(e["steps"] == 2 + model.cfg.context - 1 for e in result["episodes"][name]["real"])
        assert all(e["steps"] == 2 for e in result["episodes"][name]["free"])
    assert set(result["agreement"]) == {"agent_conditioned", "free"}
    json.dumps(result, allow_nan=False)
    # one driver per process, joined afterwards: the same figures
    alone = closed_loop_agreement(
        model,
        [("cut_in", 0), ("lane_follow", 1)],
        checkpoints=tmp_path,
        max_steps=2,
        names=["constant_velocity"],
    )
    joined = merge([partial[1], alone])
    assert joined["drivers"] == ["expert", "expert_noisy", "constant_velocity"]
    assert joined["agreement"] == result["agreement"] and joined["episodes"] == result["episodes"]


def test_injection_of_an_untrained_model_leaves_the_other_pixels_unchanged():
    result = evaluate_injection(_small_model(), [("lane_follow", 0)], steps=3)
    assert len(result["episodes"][0]["box_iou"]) == 3
    # zero-initialised heads keep the car still: the predicted box is the box held still
    assert result["box_iou"]["mean"] == pytest.approx(result["box_iou_hold"]["mean"], abs=0.05)
    # and no agent token reaches the latents yet: away from the car, nothing changes
    assert result["away_psnr_change_db"]["max_abs"] == pytest.approx(0.0, abs=1e-6)


def test_probe_reads_two_frames_of_every_camera():
    probe = EgoProbe(num_cameras=8)
    out = probe(torch.zeros(3, 2, 8, 3, 16, 32, dtype=torch.uint8))
    assert out.shape == (3, 3)


# --- CLI and the time-capped trainer ----------------------------------------------------------------


def test_collect_with_a_driver_tags_its_episodes(dataset):
    from e2edrive.data.dataset import read_index

    index = read_index(dataset)[0]
    drivers = {}
    for episode, tags in zip(index["episode"].to_pylist(), index["tags"].to_pylist()):
        drivers[episode] = next(t for t in tags if t.startswith("driver="))
    assert sorted(drivers.values()) == ["driver=constant_velocity"] * 2 + ["driver=expert"] * 2


def _train_log(dataset, out, **budget) -> list[dict]:
    """Train the world model on `dataset` into `out` with a time budget; its log rows."""
    from e2edrive.worldmodel.train import WorldModelTrainConfig, train_worldmodel

    cfg = WorldModelTrainConfig(data=str(dataset), out=str(out), batch_size=1, progress=False, **budget)
    train_worldmodel(cfg)
    return [json.loads(line) for line in (out / "train_log.jsonl").read_text().splitlines()]


def test_train_phase_seconds_ends_each_phase_early(dataset, tmp_path):
    rows = _train_log(dataset, tmp_path / "wm", tokenizer_steps=1000, dynamics_steps=1000, phase_seconds=1e-6)
    stopped = [r for r in rows if "stopped_at_step" in r]
    assert [(r["phase"], r["stopped_at_step"]) for r in stopped] == [("tokenizer", 1), ("dynamics", 1)]
    assert (tmp_path / "wm" / "checkpoint" / "model.safetensors").is_file()


def test_train_dynamics_seconds_budgets_the_dynamics_alone(dataset, tmp_path):
    rows = _train_log(dataset, tmp_path / "wm", tokenizer_steps=3, dynamics_steps=1000, dynamics_seconds=1e-6)
    stopped = [(r["phase"], r["stopped_at_step"]) for r in rows if "stopped_at_step" in r]
    assert stopped == [("dynamics", 1)]  # the tokenizer ran its 3 steps: phase_seconds is 0
    assert max(r["step"] for r in rows if r.get("phase") == "tokenizer" and "step" in r) == 3


def test_cli_measure_verbs_write_json(dataset, tmp_path):
    from e2edrive.cli import main
    from e2edrive.worldmodel.train import save_checkpoint

    save_checkpoint(tmp_path, _small_model(), {"phase": 2, "step": 0, "optimizer": None, "train_config": {}})
    out = tmp_path / "inject.json"
    argv = ["worldmodel", "inject", "--worldmodel", str(tmp_path), "--seeds", "0:1", "--steps", "2"]
    assert main([*argv, "--out", str(out)]) == 0
    assert json.loads(out.read_text())["steps"] == 2
    assert main(["worldmodel", "eyes", "--worldmodel", str(tmp_path)]) == 2  # eyes needs --data, --policy


def test_batches_read_ahead_by_workers_are_the_batches_of_the_loop(dataset):
    from e2edrive.worldmodel.data import WindowDataset
    from e2edrive.worldmodel.train import WorldModelTrainConfig, _batches

    windows = WindowDataset(dataset, 7)
    cfg = WorldModelTrainConfig(data=str(dataset), out="unused", batch_size=2)
    inline = list(_batches(windows, cfg, phase=1, start=3, stop=6))
    cfg.num_workers = 1
    ahead = list(_batches(windows, cfg, phase=1, start=3, stop=6))
    assert len(inline) == len(ahead) == 3
    for a, b in zip(inline, ahead):
        assert torch.equal(a.images, b.images) and torch.equal(a.action, b.action)
