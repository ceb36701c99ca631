"""DAVE-2 and the ego-status MLP: layer shapes as in the papers, what each sees, streaming, overfitting."""

from __future__ import annotations

from dataclasses import replace

import pytest
import torch

from e2edrive.core.constants import PLAN_STEPS
from e2edrive.core.rig import make_rig
from e2edrive.core.types import Labels, _map_tensors
from e2edrive.model.dave2 import Dave2, conv_features
from e2edrive.model.ego_mlp import EgoMLP, EgoMLPConfig
from e2edrive.model.export import example_observation
from e2edrive.model.flops import act_flops, count_params

RIG = make_rig()


def as_clip(obs):
    """Observation (B, ...) -> (B, 1, ...)."""
    from e2edrive.model.base import _as_clip

    return _as_clip(obs)


def driving_labels(plan: torch.Tensor, speed: torch.Tensor, action: torch.Tensor) -> Labels:
    """Labels with only the driving targets filled; the baselines' loss reads nothing else."""
    B = plan.shape[0]
    z = torch.zeros(B, 1)
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
        traffic_light=z,
        depth=z,
        semantics=z,
        expert_plan=plan,
        expert_speed=speed,
        expert_action=action,
        reason=z,
    )


# ---- DAVE-2 ----------------------------------------------------------------------------------


def test_dave2_layer_shapes_match_the_paper():
    model = Dave2()
    x = torch.zeros(1, 3, 66, 200)
    sizes = []
    for layer in model.convs:
        x = layer(x)
        if isinstance(layer, torch.nn.Conv2d):
            sizes.append(tuple(x.shape[1:]))
    # Bojarski et al. 2016, Figure 4: 24@31x98, 36@14x47, 48@5x22, 64@3x20, 64@1x18
    assert sizes == [(24, 31, 98), (36, 14, 47), (48, 5, 22), (64, 3, 20), (64, 1, 18)]
    assert conv_features(66, 200) == 1152 == x.flatten(1).shape[1]
    assert [m.out_features for m in model.fcs if isinstance(m, torch.nn.Linear)] == [100, 50, 10]
    # ~250 thousand parameters in the paper; by hand: convs 131,348 + FC 120,860 + our head 363
    assert count_params(model) == 252_571


def test_dave2_flops_closed_form():
    # multiply-adds per conv: C_out * H_out * W_out * C_in * k * k; FC: in * out; YUV: 3 * 3 * 66 * 200
    macs = (
        24 * 31 * 98 * 3 * 25
        + 36 * 14 * 47 * 24 * 25
        + 48 * 5 * 22 * 36 * 25
        + 64 * 3 * 20 * 48 * 9
        + 64 * 1 * 18 * 64 * 9
        + 1152 * 100
        + 100 * 50
        + 50 * 10
        + 10 * (2 + PLAN_STEPS * 3 + 1)
        + 3 * 3 * 66 * 200
    )
    assert act_flops(Dave2(), RIG) == 2 * macs


def test_dave2_yuv_normalisation_hand_values():
    model = Dave2()
    img = torch.zeros(2, 3, 4, 4, dtype=torch.uint8)
    img[0] = 255  # white: Y = 1, U = V = 0
    img[1, 0] = 255  # pure red: Y = 0.299, U = -0.14713, V = 0.615
    yuv = model.normalise(img)  # (2, 3, 66, 200), constant images stay constant under resizing
    white, red = yuv[0, :, 10, 10], yuv[1, :, 10, 10]
    torch.testing.assert_close(white, torch.tensor([1.0, 0.0, 0.0]), atol=1e-4, rtol=0)
    expected_red = torch.tensor([(0.299 - 0.5) / 0.5, -0.14713 / 0.436, 1.0])
    torch.testing.assert_close(red, expected_red, atol=1e-4, rtol=0)


def test_dave2_sees_the_front_camera_only():
    model = Dave2().eval()
    obs = example_observation(RIG, 2, seed=3)
    base = model.act(obs)[2].action
    other = replace(obs, images=obs.images.clone(), speed=obs.speed + 5.0)
    other.images[:, RIG.index("rear_main")] = 0
    torch.testing.assert_close(model.act(other)[2].action, base)  # blind to other cameras and ego status
    front = replace(obs, images=obs.images.clone())
    front.images[:, RIG.index("front_main")] = 255 - front.images[:, RIG.index("front_main")]
    assert not torch.allclose(model.act(front)[2].action, base)


