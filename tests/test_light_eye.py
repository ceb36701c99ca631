"""The light eye (model.light_eye) and the per-state light read (eval.light_read): the eye starts
neutral, ignores failed cameras, learns a lamp's colour from a few pixels, and the confusion
counts match a worked example."""

from __future__ import annotations

from dataclasses import replace

import pytest
import torch
from torch import nn

from e2edrive.core.constants import LightState
from e2edrive.eval.light_read import STATES, light_confusion, light_recall, light_table
from e2edrive.model.checkpoint import config_from_dict, config_to_dict
from e2edrive.model.config import DrivingConfig, make_config
from e2edrive.model.light_eye import LightEye
from e2edrive.model.output import DrivingOutput
from e2edrive.model.synthetic import synthetic_clip


def test_states_follow_light_state_order():
    assert STATES == ("none", "red", "yellow", "green")
    assert [int(LightState[s.upper()]) for s in STATES] == [0, 1, 2, 3]


def test_eye_starts_near_zero_and_ignores_failed_cameras():
    torch.manual_seed(0)
    eye = LightEye(num_cameras=2, width=4)
    images = torch.randint(0, 256, (3, 2, 3, 16, 32), dtype=torch.uint8)
    valid = torch.tensor([[True, True], [True, False], [False, False]])
    assert eye(images, valid).abs().max() < 0.05  # a new eye barely moves the light head's logits
    nn.init.normal_(eye.out[-1].weight)
    before = eye(images, valid)
    changed = images.clone()
    changed[1, 1] = 255 - changed[1, 1]  # the failed camera of sample 1
    changed[2] = 0  # both cameras of sample 2 failed
    after = eye(changed, valid)
    assert torch.allclose(before, after)
    assert not torch.allclose(eye(changed, torch.ones_like(valid)), after)


