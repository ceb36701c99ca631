"""Batched world steps per second, state only (no rendering), side by side with highway-env.

    python -m bench.world_steps [--envs 64] [--steps 200] [--repeats 5] [--out bench_world.json]

Ours: one World of `envs` environments cycling through the scenarios (`--scenarios`, a suite or
names; default all of them), every episode padded
to at least `min_actors` actors (parked cars, see World(min_actors=...)), stepped with a constant
action (the step's cost does not depend on the action; finished episodes keep being simulated).
A second row adds the privileged expert's planning to every step. highway-env's
`highway-fast-v0` is stepped with random actions in the same process (one environment; its
own time-to-collision-free fast config). env-steps/s = environments x steps / wall seconds,
median over repeats; the world rows also give env-steps per process-CPU second (the figure to
trust when other jobs share the CPU). Both use torch.set_num_threads(threads).
"""

from __future__ import annotations

import json
import os
import statistics
import time
from dataclasses import asdict, dataclass

import torch
import tyro

from e2edrive.core.types import Action
from e2edrive.eval.suites import suite_scenarios
from e2edrive.sim.world import World


@dataclass
class Args:
    envs: int = 64
    """parallel environments of our world"""
    scenarios: str = "all"
    """the scenarios the environments cycle through: a suite (basic, corner, urban, all) or names"""
    min_actors: int = 20
    """actors per environment (scenario actors plus parked cars)"""
    steps: int = 200
    """steps per repeat"""
    repeats: int = 5
    """repeats; the median is reported"""
    highway_steps: int = 100
    """highway-fast-v0 steps per repeat"""
    threads: int = 2
    """torch threads"""
    device: str = "cpu"
    """device of our world"""
    out: str | None = None
    """write the results as JSON here"""


def bench_world(a: Args, with_expert: bool) -> list[float]:
    names = list(suite_scenarios(a.scenarios))
    world = World(
        [names[i % len(names)] for i in range(a.envs)],
        list(range(a.envs)),
        device=a.device,
        min_actors=a.min_actors,
    )
    assert int(world.actors.valid.sum(1).min()) >= a.min_actors
    action = Action(torch.zeros(a.envs, device=world.device), torch.zeros(a.envs, device=world.device))
    rates, cpu_rates = [], []
    for _ in range(a.repeats + 1):  # the first repeat warms up
        world.reset()
        t0, c0 = time.perf_counter(), time.process_time()
        for _ in range(a.steps):
            world.step(world.expert().action if with_expert else action)
        if world.device.type == "cuda":
            torch.cuda.synchronize()
        rates.append(a.envs * a.steps / (time.perf_counter() - t0))
        cpu_rates.append(a.envs * a.steps / (time.process_time() - c0))
    CPU_RATES[(with_expert, a.scenarios)] = statistics.median(cpu_rates[1:])
    return rates[1:]


# env-steps per process-CPU second of each world row: the figure to trust on a shared machine
CPU_RATES: dict = {}


def bench_highway(a: Args) -> list[float] | None:
    try:
        import gymnasium as gym
        import highway_env  # noqa: F401  (registers the environments)
    except ImportError:
        return None
    env = gym.make("highway-fast-v0")
    env.reset(seed=0)
    rates = []
    for _ in range(a.repeats):
        t0 = time.perf_counter()
        for _ in range(a.highway_steps):
            _, _, term, trunc, _ = env.step(env.action_space.sample())
            if term or trunc:
                env.reset()
        rates.append(a.highway_steps / (time.perf_counter() - t0))
    return rates


def main(argv: list[str] | None = None) -> dict:
    a = tyro.cli(Args, args=argv)
    torch.set_num_threads(a.threads)
    rows = {
        f"e2edrive World ({a.envs} envs of {a.scenarios}, >= {a.min_actors} actors, state only)": bench_world(
            a, False
        ),
        f"e2edrive World + expert ({a.envs} envs of {a.scenarios})": bench_world(a, True),
        "highway-env highway-fast-v0 (1 env)": bench_highway(a),
    }
    print("| simulator | env-steps/s (median) | repeats |")
    print("|---|---:|---:|")
    result = {"args": asdict(a), "rows": {}, "load_average_1min": os.getloadavg()[0]}
    for name, rates in rows.items():
        if rates is None:
            print(f"| {name} | not installed | - |")
            continue
        med = statistics.median(rates)
        result["rows"][name] = {"median_env_steps_per_s": med, "all": rates}
        cpu = CPU_RATES.get(("expert" in name, a.scenarios)) if name.startswith("e2edrive") else None
        if cpu is not None:
            result["rows"][name]["median_env_steps_per_cpu_s"] = cpu
        print(f"| {name} | {med:,.0f} | {len(rates)} |" + (f" per CPU-s: {cpu:,.0f}" if cpu else ""))
    if a.out:
        with open(a.out, "w") as f:
            json.dump(result, f, indent=2)
    return result


if __name__ == "__main__":
    main()
