"""DrivingModel: shapes, bounds, gradients to the pixels, streaming = clip, camera masking, bad input."""

from __future__ import annotations

import math
from dataclasses import replace

import pytest
import torch

from e2edrive.core.constants import (
    MAX_ACCEL,
    MAX_STEER,
    MIN_ACCEL,
    NUM_OBJECT_CLASSES,
    PLAN_STEPS,
    BevGrid,
)
from e2edrive.core.reasons import MAX_SENTENCE_TOKENS, NUM_REASONS, REASON_TEXT, VOCAB, Reason
from e2edrive.core.rig import DEFAULT_MOUNTS, make_rig
from e2edrive.core.types import Observation
from e2edrive.model.bev import bev_cell_centres, reference_points
from e2edrive.model.config import PRESETS, make_config
from e2edrive.model.driving_model import DrivingModel, describe
from e2edrive.model.planner import bound_controls
from e2edrive.model.synthetic import synthetic_clip
from e2edrive.model.temporal import warp_bev


@pytest.fixture(scope="module")
def model() -> DrivingModel:
    torch.manual_seed(0)
    return DrivingModel(make_config("tiny"))


@pytest.fixture(scope="module")
def clip():
    return synthetic_clip(batch=2, frames=3, seed=1)


def test_output_shapes_and_bounds(model, clip):
    out = model(clip.obs)
    g = model.config.bev_grid
    assert (g.nx, g.ny, g.nz) == (32, 24, 8)  # the documented tiny grid
    assert out.action.shape == (2, 2) and out.plan.shape == (2, PLAN_STEPS, 3) and out.speed.shape == (2,)
    assert out.occupancy.shape == (2, 8, 32, 24) and out.flow.shape == (2, 2, 32, 24)
    assert out.obj_heatmap.shape == (2, NUM_OBJECT_CLASSES, 32, 24) and out.obj_box.shape == (2, 8, 32, 24)
    assert out.lanes.shape == (2, 2, 32, 24) and out.drivable.shape == (2, 32, 24)
    assert out.traffic_light.shape == (2, 4) and out.reason.shape == (2, NUM_REASONS)
    assert out.depth.shape == (2, 8, 8, 16)  # stride 8 on 64 x 128
    assert out.semantics is None  # the semantic presence head is optional, off by default
    assert out.sentence.shape == (2, MAX_SENTENCE_TOKENS - 1, len(VOCAB))
    assert (out.action[:, 0].abs() <= MAX_STEER).all() and (out.speed >= 0).all()
    words = " ".join(model.explain(out)).replace(":", " ").split()
    assert set(words) <= set(VOCAB)


def test_bound_controls_reach_actuator_limits():
    big = torch.tensor([[50.0, 50.0], [-50.0, -50.0], [0.0, 0.0]])
    a = bound_controls(big)
    assert torch.allclose(a, torch.tensor([[MAX_STEER, MAX_ACCEL], [-MAX_STEER, MIN_ACCEL], [0.0, 0.0]]))


def test_every_head_loss_reaches_the_first_convolution(clip):
    torch.manual_seed(0)
    m = DrivingModel(make_config("tiny", semantic_head=True, planner_far=True))  # every head, optional too
    out = m(clip.obs)
    _, parts = m.loss(out, clip.labels)
    assert set(parts) == {
        "plan",
        "action",
        "speed",
        "occupancy",
        "flow",
        "heatmap",
        "box",
        "velocity",
        "lanes",
        "drivable",
        "traffic_light",
        "depth",
        "reason",
        "sentence",
        "far_traffic",
        "semantics",
    }
    stem = m.encoder.stem[0].weight
    for name, value in parts.items():
        (g,) = torch.autograd.grad(value, stem, retain_graph=True)
        assert torch.isfinite(g).all(), name
        assert g.abs().sum() > 0, f"{name} loss gives no gradient at the encoder's first convolution"


def test_streaming_act_equals_clip_forward(model, clip):
    model.eval()
    with torch.no_grad():
        ref = model(clip.obs)
        state = model.init_state(2, "cpu")
        for t in range(clip.obs.images.shape[1]):
            action, state, out = model.act(clip.frame(t), state)
    model.train()
    for name in ("action", "plan", "speed", "occupancy", "traffic_light", "depth", "reason"):
        a, b = getattr(out, name), getattr(ref, name)
        assert torch.allclose(a, b, atol=1e-4, rtol=1e-4), f"{name}: max diff {(a - b).abs().max():.2e}"
    assert torch.equal(action.as_tensor(), out.action)