def _lamp_images(n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(n, 1, 3, 32, 64) grey scenes with green grass from row 12 down (into the upper half the eye
    reads) and a 2 x 2 px lamp, red or green, in a dark 4 x 4 housing somewhere above it; labels
    RED / GREEN."""
    g = torch.Generator().manual_seed(seed)
    img = torch.full((n, 1, 3, 32, 64), 150, dtype=torch.uint8)
    img[:, :, :, 12:] = torch.tensor([60, 140, 60], dtype=torch.uint8).view(1, 1, 3, 1, 1)  # grass
    label = torch.randint(0, 2, (n,), generator=g)
    for i in range(n):
        r, c = int(torch.randint(2, 9, (1,), generator=g)), int(torch.randint(2, 58, (1,), generator=g))
        img[i, 0, :, r - 1 : r + 3, c - 1 : c + 3] = 30
        colour = (230, 40, 30) if label[i] == 0 else (40, 220, 60)
        img[i, 0, :, r : r + 2, c : c + 2] = torch.tensor(colour, dtype=torch.uint8).view(3, 1, 1)
    states = torch.where(label == 0, int(LightState.RED), int(LightState.GREEN))
    return img, states


def test_eye_learns_a_two_pixel_lamp_colour_beside_green_grass():
    torch.manual_seed(0)
    eye = LightEye(num_cameras=1, width=8)
    opt = torch.optim.Adam(eye.parameters(), lr=3e-3)
    images, states = _lamp_images(64, seed=1)
    valid = torch.ones(64, 1, dtype=torch.bool)
    for _ in range(250):
        loss = nn.functional.cross_entropy(eye(images, valid), states)
        opt.zero_grad()
        loss.backward()
        opt.step()
    test, truth = _lamp_images(64, seed=2)  # lamps in places it has not seen
    said = eye(test, valid).argmax(-1)
    assert (said == truth).float().mean() >= 0.95


def test_config_default_eye_follows_the_rig_and_old_checkpoints_have_none():
    from e2edrive.core.rig import make_rig

    assert DrivingConfig().light_eye == ("front_main", "front_wide")
    small = make_config("tiny", rig=make_rig(32, 64, names=("front_main", "rear_main")))
    assert small.light_eye == ("front_main",)
    d = config_to_dict(DrivingConfig())
    d.pop("light_eye"), d.pop("light_eye_width")
    assert config_from_dict(DrivingConfig, d).light_eye == ()  # written before the eye: built without


class _AlwaysRed(nn.Module):
    """A stand-in network whose light head calls every frame red (the failure this module found)."""

    def forward(self, obs):
        B = obs.images.shape[0]
        logits = torch.tensor([0.0, 5.0, 0.0, 0.0]).expand(B, -1)
        return DrivingOutput(
            action=torch.zeros(B, 2), plan=torch.zeros(B, 1, 3), speed=torch.zeros(B), traffic_light=logits
        )


def test_confusion_worked_example():
    clips = []
    for k, state in enumerate((LightState.NONE, LightState.RED, LightState.RED, LightState.GREEN)):
        c = synthetic_clip(batch=1, frames=2, seed=k)
        clips.append(replace(c, labels=replace(c.labels, traffic_light=torch.tensor([int(state)]))))
    conf = light_confusion(_AlwaysRed(), clips, batch_size=3)
    assert conf == [[0, 1, 0, 0], [0, 2, 0, 0], [0, 0, 0, 0], [0, 1, 0, 0]]
    assert light_recall(conf) == {"none": 0.0, "red": 1.0, "yellow": None, "green": 0.0}
    table = light_table(conf)
    assert "| red (2) | 0 | 2 | 0 | 0 | 100% |" in table and "| yellow (0) | 0 | 0 | 0 | 0 | - |" in table


def test_balanced_weights_draw_each_state_equally():
    from e2edrive.train.light_eye import balanced_weights

    states = torch.tensor([0, 0, 0, 1, 3, 3]).numpy()  # none x3, red x1, green x2, no yellow
    w = balanced_weights(states)
    assert torch.allclose(w.sum(), torch.tensor(1.0, dtype=w.dtype))
    per_state = [float(w[states == s].sum()) for s in (0, 1, 3)]
    assert per_state == pytest.approx([1 / 3, 1 / 3, 1 / 3])
    assert float(w[3]) == 3 * float(w[0])  # the lone red frame is drawn 3x as often as each none frame


class _LightFrames:
    """A stand-in dataset: synthetic clips on a small rig, their light labels in `index` as a
    DrivingDataset's are."""

    def __init__(self, rig, states):
        import pyarrow as pa

        self.rig, self.states = rig, states
        self.index = pa.table({"traffic_light": pa.array(states, pa.int8())})

    def __len__(self):
        return len(self.states)

    def __getitem__(self, k):
        c = synthetic_clip(batch=1, frames=1, rig=self.rig, seed=k)
        return replace(c, labels=replace(c.labels, traffic_light=torch.tensor([self.states[k]])))


@pytest.mark.parametrize("alone", [True, False])
def test_light_eye_stage_trains_the_eye_alone_and_restores_the_model(alone):
    from e2edrive.core.rig import make_rig
    from e2edrive.model.driving_model import DrivingModel
    from e2edrive.train.light_eye import LightEyeConfig, train_light_eye

    torch.manual_seed(0)
    rig = make_rig(32, 64, names=("front_main", "front_wide", "rear_main"))
    model = DrivingModel(make_config("tiny", rig=rig)).train()
    model.planner.goal[0].weight.requires_grad_(False)  # a caller's own freeze must survive the stage
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    result = train_light_eye(
        model, _LightFrames(rig, [0, 1, 2, 3]), LightEyeConfig(steps=3, batch_size=4, alone=alone)
    )
    assert result["steps"] == 3 and result["frames_per_state"] == [1, 1, 1, 1]
    changed = {n for n, p in model.named_parameters() if not torch.equal(p, before[n])}
    assert changed and all(n.startswith("light_eye.") for n in changed)
    assert model.training and not model.planner.goal[0].weight.requires_grad
    assert all(p.requires_grad for n, p in model.named_parameters() if n != "planner.goal.0.weight")
    with pytest.raises(ValueError, match="no light eye"):
        train_light_eye(DrivingModel(make_config("tiny", rig=rig, light_eye=())), _LightFrames(rig, [0]))


def test_eye_logits_are_what_the_network_adds_to_the_light_head():
    """With the light head's last layer zeroed, the full network's light logits are the eye's alone:
    the cheap stage (LightEyeConfig.alone) trains exactly the term the network adds."""
    from e2edrive.core.rig import make_rig
    from e2edrive.model.driving_model import DrivingModel
    from e2edrive.train.light_eye import eye_logits

    torch.manual_seed(0)
    rig = make_rig(32, 64, names=("front_main", "front_wide", "rear_main"))
    model = DrivingModel(make_config("tiny", rig=rig)).eval()
    torch.nn.init.zeros_(model.light.net[-1].weight)
    torch.nn.init.zeros_(model.light.net[-1].bias)
    clip = synthetic_clip(batch=2, frames=2, rig=rig, seed=3)
    clip.obs.camera_valid[1, -1, 1] = False  # front_wide lost in the second sample: it adds nothing
    with torch.no_grad():
        full = model(clip.obs).traffic_light
        eye = eye_logits(model, clip.obs)
    assert eye.shape == (2, 4) and eye.abs().sum() > 0
    torch.testing.assert_close(full, eye)
