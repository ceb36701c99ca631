"""Migrations of stored weights to the shapes of this version, applied when a checkpoint loads.

The reason catalog (core.reasons) grows by appending reasons, and its vocabulary by appending
each generation's new words after the old ones, so an older checkpoint's reason head differs
only in having fewer rows. `pad_reason_heads` adds them so that the old network computes what it
computed before:

    classify.2   (R_old, C)  -> (R, C)   new rows: zero weights, bias LOW_LOGIT below the lowest
                                         old bias, so a new reason is never the argmax and its
                                         softmax mass is negligible (training lifts it)
    init_h       (H, C + R_old) -> (H, C + R)  new input columns zero: the decoder's start state
                                         ignores the new reasons' probabilities
    embed        (V_old, H)  -> (V, H)   new words: zero rows (never fed: never emitted, below)
    vocab        (V_old, H)  -> (V, H)   new words: the BOS row (BOS is never a target, so its
                                         logit was trained low) moved LOW_LOGIT further down

Old token ids keep their meaning because the vocabulary only appends (core.reasons._vocab).
The driving action never reads the reason head, so actions are identical.
"""

from __future__ import annotations

import torch

from e2edrive.core.reasons import BOS, NUM_REASONS, VOCAB, WORD_TO_ID, vocab_size

LOW_LOGIT = 20.0  # logit margin below the old outputs: exp(-20) ~ 2e-9 of probability mass


def _pad_rows(x: torch.Tensor, n: int, fill: torch.Tensor) -> torch.Tensor:
    """x (R_old, ...) grown to (n, ...) with copies of fill (...), on x's device (a checkpoint loaded
    straight onto a GPU pads there)."""
    extra = fill.to(x.device, x.dtype).expand(n - x.shape[0], *x.shape[1:])
    return torch.cat([x, extra], 0)


def _pad_head(state: dict[str, torch.Tensor], p: str) -> None:
    """Pad one reason head's tensors (key prefix p, e.g. 'reason.') in place."""
    w, b = state[p + "classify.2.weight"], state[p + "classify.2.bias"]
    r_old = w.shape[0]
    v_old = vocab_size(r_old)  # ValueError for a catalog that never existed
    words = state[p + "embed.weight"].shape[0]
    if words != v_old:
        raise ValueError(f"{p}embed has {words} words, the catalog of {r_old} reasons had {v_old}")
    state[p + "classify.2.weight"] = _pad_rows(w, NUM_REASONS, torch.zeros(w.shape[1]))
    state[p + "classify.2.bias"] = _pad_rows(b, NUM_REASONS, b.min() - LOW_LOGIT)
    ih = state[p + "init_h.weight"]  # (H, C + R_old)
    state[p + "init_h.weight"] = torch.cat([ih, ih.new_zeros(ih.shape[0], NUM_REASONS - r_old)], 1)
    emb = state[p + "embed.weight"]
    state[p + "embed.weight"] = _pad_rows(emb, len(VOCAB), torch.zeros(emb.shape[1]))
    vw, vb = state[p + "vocab.weight"], state[p + "vocab.bias"]
    bos = WORD_TO_ID[BOS]
    state[p + "vocab.weight"] = _pad_rows(vw, len(VOCAB), vw[bos])
    state[p + "vocab.bias"] = _pad_rows(vb, len(VOCAB), vb[bos] - LOW_LOGIT)


def pad_reason_heads(model: torch.nn.Module, state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """A copy of state (a checkpoint's tensors for model) with every ReasonHead saved under an
    older reason catalog padded to this version's shapes; other tensors are untouched."""
    from e2edrive.model.reason import ReasonHead

    state = dict(state)
    for name, module in model.named_modules():
        if not isinstance(module, ReasonHead):
            continue
        p = f"{name}." if name else ""
        w = state.get(p + "classify.2.weight")
        if w is not None and w.shape[0] < NUM_REASONS:
            _pad_head(state, p)
    return state


def pad_optimizer_moments(optimizer: torch.optim.Optimizer) -> None:
    """After resuming an older run: grow each per-parameter state tensor (Adam's moments) that is
    smaller than its parameter with zeros, in place. The padded parameters only gained rows or
    columns at their ends (pad_reason_heads), so the old entries keep their places."""
    for group in optimizer.param_groups:
        for p in group["params"]:
            for key, x in optimizer.state.get(p, {}).items():
                if not torch.is_tensor(x) or x.dim() != p.dim() or x.shape == p.shape:
                    continue
                grown = x.new_zeros(p.shape)
                grown[tuple(slice(0, n) for n in x.shape)] = x
                optimizer.state[p][key] = grown
