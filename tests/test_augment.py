"""Training for robustness (train.augment): camera faults and dropped cameras in the training batch
change what they should and nothing else, are seeded, and a run trains with them."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from e2edrive.commands.train import main as train_main
from e2edrive.core.rig import make_rig
from e2edrive.sim.faults import CAMERA_FAULTS
from e2edrive.train.augment import augment_clip, draw_augment
from e2edrive.train.config import TrainConfig, config_mismatch
from e2edrive.train.loop import train
from e2edrive.train.synthetic import SyntheticClips, cat_clips

RIG = make_rig(height=16, width=32)


def _batch(n=24, label_grids=True):
    data = SyntheticClips(n, history=3, rig=RIG, label_grids=label_grids)
    return cat_clips([data[i] for i in range(n)])


def test_off_is_the_same_batch():
    clip = _batch(4)
    assert augment_clip(clip, 0.0, 0.0, seed=3) is clip
    with pytest.raises(ValueError, match="fault_p"):
        augment_clip(clip, 1.5, 0.0, seed=3)


def test_faults_change_the_frames_of_the_clips_drawn_and_only_those():
    clip = _batch()
    B, T, N = clip.obs.images.shape[:3]
    out = augment_clip(clip, 0.5, 0.0, seed=7)
    d = draw_augment(B, N, 0.5, 0.0, seed=7)
    assert 0 < int(d.hit.sum()) < B
    changed = (out.obs.images != clip.obs.images).flatten(1).any(1)  # (B,)
    assert not changed[~d.hit].any()  # clips without a fault are bit-identical
    # A fault may leave a clip as it was (a camera that has not frozen yet), but most show it.
    assert changed[d.hit].float().mean() > 0.7
    crash = d.hit & (d.fault == CAMERA_FAULTS.index("camera_crash"))
    flagged = (~out.obs.camera_valid).flatten(1).any(1)
    assert torch.equal(flagged, crash)  # only a crashed camera is reported; other faults are silent
    for b in crash.nonzero().flatten().tolist():
        dead = ~out.obs.camera_valid[b, 0]  # (N,) the same cameras in every frame
        assert (~out.obs.camera_valid[b] == dead).all() and (out.obs.images[b][:, dead] == 0).all()
    assert out.labels is clip.labels and torch.equal(out.meta, clip.meta)


def test_camera_dropout_masks_cameras_for_the_whole_clip_and_leaves_the_frames():
    clip = _batch()
    B, T, N = clip.obs.images.shape[:3]
    out = augment_clip(clip, 0.0, 0.25, seed=11)
    d = draw_augment(B, N, 0.0, 0.25, seed=11)
    assert torch.equal(out.obs.images, clip.obs.images)
    assert torch.equal(out.obs.camera_valid, ~d.dropped[:, None].expand(B, T, N))
    assert 0.1 < d.dropped.float().mean() < 0.4


def test_seeded_and_fog_needs_depth():
    clip = _batch()
    a, b, c = (augment_clip(clip, 1.0, 0.2, seed=s) for s in (5, 5, 6))
    assert torch.equal(a.obs.images, b.obs.images) and torch.equal(a.obs.camera_valid, b.obs.camera_valid)
    assert not torch.equal(a.obs.images, c.obs.images)
    # Labels without a depth map: fog is never drawn, the rest still is.
    no_depth = draw_augment(400, 8, 1.0, 0.0, seed=1, fog=False)
    assert not (no_depth.fault == CAMERA_FAULTS.index("fog")).any()
    assert len(no_depth.fault.unique()) == len(CAMERA_FAULTS) - 1
    flat = _batch(8, label_grids=False)
    assert augment_clip(flat, 1.0, 0.0, seed=2).obs.images.shape == flat.obs.images.shape


def test_training_with_augmentation_runs_and_old_runs_still_resume(tmp_path):
    cfg = TrainConfig(
        data="synthetic:16",
        out=str(tmp_path / "run"),
        model="probe",
        batch_size=8,
        max_steps=2,
        progress=False,
        fault_aug=0.5,
        camera_dropout=0.1,
    )
    state = train(cfg, dataset=SyntheticClips(16, history=2, rig=RIG, label_grids=False))
    assert state.step == 2 and state.config["fault_aug"] == 0.5
    # A run stored before these fields existed trained without them: it resumes with them off ...
    old = {k: v for k, v in dataclasses.asdict(cfg).items() if k not in TrainConfig.ADDED_FIELDS}
    assert config_mismatch(old, dataclasses.replace(cfg, fault_aug=0.0, camera_dropout=0.0)) == []
    # ... and not with them on, which would train something else.
    assert config_mismatch(old, cfg) == [
        "fault_aug: checkpoint has 0.0, now 0.5",
        "camera_dropout: checkpoint has 0.0, now 0.1",
    ]


def test_cli_flags(tmp_path, capsys):
    common = ["--data", "synthetic:16", "--model", "ego_mlp", "--batch-size", "8", "--no-progress"]
    common += ["--threads", "1", "--max-steps", "1"]
    assert (
        train_main([*common, "--out", str(tmp_path / "a"), "--fault-aug", "0.5", "--camera-dropout", "0.1"])
        == 0
    )
    capsys.readouterr()
    assert train_main([*common, "--out", str(tmp_path / "b"), "--fault-aug", "2"]) == 2
    err = capsys.readouterr().err
    assert "--fault-aug must be a probability" in err and err.count("\n") == 1
