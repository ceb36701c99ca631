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
    # the junction and street decisions of the urban suite (issue 11); new values only ever append
    YIELD_ONCOMING = 14
    YIELD_CROSSING_CAR = 15
    WAIT_CROSSWALK = 16
    STOP_PEDESTRIAN = 17
    PASS_CONSTRUCTION = 18
    SLOW_OCCLUSION = 19


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
    Reason.YIELD_ONCOMING: "yielding: oncoming traffic",
    Reason.YIELD_CROSSING_CAR: "yielding: car crossing the junction",
    Reason.WAIT_CROSSWALK: "waiting: pedestrian in the crosswalk",
    Reason.STOP_PEDESTRIAN: "stopping: pedestrian is crossing",
    Reason.PASS_CONSTRUCTION: "passing: cones close the lane",
    Reason.SLOW_OCCLUSION: "slowing: parked cars may hide a pedestrian",
}
NUM_REASONS = len(Reason)
# How many reasons each release of the catalog had, oldest first. A checkpoint trained on an
# older catalog has that many reason logits and that generation's vocabulary; model.migrate pads it.
REASON_GENERATIONS: tuple[int, ...] = (14, NUM_REASONS)

PAD, BOS, EOS = "<pad>", "<bos>", "<eos>"


def _tokens(sentence: str) -> list[str]:
    return sentence.replace(":", " :").split()


def _vocab(generations: tuple[int, ...]) -> list[str]:
    """Specials, then each generation's new words sorted, appended after the older ones. Appending
    (rather than sorting the whole vocabulary) keeps every older token id unchanged, so an older
    checkpoint's embedding and output rows stay valid and only new rows need adding."""
    vocab, seen = [PAD, BOS, EOS], set()
    for n in generations:
        words = {w for r in range(n) for w in _tokens(REASON_TEXT[Reason(r)])} - seen
        vocab += sorted(words)
        seen |= words
    return vocab


def vocab_size(num_reasons: int) -> int:
    """Vocabulary size of the catalog generation that had num_reasons reasons (ValueError if none)."""
    if num_reasons not in REASON_GENERATIONS:
        raise ValueError(f"no reason catalog had {num_reasons} reasons; known: {REASON_GENERATIONS}")
    return len(_vocab(REASON_GENERATIONS[: REASON_GENERATIONS.index(num_reasons) + 1]))


VOCAB: list[str] = _vocab(REASON_GENERATIONS)
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
