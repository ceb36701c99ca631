"""RegNet key compatibility with torchvision, pretrained loading, checkpoints and the registry."""

from __future__ import annotations

import json

import pytest
import torch

from e2edrive.core.rig import DEFAULT_MOUNTS, make_rig
from e2edrive.model.checkpoint import config_to_dict, load_checkpoint, save_checkpoint
from e2edrive.model.config import make_config
from e2edrive.model.driving_model import DrivingModel
from e2edrive.model.registry import MODELS, get_model_class
from e2edrive.model.regnet import (
    REGNET_Y_400MF,
    RegNetEncoder,
    RegNetSpec,
    backbone_state_dict,
    load_torchvision_weights,
)
from e2edrive.model.synthetic import synthetic_clip


def test_regnet_y_400mf_matches_torchvision_layout():
    assert REGNET_Y_400MF.widths == (48, 104, 208, 440) and REGNET_Y_400MF.depths == (1, 3, 6, 6)
    enc = RegNetEncoder(REGNET_Y_400MF, 64)
    state = backbone_state_dict(enc)
    # torchvision's regnet_y_400mf has 4,344,144 parameters, of which the classifier fc is 440 * 1000 + 1000.
    n = sum(
        v.numel()
        for k, v in state.items()
        if not k.endswith(("running_mean", "running_var", "num_batches_tracked"))
    )
    assert n == 4_344_144 - 441_000
    for key in (
        "stem.0.weight",
        "stem.1.running_var",
        "trunk_output.block1.block1-0.f.a.0.weight",
        "trunk_output.block1.block1-0.proj.0.weight",
        "trunk_output.block2.block2-2.f.b.0.weight",
        "trunk_output.block4.block4-5.f.se.fc1.bias",
        "trunk_output.block4.block4-5.f.c.1.weight",
    ):
        assert key in state, key
    assert state["trunk_output.block3.block3-1.f.b.0.weight"].shape == (208, 8, 3, 3)  # groups of 8 channels
    assert state["trunk_output.block2.block2-0.f.se.fc1.weight"].shape == (
        12,
        104,
        1,
        1,
    )  # 0.25 of width_in 48


def test_load_torchvision_weights(tmp_path):
    src = RegNetEncoder(REGNET_Y_400MF, 64)
    state = {k: torch.randn_like(v.float()).to(v.dtype) for k, v in backbone_state_dict(src).items()}
    state["fc.weight"], state["fc.bias"] = torch.zeros(1000, 440), torch.zeros(1000)  # dropped on load
    path = tmp_path / "regnet_y_400mf.pth"
    torch.save(state, path)
    dst = RegNetEncoder(REGNET_Y_400MF, 64)
    keys = load_torchvision_weights(dst, path)
    assert "fc.weight" not in keys and len(keys) == len(backbone_state_dict(dst))
    got = backbone_state_dict(dst)
    assert all(torch.equal(got[k], state[k]) for k in got)
    with pytest.raises(ValueError, match="no pretrained weights given"):
        load_torchvision_weights(dst, None)
    with pytest.raises(FileNotFoundError):
        load_torchvision_weights(dst, tmp_path / "nope.pth")
    with pytest.raises(ValueError, match="does not match this RegNet"):
        load_torchvision_weights(RegNetEncoder(RegNetSpec(8, (16, 48, 96), (1, 1, 2), 8), 64), path)


def test_checkpoint_round_trip(tmp_path):
    torch.manual_seed(0)
    m = DrivingModel(make_config("tiny")).eval()
    clip = synthetic_clip(batch=1, frames=2, seed=4)
    with torch.no_grad():
        ref = m(clip.obs)
    save_checkpoint(m, tmp_path / "ck", extra={"step": 7})
    assert sorted(p.name for p in (tmp_path / "ck").iterdir()) == [
        "config.json",
        "model.safetensors",
    ]  # no temp
    loaded = load_checkpoint(
        tmp_path / "ck", expect_model="driving", rig=make_rig(), expect_config=make_config("tiny")
    ).eval()
    assert isinstance(loaded, DrivingModel) and config_to_dict(loaded.config) == config_to_dict(m.config)
    with torch.no_grad():
        out = loaded(clip.obs)
    assert torch.equal(out.action, ref.action) and torch.equal(out.occupancy, ref.occupancy)
    assert json.loads((tmp_path / "ck" / "config.json").read_text())["extra"] == {"step": 7}


def test_checkpoint_mismatch_errors(tmp_path):
    m = DrivingModel(make_config("tiny"))
    d = save_checkpoint(m, tmp_path / "ck")
    with pytest.raises(ValueError, match="holds model 'driving', expected 'dave2'"):
        load_checkpoint(d, expect_model="dave2")
    mounts = dict(DEFAULT_MOUNTS)
    mounts["front_main"] = (1.9, 0.0, 1.35, 0.0, 0.0, 50.0)  # another lens
    with pytest.raises(ValueError, match="another rig: intrinsics K.*front_main"):
        load_checkpoint(d, rig=make_rig(mounts=mounts))
    with pytest.raises(ValueError, match=r"differs from the expected one in fields \['channels'\]"):
        load_checkpoint(d, expect_config=make_config("tiny", channels=32))
    meta = json.loads((d / "config.json").read_text())
    meta["config"]["bev_magic"] = 3
    (d / "config.json").write_text(json.dumps(meta))
    with pytest.raises(ValueError, match=r"unknown fields \['bev_magic'\]"):
        load_checkpoint(d)
    # a field added later loads with the value older checkpoints computed; any other missing one fails
    del meta["config"]["bev_magic"], meta["config"]["planner_corridor"]
    (d / "config.json").write_text(json.dumps(meta))
    assert load_checkpoint(d).config.planner_corridor is False
    del meta["config"]["channels"]
    (d / "config.json").write_text(json.dumps(meta))
    with pytest.raises(ValueError, match=r"missing fields \['channels'\]"):
        load_checkpoint(d)
    with pytest.raises(FileNotFoundError, match="config.json is missing"):
        load_checkpoint(tmp_path / "empty")
    # Weights that do not fit the config are reported by name, not as a bare torch error.
    other = save_checkpoint(DrivingModel(make_config("tiny", channels=32)), tmp_path / "c32")
    meta = json.loads((other / "config.json").read_text())
    meta["config"]["channels"] = 64
    (other / "config.json").write_text(json.dumps(meta))
    with pytest.raises(ValueError, match="weights do not fit 'driving'.*wrong shapes"):
        load_checkpoint(other)


def test_registry():
    assert MODELS["driving"] is DrivingModel and get_model_class("driving") is DrivingModel
    with pytest.raises(KeyError, match="unknown model 'nope'"):
        get_model_class("nope")
    with pytest.raises(ValueError, match="need equal length"):
        make_config("tiny", widths=(16, 32))