def test_first_resets_the_memory(model, clip):
    model.eval()
    with torch.no_grad():
        fresh = model.act(clip.frame(0), None)[2]
        # A memory left by another episode must not leak once `first` says a new one starts.
        _, dirty, _ = model.act(clip.frame(2), None)
        reset = model.act(clip.frame(0), dirty)[2]
        f1 = clip.frame(1)
        _, _, kept = model.act(f1, dirty)
        _, _, clean = model.act(f1, model.init_state(2, "cpu"))
    model.train()
    assert torch.allclose(fresh.plan, reset.plan, atol=1e-5)
    assert not torch.allclose(kept.plan, clean.plan, atol=1e-5)  # without `first` the memory matters


def test_warp_bev_moves_features_with_ego_motion():
    g = BevGrid(res=2.0)
    prev = torch.zeros(1, 1, g.nx, g.ny)
    prev[0, 0, 13, 12] = 1.0  # cell centre (11, 1) in the previous ego frame
    assert torch.allclose(bev_cell_centres(g)[13, 12], torch.tensor([11.0, 1.0]))
    # Driving 4 m forward: the point is now at (7, 1), cell (11, 12).
    fwd = warp_bev(prev, torch.tensor([[4.0, 0.0, 0.0]]), g)
    assert fwd[0, 0, 11, 12] == pytest.approx(1.0) and fwd.sum() == pytest.approx(1.0)
    # Turning 90 deg left on the spot: (11, 1) is now at R(-90)(11, 1) = (1, -11), cell (8, 6).
    turn = warp_bev(prev, torch.tensor([[0.0, 0.0, math.pi / 2]]), g)
    assert turn[0, 0, 8, 6] == pytest.approx(1.0, abs=1e-5) and turn.sum() == pytest.approx(1.0, abs=1e-5)


def test_reference_points_project_through_the_rig():
    rig = make_rig()
    grid = BevGrid(x_min=10.0, x_max=12.0, y_min=-1.0, y_max=1.0, res=2.0)  # one cell centred at (11, 0)
    uv, valid = reference_points(rig, grid, (DEFAULT_MOUNTS["front_main"][2],))
    i = rig.index("front_main")
    # At the camera's own height, straight ahead of an unpitched camera: the principal point.
    assert torch.allclose(uv[i, 0, 0], torch.tensor([rig.width / 2, rig.height / 2]), atol=1e-3)
    assert valid[i, 0, 0] and not valid[rig.index("rear_main"), 0, 0]  # behind the rear camera


def test_invalid_cameras_are_masked_out(model, clip):
    model.eval()
    obs = clip.frame(0)
    obs.camera_valid = torch.zeros_like(obs.camera_valid)
    obs.camera_valid[:, 0] = True
    with torch.no_grad():
        a = model.act(obs, None)[2]
        obs2 = replace(obs, images=obs.images.clone())
        obs2.images[:, 1:] = 255 - obs2.images[:, 1:]  # change only the masked cameras
        b = model.act(obs2, None)[2]
        obs3 = replace(obs, images=obs.images.clone())
        obs3.images[:, 0] = 255 - obs3.images[:, 0]  # change the one valid camera
        c = model.act(obs3, None)[2]
    model.train()
    for name in ("occupancy", "plan", "traffic_light"):
        assert torch.allclose(getattr(a, name), getattr(b, name), atol=1e-5), name
    assert not torch.allclose(a.occupancy, c.occupancy, atol=1e-5)


def test_camera_dropout_only_in_training(clip):
    torch.manual_seed(0)
    m = DrivingModel(make_config("tiny", camera_dropout=0.5)).eval()
    valid = torch.ones(4, 8, dtype=torch.bool)
    assert m._dropout(valid).all()
    m.train()
    dropped = m._dropout(torch.ones(1000, 8, dtype=torch.bool))
    assert 0.45 < (~dropped).float().mean() < 0.55


def _bad(obs: Observation, **changes) -> Observation:
    return replace(obs, **changes)


def test_bad_input_errors(model, clip):
    obs = clip.obs
    with pytest.raises(ValueError, match="7 camera images.*8 cameras"):
        model(_bad(obs, images=obs.images[:, :, :7], camera_valid=obs.camera_valid[:, :, :7]))
    nan = obs.images.float()
    nan[1, 0, 3, 0, 5, 5] = float("nan")
    with pytest.raises(ValueError, match="NaN or inf"):
        model(_bad(obs, images=nan))
    with pytest.raises(ValueError, match="images are 32x64, the model expects 64x128"):
        model(_bad(obs, images=obs.images[..., :32, :64]))
    mounts = dict(DEFAULT_MOUNTS)
    mounts["rear_left"] = (-0.5, 0.5, 1.2, 160.0, 3.0, 70.0)
    with pytest.raises(ValueError, match="extrinsics.*rear_left"):
        model(_bad(obs, rig=make_rig(mounts=mounts)))
    with pytest.raises(ValueError, match="speed has NaN"):
        model(_bad(obs, speed=torch.full_like(obs.speed, float("nan"))))
    with pytest.raises(ValueError, match=r"images must be \(B, N_cam, 3, H, W\)"):
        model.act(obs)  # a clip passed to the streaming step