def test_dave2_invalid_front_frame_reads_as_no_information():
    model = Dave2().eval()
    a = example_observation(RIG, 2, seed=4)
    b = example_observation(RIG, 2, seed=5)
    for obs in (a, b):
        obs.camera_valid[:, RIG.index("front_main")] = False
    torch.testing.assert_close(model.act(a)[2].plan, model.act(b)[2].plan)


def test_dave2_without_front_main_says_so():
    rig = make_rig(names=("front_wide", "rear_main"))
    with pytest.raises(ValueError, match="'front_main' camera, which this rig lacks.*front_wide"):
        Dave2().act(example_observation(rig, 1))


# ---- ego-status MLP ----------------------------------------------------------------------------


def test_ego_mlp_is_blind_to_cameras():
    model = EgoMLP().eval()
    obs = example_observation(RIG, 2, seed=6)
    obs.first[:] = True
    dark = replace(obs, images=torch.zeros_like(obs.images))
    torch.testing.assert_close(model.act(dark)[2].plan, model.act(obs)[2].plan)
    faster = replace(obs, speed=obs.speed + 5.0)
    assert not torch.allclose(model.act(faster)[2].plan, model.act(obs)[2].plan)


def slice_time(obs, index):
    """obs (B, T, ...) -> obs[:, index] on every tensor, rig kept."""
    out = _map_tensors(obs, lambda x: x[:, index])
    out.rig = obs.rig
    return out


def test_ego_mlp_streaming_act_equals_clip_forward():
    model = EgoMLP(EgoMLPConfig(history=3)).eval()
    clip = example_observation(RIG, 2, frames=5, seed=7)  # (B, T=5, ...)
    state = model.init_state(2, "cpu")
    with torch.no_grad():
        for t in range(5):
            frame = slice_time(clip, t)
            frame.first = torch.full((2,), t == 0)
            _, state, out = model.act(frame, state)
            # the clip of the frames so far (forward pads a short one like Clip pads an episode start)
            expected = model(slice_time(clip, slice(0, t + 1)))
            torch.testing.assert_close(out.plan, expected.plan)
            torch.testing.assert_close(out.action, expected.action)
    # the state holds the last 3 frames' scaled ego features, oldest first
    torch.testing.assert_close(state, model.ego_features(clip)[:, -3:])


def test_ego_mlp_first_resets_the_history():
    model = EgoMLP().eval()
    obs = example_observation(RIG, 2, seed=8)
    obs.first[:] = True
    stale = torch.randn(2, model.config.history, 7)
    fresh = model.init_state(2, "cpu")
    torch.testing.assert_close(model.act(obs, stale)[2].plan, model.act(obs, fresh)[2].plan)


def test_ego_mlp_rejects_empty_history():
    with pytest.raises(ValueError, match="history must be >= 1"):
        EgoMLP(EgoMLPConfig(history=0))


# ---- both ------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["dave2", "ego_mlp"])
def test_baseline_overfits_a_tiny_batch(name):
    torch.manual_seed(0)
    model = {"dave2": Dave2, "ego_mlp": EgoMLP}[name]()
    B = 4
    clip = as_clip(example_observation(RIG, B, seed=9))
    g = torch.Generator().manual_seed(10)
    speed = 15 * torch.rand(B, generator=g)
    t = torch.arange(1, PLAN_STEPS + 1) * 0.2
    lateral = torch.randn(B, PLAN_STEPS, generator=g)
    plan = torch.stack([speed[:, None] * t, lateral, 0.1 * t.expand(B, -1)], -1)  # (B, P, 3)
    action = torch.stack([0.3 * torch.randn(B, generator=g), torch.randn(B, generator=g)], -1)  # (B, 2)
    labels = driving_labels(plan, speed, action)
    opt = torch.optim.Adam(model.parameters(), lr=2e-3)
    first = None
    for _ in range(300):
        loss, parts = model.loss(model(clip), labels)
        first = first if first is not None else loss.item()
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert set(parts) == {"plan", "action", "speed"}
    assert loss.item() < first / 10, (first, loss.item())
