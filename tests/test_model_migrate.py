"""Checkpoints saved under the older reason catalog (14 reasons, 51 words) still load: the reason
head is padded (model/migrate.py) and the network computes what it computed before."""

from __future__ import annotations

import pytest
import torch

import e2edrive.model.reason as reason_mod
from e2edrive.core.reasons import NUM_REASONS, REASON_GENERATIONS, VOCAB, vocab_size
from e2edrive.model.checkpoint import load_checkpoint, save_checkpoint
from e2edrive.model.config import make_config
from e2edrive.model.driving_model import DrivingModel
from e2edrive.model.synthetic import synthetic_clip

OLD_REASONS, OLD_WORDS = 14, 51  # the catalog before the urban reasons (issue 11)


def test_vocabulary_only_appends():
    assert REASON_GENERATIONS[0] == OLD_REASONS and vocab_size(OLD_REASONS) == OLD_WORDS
    assert vocab_size(NUM_REASONS) == len(VOCAB)
    # the first catalog's words, sorted, keep their ids 3..50
    old = VOCAB[3:OLD_WORDS]
    assert old == sorted(old) and "yielding" in old and "crosswalk" not in old
    assert "crosswalk" in VOCAB[OLD_WORDS:]
    with pytest.raises(ValueError, match="no reason catalog had 15"):
        vocab_size(15)


@pytest.fixture(scope="module")
def old_checkpoint(tmp_path_factory):
    """A tiny DrivingModel built exactly as the old code built it (its reason head sized by the
    old catalog), saved; and its outputs on a synthetic clip."""
    mp = pytest.MonkeyPatch()
    mp.setattr(reason_mod, "NUM_REASONS", OLD_REASONS)
    mp.setattr(reason_mod, "VOCAB", VOCAB[:OLD_WORDS])
    try:
        torch.manual_seed(0)
        old = DrivingModel(make_config("tiny")).eval()
    finally:
        mp.undo()
    assert old.reason.classify[2].weight.shape[0] == OLD_REASONS
    assert old.reason.vocab.weight.shape[0] == OLD_WORDS
    obs = synthetic_clip(batch=2, frames=1, seed=3).obs
    with torch.no_grad():
        out = old(obs)
    path = save_checkpoint(old, tmp_path_factory.mktemp("old") / "ckpt")
    return path, obs, out, old


def test_old_checkpoint_loads_and_acts_the_same(old_checkpoint):
    path, obs, before, old = old_checkpoint
    model = load_checkpoint(path).eval()
    assert model.reason.classify[2].weight.shape[0] == NUM_REASONS
    assert model.reason.vocab.weight.shape[0] == len(VOCAB)
    with torch.no_grad():
        after = model(obs)
    torch.testing.assert_close(after.action, before.action, rtol=0, atol=0)
    torch.testing.assert_close(after.plan, before.plan, rtol=0, atol=0)
    # the old reasons' logits are the same; a new reason is never chosen
    torch.testing.assert_close(
        after.reason[:, :OLD_REASONS], before.reason, rtol=0, atol=1e-6
    )  # matmul order
    assert torch.equal(after.reason.argmax(-1), before.reason.argmax(-1))
    assert (after.reason[:, OLD_REASONS:] < before.reason.min() - 10).all()
    # the sentence decoder says the same words (its start state changes by ~1e-8: the softmax
    # over the new reasons' near-zero mass)
    torch.testing.assert_close(after.sentence[..., :OLD_WORDS], before.sentence, rtol=0, atol=1e-5)
    assert model.explain(after) == old.explain(before)


def test_wrong_sized_head_is_refused(old_checkpoint, tmp_path):
    from safetensors.torch import load_file, save_file

    path = old_checkpoint[0]
    state = load_file(str(path / "model.safetensors"))
    state["reason.embed.weight"] = state["reason.embed.weight"][:-1]  # 50 words: no catalog had that
    (tmp_path / "bad").mkdir()
    save_file(state, str(tmp_path / "bad" / "model.safetensors"))
    (tmp_path / "bad" / "config.json").write_text((path / "config.json").read_text())
    with pytest.raises(ValueError, match="catalog of 14 reasons had 51"):
        load_checkpoint(tmp_path / "bad")


def test_pads_on_the_device_the_state_is_on(old_checkpoint, device):
    """A checkpoint loaded straight onto a GPU is padded there (the first GPU run of the world
    model's policy-eyes stage failed on a CPU pad concatenated to CUDA weights)."""
    from safetensors.torch import load_file

    from e2edrive.model.migrate import pad_reason_heads

    state = {k: v.to(device) for k, v in load_file(str(old_checkpoint[0] / "model.safetensors")).items()}
    padded = pad_reason_heads(DrivingModel(make_config("tiny")), state)
    assert padded["reason.classify.2.weight"].shape[0] == NUM_REASONS
    assert padded["reason.vocab.bias"].shape[0] == len(VOCAB)
    assert {v.device for v in padded.values()} == {state["reason.vocab.bias"].device}


def test_optimizer_moments_grow_with_their_parameters():
    from e2edrive.model.migrate import pad_optimizer_moments

    old = torch.nn.Parameter(torch.ones(2, 3))
    opt = torch.optim.AdamW([old], lr=0.1)
    old.grad = torch.full((2, 3), 0.5)
    opt.step()
    saved = opt.state_dict()
    new = torch.nn.Parameter(torch.ones(4, 3))  # two rows appended, as pad_reason_heads does
    opt2 = torch.optim.AdamW([new], lr=0.1)
    opt2.load_state_dict(saved)
    pad_optimizer_moments(opt2)
    m = opt2.state[new]["exp_avg"]
    assert m.shape == (4, 3)
    torch.testing.assert_close(m[:2], torch.full((2, 3), 0.05))  # (1 - beta1) * grad
    assert (m[2:] == 0).all()
    new.grad = torch.ones(4, 3)
    opt2.step()  # no shape error