def test_image_size_must_fit_the_encoder_stride():
    with pytest.raises(ValueError, match="multiple of the encoder's deepest stride 16"):
        DrivingModel(make_config("tiny", rig=make_rig(height=40, width=128)))


def test_presets_and_describe():
    assert set(PRESETS) == {"tiny", "tiny_corridor", "tiny_teacher", "base", "large"}
    text = describe("tiny")
    total = int(text.splitlines()[-1].split()[-1].replace(",", ""))
    m = DrivingModel(make_config("tiny"))
    assert total == sum(p.numel() for p in m.parameters())
    assert total < 2_000_000  # tiny stays tiny
    assert PRESETS["tiny"].loss is not make_config("tiny").loss  # presets are not shared mutable state
    with pytest.raises(KeyError, match="unknown model preset"):
        make_config("huge")


def test_reason_sentences_match_the_catalog():
    from e2edrive.core.reasons import decode_sentence
    from e2edrive.model.reason import sentence_table

    table = sentence_table()
    for r in Reason:
        assert decode_sentence(table[r].tolist()) == REASON_TEXT[r]


def _one_step(preset: str) -> None:
    m = DrivingModel(make_config(preset)).eval()
    with torch.no_grad():
        action, state, out = m.act(synthetic_clip(batch=1, frames=1).frame(0))
    g = m.config.bev_grid
    assert out.occupancy.shape == (1, g.nz, g.nx, g.ny) and state[0].shape == (
        1,
        m.config.channels,
        g.nx,
        g.ny,
    )
    assert torch.isfinite(action.as_tensor()).all()


def test_base_preset_runs():
    _one_step("base")


@pytest.mark.slow
def test_large_preset_runs():
    _one_step("large")


def test_spatial_cross_attention_samples_the_projected_pixels():
    """With identity value/output maps and uniform weights, a cell seen by one camera reads back the
    feature-map coordinates of its reference points: checks the side-by-side camera layout."""
    from e2edrive.model.bev import CameraPairs, SpatialCrossAttention

    rig, grid, heights, (h, w) = make_rig(), BevGrid(res=2.0), (0.5, 1.5), (8, 16)
    pairs = CameraPairs(rig, grid, heights, (h, w))
    sca = SpatialCrossAttention(channels=4, heads=1, n_heights=2, n_points=1)
    with torch.no_grad():
        sca.value.weight.copy_(torch.eye(4).view(4, 4, 1, 1))
        sca.value.bias.zero_()
        sca.out.weight.copy_(torch.eye(4))
        sca.out.bias.zero_()
    N = rig.num_cameras
    feats = torch.zeros(1, N, 4, h, w)
    feats[:, :, 0] = torch.arange(w, dtype=torch.float32).view(1, 1, 1, w)  # column index ramp
    feats[:, :, 1] = torch.arange(h, dtype=torch.float32).view(1, 1, h, 1)  # row index ramp
    feats[:, :, 2] = torch.arange(1, N + 1, dtype=torch.float32).view(1, N, 1, 1)  # camera id + 1
    Q = grid.nx * grid.ny
    out = sca(torch.zeros(1, Q, 4), feats, pairs, torch.ones(1, N, dtype=torch.bool))[0]  # (Q, 4)
    seen_by = torch.zeros(Q, dtype=torch.long).index_add_(0, pairs.query, torch.ones_like(pairs.query))
    interior = (pairs.valid == 1).all(1) & (pairs.px >= 0).all(1) & (pairs.px <= w - 1).all(1)
    interior &= (pairs.py >= 0).all(1) & (pairs.py <= h - 1).all(1) & (seen_by[pairs.query] == 1)
    idx = interior.nonzero().flatten()
    assert len(idx) > 50
    q = pairs.query[idx]
    assert torch.allclose(out[q, 0], pairs.px[idx].mean(1), atol=1e-4)
    assert torch.allclose(out[q, 1], pairs.py[idx].mean(1), atol=1e-4)
    assert torch.allclose(out[q, 2], pairs.cam[idx].float() + 1, atol=1e-5)
    assert (out[seen_by == 0] == 0).all()  # cells no camera sees get nothing
