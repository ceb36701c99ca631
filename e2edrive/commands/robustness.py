"""`e2edrive robustness`: the driving score of a checkpoint under every fault and severity
(sim.faults), its resilience rate against its clean score and, given a DAVE-2 reference run, its
corruption error (eval.robustness).

    e2edrive robustness --checkpoint runs/tiny --suite basic --seeds 1000000:1000010
    e2edrive robustness --checkpoint runs/tiny --reference runs/dave2 --faults fog,rain \\
        --severities 1,3 --report runs/robust
    e2edrive robustness --checkpoint runs/tiny --workers 16     (a process per core)
    e2edrive robustness --checkpoint runs/ego --reference-json runs/robust/robustness.json

Prints the markdown table (or `--json`); `--report DIR` also writes robustness.md, .json and .svg.
Every condition drives the same (scenario, seed) episodes, so differences are the faults' alone.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from functools import partial

import tyro

from e2edrive.eval.suites import EVAL_SEED_START


@dataclass
class RobustnessArgs:
    checkpoint: str
    """run directory (or its checkpoint/) of the network to test"""
    reference: str | None = None
    """run directory of a DAVE-2 checkpoint: also report the corruption error CE and mCE"""
    reference_json: str | None = None
    """instead of --reference: DAVE-2's scores from a table written earlier on the same episodes
    (--json output or --report's robustness.json, of DAVE-2 or with DAVE-2 as its reference)"""
    suite: str = "basic"
    """basic | corner | all, or comma-separated scenario names"""
    seeds: str = f"{EVAL_SEED_START}:{EVAL_SEED_START + 10}"
    """seed range A:B per scenario (evaluation seeds)"""
    faults: str = "all"
    """'all' or comma-separated fault names (sim.faults.FAULTS)"""
    severities: str = "1,2,3"
    """comma-separated severities among 1, 2, 3"""
    monitor: bool = False
    """drive behind the camera health monitor (eval --monitor)"""
    num_envs: int = 8
    """environments simulated together"""
    workers: int = 1
    """processes driving the conditions (clean and each fault:severity) side by side, one torch
    thread each; the scores are those of one process with one thread"""
    device: str = "cpu"
    """cpu | cuda"""
    json: bool = False
    """print the table as one JSON object"""
    report: str | None = None
    """write robustness.md, robustness.json and robustness.svg to this directory"""
    max_steps: int = 0
    """> 0: cut every episode after this many steps (smoke tests; scores are then partial)"""
    progress: bool = True
    """progress bar on stderr"""


def main(argv: list[str]) -> int:
    args = tyro.cli(RobustnessArgs, args=argv, prog="e2edrive robustness", description=__doc__)
    try:
        return _run(args)
    except (FileNotFoundError, ValueError, KeyError) as e:
        msg = e.args[0] if isinstance(e, KeyError) and e.args else e
        print(f"e2edrive robustness: error: {msg}", file=sys.stderr)
        return 2


def _severities(text: str) -> tuple[int, ...]:
    try:
        sevs = tuple(int(s) for s in text.split(","))
    except ValueError:
        raise ValueError(
            f"--severities must be comma-separated integers among 1, 2, 3, got {text!r}"
        ) from None
    return sevs


def build_driver(run: str, expect: str | None, monitor: bool, device: str):
    """The checkpoint's network as a driver (behind the health monitor if asked): a top-level
    function, so that worker processes can build it (eval.robustness.driving_scores)."""
    from e2edrive.core.rig import make_rig
    from e2edrive.eval.drivers import PolicyDriver, load_policy

    driver = PolicyDriver(load_policy(run, expect, make_rig(), device), None)
    if monitor:
        from e2edrive.eval.monitored import MonitoredDriver

        driver = MonitoredDriver(driver)
    return driver


def _run(args: RobustnessArgs) -> int:
    from e2edrive.core.device import as_device
    from e2edrive.core.rig import make_rig
    from e2edrive.core.seeding import parse_seed_range
    from e2edrive.eval.drivers import checkpoint_extra
    from e2edrive.eval.robustness import RobustnessTable, driving_scores, reference_from_json
    from e2edrive.eval.suites import check_disjoint, suite_scenarios
    from e2edrive.sim.faults import fault_grid

    if args.num_envs < 1:
        raise ValueError(f"--num-envs must be >= 1, got {args.num_envs}")
    if args.workers < 1:
        raise ValueError(f"--workers must be >= 1, got {args.workers}")
    if args.reference and args.reference_json:
        raise ValueError("give --reference or --reference-json, not both")
    device = as_device(args.device)
    scenarios = suite_scenarios(args.suite)
    seeds = parse_seed_range(args.seeds)
    specs = fault_grid(args.faults, _severities(args.severities))  # checked before anything drives
    if args.report is not None:
        from pathlib import Path

        Path(args.report).mkdir(parents=True, exist_ok=True)
    rig = make_rig()
    pairs = [(s, seed) for s in scenarios for seed in seeds]
    makers, names = [], []
    for run, expect in ((args.checkpoint, None), (args.reference, "dave2")):
        if run is None:
            continue
        check_disjoint(checkpoint_extra(run).get("train_seeds", {}), scenarios, seeds)
        make = partial(build_driver, run, expect, args.monitor, str(device))
        names.append(make().name)  # loads it here: a bad checkpoint fails before any worker starts
        makers.append(make)
    setup = {"suite": args.suite, "seeds": args.seeds, "max_steps": args.max_steps, "monitor": args.monitor}
    ref_name = ref_clean = ref_scores = None
    if args.reference_json is not None:  # read before driving: a wrong table fails at once
        ref_name, ref_clean, ref_scores = reference_from_json(args.reference_json, setup, specs)
    kw = dict(
        num_envs=args.num_envs, device=device, rig=rig, progress=args.progress, max_steps=args.max_steps
    )
    results = driving_scores(makers, pairs, specs, kw, args.workers)
    clean, scores = results[0]
    if len(results) > 1:
        ref_name, (ref_clean, ref_scores) = names[1], results[1]
    table = RobustnessTable(
        names[0],
        clean,
        scores,
        reference_name=ref_name,
        reference_clean=ref_clean,
        reference=ref_scores,
        episodes=len(pairs),
        setup=setup,
    )
    if args.report is not None:
        paths = table.write(args.report)
        print(f"report: {', '.join(str(p) for p in paths)}", file=sys.stderr)
    print(table.to_json() if args.json else table.markdown())
    return 0
