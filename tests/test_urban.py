"""Urban junctions: the expert follows routes that turn, the scenarios' pass rules on worked
examples, and the suites that list them."""

from __future__ import annotations

import pytest
import torch

from e2edrive.core.constants import TurnCommand
from e2edrive.sim.world import World


def drive(names: list[str], seeds: list[int]) -> World:
    world = World(names, seeds)
    with torch.no_grad():
        while not bool(world.done.all()):
            world.step(world.expert().action)
    return world


def test_expert_turns_left_and_right_without_leaving_the_road():
    seeds = list(range(40))
    world = drive(["traffic_light_turn"] * len(seeds), seeds)
    turns = [spec.info["turn"] for spec in world.specs]
    assert turns.count(TurnCommand.LEFT) >= 8 and turns.count(TurnCommand.RIGHT) >= 8
    recs = world.episode_records()
    assert not any(r.off_road for r in recs), [s for s, r in zip(seeds, recs) if r.off_road]
    assert not any(r.collided for r in recs)
    assert all(r.route_done for r in recs)
    assert all(res.passed for res in world.episode_results())


def test_nav_command_matches_the_route_turn():
    seeds = list(range(30))
    world = World(["traffic_light_turn"] * len(seeds), seeds)
    cmd = world.observation().nav.turn_command.tolist()
    assert cmd == [spec.info["turn"] for spec in world.specs]
    assert set(cmd) == {0, 1, 2}


@pytest.mark.parametrize("name", ["nope", "urbn"])
def test_unknown_suite_lists_the_valid_ones(name):
    from e2edrive.eval.suites import suite_scenarios

    with pytest.raises(KeyError, match="urban"):
        suite_scenarios(name)
