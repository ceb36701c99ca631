"""The semantic presence head (model.semantic_head): targets on a hand-made label image, the loss's
per-class weights on worked numbers, a toy it must learn (a 2-pixel object on road), old
checkpoints loading without it, and its held-out read (eval.semantic_read) on a worked example."""

from __future__ import annotations

from dataclasses import replace

import torch
from torch import nn

from e2edrive.core.constants import NUM_SEMANTIC_CLASSES, ObjectClass, Semantic
from e2edrive.eval.semantic_read import semantic_read, semantic_table
from e2edrive.model.checkpoint import config_from_dict, config_to_dict
from e2edrive.model.config import DrivingConfig, HeadLossWeights
from e2edrive.model.output import DrivingOutput
from e2edrive.model.semantic_head import (
    POS_WEIGHT_MAX,
    PRIOR_LOGIT,
    SemanticHead,
    semantic_loss,
    semantic_presence,
)
from e2edrive.model.synthetic import synthetic_clip

DEBRIS, ROAD, SKY = int(Semantic.DEBRIS), int(Semantic.ROAD), int(Semantic.SKY)


def test_presence_marks_every_class_in_each_cell_even_one_pixel():
    sem = torch.full((1, 1, 4, 8), ROAD, dtype=torch.uint8)  # one camera, 4 x 8 pixels
    sem[0, 0, :2, :] = SKY  # top half sky
    sem[0, 0, 3, 6] = DEBRIS  # one debris pixel, bottom-right cell
    p = semantic_presence(sem, (2, 2))  # cells of 2 x 4 pixels
    assert p.shape == (1, 1, NUM_SEMANTIC_CLASSES, 2, 2)
    assert p[0, 0, SKY].tolist() == [[1, 1], [0, 0]]
    assert p[0, 0, ROAD].tolist() == [[0, 0], [1, 1]]
    assert p[0, 0, DEBRIS].tolist() == [[0, 0], [0, 1]]  # the majority there is road; debris still 1
    assert p.sum() == 5  # nothing else


def test_loss_weights_a_rare_class_positive_by_its_negatives_up_to_the_cap():
    S = NUM_SEMANTIC_CLASSES
    presence = torch.zeros(1, 1, S, 10, 10)  # 100 cells
    presence[0, 0, DEBRIS, 3, 4] = 1.0  # 1 positive, 99 negatives: weight 99
    presence[0, 0, ROAD, :5] = 1.0  # 50 / 50: weight 1
    right = (presence * 2 - 1) * 30.0  # every cell and class right with margin 30
    assert semantic_loss(right, presence) < 1e-6
    miss_debris = right.clone()
    miss_debris[0, 0, DEBRIS, 3, 4] = -30.0
    miss_road = right.clone()
    miss_road[0, 0, ROAD, 0, 0] = -30.0
    # one missed positive costs ce = 30 times its weight, / 100 cells, / S classes
    assert torch.isclose(semantic_loss(miss_debris, presence), torch.tensor(30.0 * 99 / 100 / S), rtol=1e-4)
    assert torch.isclose(semantic_loss(miss_road, presence), torch.tensor(30.0 * 1 / 100 / S), rtol=1e-4)
    rarer = torch.zeros(1, 1, S, 20, 20)  # 1 positive in 400 cells: 399, capped
    rarer[0, 0, DEBRIS, 0, 0] = 1.0
    miss = (rarer * 2 - 1) * 30.0
    miss[0, 0, DEBRIS, 0, 0] = -30.0
    expected = 30.0 * POS_WEIGHT_MAX / 400 / S
    assert torch.isclose(semantic_loss(miss, rarer), torch.tensor(expected), rtol=1e-4)


def test_head_starts_at_the_prior_and_learns_a_two_pixel_object_on_road():
    torch.manual_seed(0)

    def scenes(n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
        g = torch.Generator().manual_seed(seed)
        img = torch.full((n, 1, 3, 16, 32), 0.4)  # grey road
        sem = torch.full((n, 1, 16, 32), ROAD, dtype=torch.uint8)
        for k in range(n):
            if torch.rand(1, generator=g) < 0.5:
                y, x = (
                    int(torch.randint(0, 15, (1,), generator=g)),
                    int(torch.randint(0, 31, (1,), generator=g)),
                )
                img[k, 0, :, y, x : x + 2] = torch.tensor([0.9, 0.2, 0.1])[:, None]  # 1 x 2 px object
                sem[k, 0, y, x : x + 2] = DEBRIS
        return img, sem

    encoder = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.MaxPool2d(4))  # stride 4
    head = SemanticHead(8)
    with torch.no_grad():
        start = head(encoder(scenes(1, 0)[0].flatten(0, 1)).unsqueeze(1))
    assert torch.allclose(start.mean(), torch.tensor(PRIOR_LOGIT), atol=0.5)
    opt = torch.optim.Adam([*encoder.parameters(), *head.parameters()], lr=1e-2)
    for step in range(300):
        img, sem = scenes(32, step + 1)
        logits = head(encoder(img.flatten(0, 1)).unsqueeze(1))  # (B, 1, S, 4, 8)
        loss = semantic_loss(logits, semantic_presence(sem, (4, 8)))
        opt.zero_grad()
        loss.backward()
        opt.step()
    img, sem = scenes(256, 10_000)  # unseen positions
    with torch.no_grad():
        said = head(encoder(img.flatten(0, 1)).unsqueeze(1))[:, 0, DEBRIS] > 0  # (B, 4, 8)
    truth = semantic_presence(sem, (4, 8))[:, 0, DEBRIS] > 0
    recall = (said & truth).sum() / truth.sum()
    false_alarm = (said & ~truth).sum() / (~truth).sum()
    assert recall >= 0.9 and false_alarm <= 0.02, (float(recall), float(false_alarm))


