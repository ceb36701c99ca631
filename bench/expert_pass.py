"""Expert pass rates per scenario on the state-only World (no rendering): the figure the urban
scenarios promise (>= 98 % of seeds 0-199), plus the turn commands the routes ask for.

    python -m bench.expert_pass [--scenarios urban] [--seeds 0:200] [--batch 100]

Prints one line per scenario: passed/total, collisions (at fault), off-road episodes, red-light
runs, and the share of each TurnCommand at the first step; failing seeds are listed.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass

import torch
import tyro

from e2edrive.core.constants import TurnCommand
from e2edrive.eval.suites import suite_scenarios
from e2edrive.sim.world import World


@dataclass
class Args:
    scenarios: str = "urban"
    """a suite name or comma-separated scenario names"""
    seeds: str = "0:200"
    """seed range a:b"""
    batch: int = 100
    """environments stepped together"""
    out: str | None = None
    """write the rows as JSON here"""


def run_scenario(name: str, seeds: list[int], batch: int) -> dict:
    passed, failed, coll, fault, off, red = 0, [], 0, 0, 0, 0
    turns: Counter = Counter()
    for i in range(0, len(seeds), batch):
        chunk = seeds[i : i + batch]
        world = World([name] * len(chunk), chunk)
        obs = world.observation()
        turns.update(TurnCommand(int(c)).name for c in obs.nav.turn_command.tolist())
        while not bool(world.done.all()):
            world.step(world.expert().action)
        for seed, res, rec in zip(chunk, world.episode_results(), world.episode_records()):
            passed += res.passed
            if not res.passed:
                failed.append(seed)
            coll += rec.collided
            fault += rec.at_fault
            off += rec.off_road
            red += rec.red_light_runs > 0
    n = len(seeds)
    return dict(
        scenario=name,
        passed=passed,
        total=n,
        rate=passed / n,
        collisions=coll,
        at_fault=fault,
        off_road=off,
        red_light=red,
        turns={k: v / n for k, v in sorted(turns.items())},
        failed=failed,
    )


def main(args: Args) -> None:
    torch.set_grad_enabled(False)
    a, b = (int(x) for x in args.seeds.split(":"))
    rows = []
    for name in suite_scenarios(args.scenarios):
        r = run_scenario(name, list(range(a, b)), args.batch)
        rows.append(r)
        print(
            f"{name:24s} {r['passed']}/{r['total']} ({100 * r['rate']:.1f} %)  collisions {r['collisions']} "
            f"(at fault {r['at_fault']})  off-road {r['off_road']}  red-light {r['red_light']}  "
            f"turns {r['turns']}  failed {r['failed'][:20]}",
            flush=True,
        )
    if args.out:
        with open(args.out, "w") as f:
            json.dump(rows, f, indent=1)


if __name__ == "__main__":
    main(tyro.cli(Args))
