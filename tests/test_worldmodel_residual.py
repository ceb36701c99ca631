"""Residual decoding (worldmodel.residual): worked examples, the anchor given back exactly, shapes,
full decoding unchanged, and both decodings in the DreamEnv and the fidelity measurement."""

from __future__ import annotations

import math

import pytest
import torch

from e2edrive.core.rig import make_rig
from e2edrive.core.types import Action
from e2edrive.worldmodel.config import tiny
from e2edrive.worldmodel.context import world_context
from e2edrive.worldmodel.data import synthetic_window
from e2edrive.worldmodel.dream_env import DreamEnv
from e2edrive.worldmodel.model import WorldModel
from e2edrive.worldmodel.residual import (
    MAX_DEPTH,
    Frames,
    RgbAnchor,
    residual_depth,
    residual_frames,
    residual_rgb,
    residual_semantics,
)

SMALL_RIG = make_rig(16, 32)


def _small_model(seed: int = 0) -> WorldModel:
    torch.manual_seed(seed)
    return WorldModel(tiny(SMALL_RIG)).eval()


# --- worked examples ------------------------------------------------------------------------------


def test_residual_rgb_adds_the_decoded_change_to_the_real_pixels():
    real = torch.tensor([100, 250, 10], dtype=torch.uint8).view(1, 3, 1, 1)
    before = torch.full((1, 3, 1, 1), 0.5)
    after = torch.tensor([0.75, 0.75, 0.25]).view(1, 3, 1, 1)  # +63.75, +63.75, -63.75 levels
    got = residual_rgb(after, RgbAnchor(real, before))
    assert got.dtype == torch.uint8
    assert got.flatten().tolist() == [164, 255, 0]  # 163.75 rounded; 313.75 and -53.75 clamped


def test_residual_depth_scales_the_real_depth_by_the_decoded_ratio():
    real = torch.tensor([[4.0, 150.0]])
    before = torch.zeros(1, 2)
    after = torch.full((1, 2), math.log(2.0))  # the decoder says: twice as far
    got = residual_depth(after, before, real)
    assert got[0, 0].item() == pytest.approx(8.0)
    assert got[0, 1].item() == pytest.approx(MAX_DEPTH)  # 300 m would be past the far limit


def test_residual_semantics_keeps_the_real_class_where_the_decoder_saw_no_change():
    S = 3
    before = torch.zeros(S, 1, 3)
    before[1] = 1.0  # the decoder saw class 1 everywhere at t0
    after = before.clone()
    after[2, 0, 2] = 5.0  # ... and now class 2 at the third pixel
    real = torch.tensor([[0, 2, 1]])  # the decoder was wrong about the first two pixels at t0
    got = residual_semantics(after, before, real)
    assert got.tolist() == [[0, 2, 2]]  # real classes kept, the changed pixel takes the decoded one


# --- the anchor given back exactly ------------------------------------------------------------------


def test_residual_decoding_of_the_anchor_latent_is_the_anchor_exactly():
    model = _small_model()
    w = synthetic_window(1, 1, SMALL_RIG, seed=3)
    z = model.encode(w.images)[:, 0]  # (1, N, C, h, w)
    real = Frames(w.images[0, 0], w.depth[0, 0], w.semantics[0, 0])
    with torch.no_grad():
        d = model.tokenizer.decode(z[0])
        again = model.tokenizer.decode(z[0].clone())
        got = residual_frames(again, d, real)
        rgb = model.decode_rgb(z, model.rgb_anchor(w.images[:, 0], z))
    assert torch.equal(got.rgb, real.rgb) and torch.equal(rgb, w.images[:, 0])
    assert torch.equal(got.depth, real.depth)
    assert torch.equal(got.semantics, real.semantics.long())
    assert not torch.equal(d.rgb_uint8(), real.rgb)  # while full decoding is not the anchor


# --- shapes; full decoding unchanged ----------------------------------------------------------------


def test_shapes_of_both_decodings_and_full_decoding_unchanged():
    model = _small_model()
    B, N, S = 2, 8, model.cfg.num_semantics
    w = synthetic_window(B, 1, SMALL_RIG, seed=4)
    z = model.encode(w.images)[:, 0]  # (B, N, C, h, w)
    with torch.no_grad():
        full = model.decode_rgb(z)
        before = model.tokenizer.decode(z.flatten(0, 1), rgb_only=True).rgb_uint8().view(B, N, 3, 16, 32)
        residual = model.decode_rgb(z + 0.1, model.rgb_anchor(w.images[:, 0], z))
        d = model.tokenizer.decode(z.flatten(0, 1))
        real = Frames(
            w.images[:, 0].flatten(0, 1), w.depth[:, 0].flatten(0, 1), w.semantics[:, 0].flatten(0, 1)
        )
        frames = residual_frames(d, d, real)
    assert torch.equal(full, before)  # full decoding is the tokenizer's own rounding, as it was
    assert full.shape == residual.shape == (B, N, 3, 16, 32) and residual.dtype == torch.uint8
    assert d.semantics.shape == (B * N, S, 16, 32)
    assert frames.rgb.shape == (B * N, 3, 16, 32) and frames.depth.shape == frames.semantics.shape == (
        B * N,
        16,
        32,
    )


# --- DreamEnv and the fidelity measurement ----------------------------------------------------------


def test_dream_env_residual_observation_is_the_last_real_frame_plus_the_change():
    model = _small_model()
    K = model.cfg.context

    def start(pairs):
        return world_context(pairs, SMALL_RIG, K)[0], None

    pairs = [("lane_follow", 0), ("cut_in", 1)]
    last = start(pairs)[0].images[:, -1]  # (2, N, 3, H, W)
    full = DreamEnv(model, start, pairs)
    env = DreamEnv(model, start, pairs, decode="residual")
    assert torch.equal(env.observation().images, last)
    assert not torch.equal(full.observation().images, last)
    zero = torch.zeros(2)
    env.step(Action(zero, zero + 1.0))
    # an untrained dynamics model predicts no change: the residual dream repeats the real frame
    assert torch.equal(env.observation().images, last)
    env.reset_envs([1], [("follow_lead", 2)])
    assert torch.equal(env.observation().images[1], start([("follow_lead", 2)])[0].images[0, -1])
    with pytest.raises(ValueError, match="decode must be one of"):
        DreamEnv(model, start, pairs, decode="blend")


def test_fidelity_reports_both_decodings_and_both_ceilings(tmp_path):
    from e2edrive.cli import main
    from e2edrive.worldmodel.evaluate import SOURCES, evaluate_fidelity, format_fidelity

    data = tmp_path / "ds"
    args = ["--out", str(data), "--scenario", "lane_follow", "--seeds", "0:1", "--num-envs", "1"]
    assert main(["worldmodel", "collect", *args, "--max-steps", "10", "--height", "16", "--width", "32"]) == 0
    result = evaluate_fidelity(_small_model(), str(data), max_windows=1)
    assert set(result["scores"]) == set(SOURCES)
    row = result["summary"]["0.5"]
    assert {"dream_beats_repeat_last", "dream_residual_beats_repeat_last"} <= set(row)
    # an untrained dynamics model predicts no change: its residual dream is repeat_last exactly
    assert row["dream_residual"] == row["repeat_last"]
    assert row["ceiling_residual"]["psnr"] != row["ceiling"]["psnr"]
    table = format_fidelity(result)
    assert "dream_residual" in table and "ceiling_residual" in table