def test_the_head_is_opt_in_and_old_checkpoints_load_without_it():
    d = config_to_dict(DrivingConfig())
    d.pop("semantic_head")
    d["loss"].pop("semantics")
    old = config_from_dict(DrivingConfig, d)
    assert old.semantic_head is False and old.loss.semantics == 0.0
    assert DrivingConfig().semantic_head is False and HeadLossWeights().semantics > 0  # opt-in


def test_driving_model_with_the_head_outputs_presence_logits_per_camera_and_cell():
    from e2edrive.model.config import make_config
    from e2edrive.model.driving_model import DrivingModel

    torch.manual_seed(0)
    model = DrivingModel(make_config("tiny", semantic_head=True))
    clip = synthetic_clip(batch=2, frames=2, seed=1)
    out = model(clip.obs)
    assert out.semantics.shape == (2, 8, NUM_SEMANTIC_CLASSES, 8, 16)  # stride 8 on 64 x 128
    _, parts = model.loss(out, clip.labels)
    assert "semantics" in parts and torch.isfinite(parts["semantics"])


class _SeesCells(nn.Module):
    """A stand-in network whose semantic head calls present exactly the (camera, class, cell)s given."""

    semantic = True  # semantic_read asks whether the network has the head

    def __init__(self, calls: list[tuple[int, int, int, int]]):
        super().__init__()
        self.calls = calls

    def forward(self, obs):
        B, N = obs.images.shape[0], obs.images.shape[2]  # images (B, T, N, 3, H, W)
        logits = torch.full((B, N, NUM_SEMANTIC_CLASSES, 8, 16), -5.0)
        for cam, s, i, j in self.calls:
            logits[:, cam, s, i, j] = 5.0
        return DrivingOutput(
            action=torch.zeros(B, 2), plan=torch.zeros(B, 1, 3), speed=torch.zeros(B), semantics=logits
        )


def test_semantic_read_worked_example():
    c = synthetic_clip(batch=1, frames=1, seed=0)
    sem = torch.full_like(c.labels.semantics, ROAD)  # (1, 8, 64, 128)
    sem[0, 0, 40, 60:70] = DEBRIS  # front camera, pixel row 40 (cell row 5), columns 60-69 (cells 7, 8)
    sem[0, 0, 60, 0] = int(Semantic.PUDDLE)  # cell (7, 0)
    boxes = torch.zeros_like(c.labels.boxes)
    boxes[0, 0, :2] = torch.tensor([20.0, 1.0])  # debris 20 m ahead: band 15-30
    cls = torch.zeros_like(c.labels.box_class)
    cls[0, 0] = int(ObjectClass.UNKNOWN)
    valid = torch.zeros_like(c.labels.box_valid)
    valid[0, 0] = True
    labels = replace(c.labels, semantics=sem, boxes=boxes, box_class=cls, box_valid=valid)
    net = _SeesCells([(0, DEBRIS, 5, 7), (3, DEBRIS, 0, 0), (0, int(Semantic.PUDDLE), 7, 0)])
    read = semantic_read(net, [replace(c, labels=labels)], batch_size=1)
    cells = 8 * 8 * 16
    assert read["debris"]["15-30"] == {"cells": 2, "hits": 1} and read["debris"]["all"] == {
        "cells": 2,
        "hits": 1,
    }
    assert read["debris"]["0-15"] == {"cells": 0, "hits": 0}
    assert read["debris"]["absent"] == {"cells": cells - 2, "false_alarms": 1}  # camera 3's call
    assert read["puddle"]["all"] == {"cells": 1, "hits": 1}
    assert read["goose"]["absent"] == {"cells": cells, "false_alarms": 0}
    table = semantic_table(read)
    assert "| debris | - | 2: 50% | - | 2: 50% | 0.10% |" in table
    assert semantic_read(nn.Identity(), [c]) == {}  # a network without the head: nothing to read
