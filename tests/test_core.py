import math

import pytest
import torch

from e2edrive.core.geometry import (
    se2_compose,
    se2_inverse,
    se2_relative,
    se3_inverse,
    to_local_points,
    wrap_angle,
)
from e2edrive.core.reasons import REASON_TEXT, decode_sentence, encode_sentence
from e2edrive.core.rig import CAMERA_NAMES, make_rig, project_points
from e2edrive.core.seeding import episode_seed, parse_seed_range
from e2edrive.core.types import Action


def test_se2_roundtrip_and_hand_example():
    a = torch.tensor([1.0, 2.0, math.pi / 2])
    b = torch.tensor([3.0, 0.0, 0.0])
    # 3 m forward of a frame at (1, 2) facing +y lands at (1, 5)
    assert torch.allclose(se2_compose(a, b), torch.tensor([1.0, 5.0, math.pi / 2]), atol=1e-6)
    assert torch.allclose(se2_relative(a, se2_compose(a, b)), b, atol=1e-6)
    assert torch.allclose(se2_compose(a, se2_inverse(a)), torch.zeros(3), atol=1e-6)
    local = to_local_points(a[None], torch.tensor([[[1.0, 5.0]]]))
    assert torch.allclose(local, torch.tensor([[[3.0, 0.0]]]), atol=1e-6)
    assert torch.allclose(wrap_angle(torch.tensor(3 * math.pi)), torch.tensor(-math.pi), atol=1e-6)


def test_rig_projection_hand_computed():
    rig = make_rig()
    assert rig.names == CAMERA_NAMES and rig.K.shape == (8, 3, 3)
    f = 64 / math.tan(math.radians(35) / 2)
    # a point 10 m ahead of front_main, 1 m to the left and at camera height
    uv, depth = project_points(rig, torch.tensor([[1.9 + 10.0, 1.0, 1.35]]))
    assert depth[0, 0].item() == pytest.approx(10.0, rel=1e-5)
    assert uv[0, 0, 0].item() == pytest.approx(64 - f * 1.0 / 10.0, abs=1e-3)
    assert uv[0, 0, 1].item() == pytest.approx(32.0, abs=1e-3)
    # the same point is behind rear_main
    assert depth[6, 0] < 0
    # extrinsics are rigid: inverse is exact
    eye = rig.T_ego_from_cam @ se3_inverse(rig.T_ego_from_cam)
    assert torch.allclose(eye, torch.eye(4).expand(8, 4, 4), atol=1e-6)


def test_reason_sentences_roundtrip():
    for text in REASON_TEXT.values():
        assert decode_sentence(encode_sentence(text)) == text
    with pytest.raises(ValueError, match="vocabulary"):
        encode_sentence("teleporting: nowhere")


def test_seeding_and_ranges():
    assert episode_seed("cut_in", 3) == episode_seed("cut_in", 3) != episode_seed("cut_in", 4)
    assert parse_seed_range("0:5") == range(0, 5) and parse_seed_range("7") == range(7, 8)
    for bad in ("5:5", "a:b", "-1:3"):
        with pytest.raises(ValueError):
            parse_seed_range(bad)


def test_action_validation():
    a = Action(torch.tensor([0.1, 2.0]), torch.tensor([-20.0, 1.0])).validated()
    assert a.steer.tolist() == pytest.approx([0.1, 0.6]) and a.accel.tolist() == [-8.0, 1.0]
    with pytest.raises(ValueError, match="NaN"):
        Action(torch.tensor([float("nan")]), torch.tensor([0.0])).validated()
    with pytest.raises(ValueError, match="out of range"):
        Action(torch.tensor([1.0]), torch.tensor([0.0])).validated(clip=False)
