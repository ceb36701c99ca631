"""Decision reasons: an enum the expert emits and the network's reason head predicts, each with one
plain-language sentence. Sentences come from a small closed vocabulary so the head can generate
them token by token and a test can check it never invents a word.
"""

from __future__ import annotations

import enum


class Reason(enum.IntEnum):
    CRUISE = 0
    FOLLOW_LEAD = 1
    STOP_RED_LIGHT = 2
    WAIT_CHICKENS = 3
    PASS_STATIC_ANIMALS = 4
    WAIT_TO_PASS = 5
    AVOID_PUDDLE = 6
    SLOW_PUDDLE = 7
    BRAKE_HAZARD = 8
    YIELD_CUT_IN = 9
    OFFSET_PEDESTRIAN = 10
    AVOID_OBSTACLE = 11
    STOP_OBSTACLE = 12
    PREPARE_TURN = 13


REASON_TEXT: dict[Reason, str] = {
    Reason.CRUISE: "cruising: lane is clear",
    Reason.FOLLOW_LEAD: "following: keeping distance to the car ahead",
    Reason.STOP_RED_LIGHT: "stopping: traffic light is red",
    Reason.WAIT_CHICKENS: "waiting: chickens still crossing",
    Reason.PASS_STATIC_ANIMALS: "passing: geese are standing on the lane",
    Reason.WAIT_TO_PASS: "waiting: oncoming lane is not clear to pass",
    Reason.AVOID_PUDDLE: "avoiding: puddle on the lane",
    Reason.SLOW_PUDDLE: "slowing: driving through the puddle",
    Reason.BRAKE_HAZARD: "braking: car ahead is out of control",
    Reason.YIELD_CUT_IN: "yielding: car is cutting in",
    Reason.OFFSET_PEDESTRIAN: "offsetting: pedestrian at the lane edge",
    Reason.AVOID_OBSTACLE: "avoiding: unknown object on the lane",
    Reason.STOP_OBSTACLE: "stopping: lane is blocked",
    Reason.PREPARE_TURN: "slowing: turn ahead",
}
NUM_REASONS = len(Reason)

PAD, BOS, EOS = "<pad>", "<bos>", "<eos>"


def _tokens(sentence: str) -> list[str]:
    return sentence.replace(":", " :").split()


VOCAB: list[str] = [PAD, BOS, EOS] + sorted({w for s in REASON_TEXT.values() for w in _tokens(s)})
WORD_TO_ID = {w: i for i, w in enumerate(VOCAB)}
MAX_SENTENCE_TOKENS = 12  # bos + longest sentence + eos fits


def encode_sentence(sentence: str) -> list[int]:
    """Token ids with BOS and EOS, padded to MAX_SENTENCE_TOKENS. Unknown words are an error."""
    words = _tokens(sentence)
    unknown = [w for w in words if w not in WORD_TO_ID]
    if unknown:
        raise ValueError(f"words outside the reason vocabulary: {unknown}")
    ids = [WORD_TO_ID[BOS]] + [WORD_TO_ID[w] for w in words] + [WORD_TO_ID[EOS]]
    if len(ids) > MAX_SENTENCE_TOKENS:
        raise ValueError(f"sentence of {len(ids)} tokens exceeds {MAX_SENTENCE_TOKENS}: {sentence!r}")
    return ids + [WORD_TO_ID[PAD]] * (MAX_SENTENCE_TOKENS - len(ids))


def decode_sentence(ids: list[int]) -> str:
    words = []
    for i in ids:
        w = VOCAB[i]
        if w == EOS:
            break
        if w not in (PAD, BOS):
            words.append(w)
    return " ".join(words).replace(" :", ":")
