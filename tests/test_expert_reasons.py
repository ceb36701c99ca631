"""The expert's reasons for the urban decisions (issue 11): each scenario's own decision is
named by its own sentence, and the street scenarios keep theirs."""

from __future__ import annotations

import torch

from e2edrive.core.reasons import REASON_TEXT, Reason
from e2edrive.sim.world import World

EXPECTED = {
    "turn_left_unprotected": {Reason.YIELD_ONCOMING},
    "turn_right_crosswalk": {Reason.WAIT_CROSSWALK},
    "red_light_runner": {Reason.YIELD_CROSSING_CAR},
    "construction_zone": {Reason.PASS_CONSTRUCTION, Reason.WAIT_TO_PASS},
    "occluded_pedestrian": {Reason.SLOW_OCCLUSION, Reason.STOP_PEDESTRIAN},
}
NOT_EXPECTED = {Reason.STOP_OBSTACLE, Reason.AVOID_OBSTACLE}  # what these decisions used to borrow


def test_urban_decisions_have_their_own_reasons():
    names = list(EXPECTED)
    world = World(names, [0] * len(names))
    seen: list[set[Reason]] = [set() for _ in names]
    with torch.no_grad():
        while not bool(world.done.all()):
            e = world.expert()
            live = (~world.done).tolist()
            for b, r in enumerate(e.reason.tolist()):
                if live[b]:
                    seen[b].add(Reason(r))
            world.step(e.action)
    for name, got in zip(names, seen):
        assert EXPECTED[name] <= got, (name, sorted(r.name for r in got))
        assert not (NOT_EXPECTED & got), (name, sorted(r.name for r in got))


def test_new_reason_sentences():
    assert REASON_TEXT[Reason.YIELD_ONCOMING] == "yielding: oncoming traffic"
    assert REASON_TEXT[Reason.WAIT_CROSSWALK] == "waiting: pedestrian in the crosswalk"
    assert [int(r) for r in Reason][:14] == list(range(14))  # the old values never move
