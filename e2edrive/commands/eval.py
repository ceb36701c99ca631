"""`e2edrive eval`: closed-loop evaluation of a checkpoint or a named driver on a suite of scenarios.

    e2edrive eval --checkpoint runs/tiny --suite basic --seeds 1000000:1000020
    e2edrive eval --driver expert --suite corner --seeds 1000000:1000010 --json
    e2edrive eval --checkpoint runs/tiny --data runs/val --report runs/report
    e2edrive eval --checkpoint runs/tiny --corrupt fog:2 --corrupt action_latency:1 --monitor
    e2edrive eval --checkpoint runs/tiny --corrupt all      # one condition per fault and severity
    e2edrive eval --checkpoint runs/tiny --suite all --ray local --workers 2   # Ray tasks share the pairs

Evaluation seeds must not overlap the seeds the checkpoint was trained on (checked per scenario).
`--json` prints the schema of `e2edrive drive --json`: {"episodes": [...], "summary": {...}}, plus
"open_loop" when --data is given.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass

import tyro

from e2edrive.eval.suites import EVAL_SEED_START


@dataclass
class EvalArgs:
    checkpoint: str | None = None
    """run directory (or its checkpoint/) of a trained network"""
    driver: str = "checkpoint"
    """checkpoint | expert | dave2 | ego_only | constant_velocity | constant_yaw_rate"""
    suite: str = "basic"
    """basic | corner | all, or comma-separated scenario names"""
    seeds: str = f"{EVAL_SEED_START}:{EVAL_SEED_START + 10}"
    """seed range A:B per scenario (evaluation seeds start at 1,000,000; training uses [0, 100,000))"""
    num_envs: int = 8
    """environments simulated together"""
    json: bool = False
    """print one JSON object (episodes + summary) to stdout instead of the table"""
    report: str | None = None
    """write an HTML report (index.html, failure videos) to this directory"""
    videos: int = 3
    """failure videos in the report"""
    data: str | None = None
    """held-out dataset: also compute open-loop metrics of the network on it"""
    device: str = "cpu"
    """cpu | cuda"""
    progress: bool = True
    """progress bar on stderr"""
    bank: str | None = None
    """append every failed episode to this failure bank directory (replay it with `e2edrive replay`)"""
    bank_passed: bool = False
    """with --bank, also bank the passed episodes, as a regression set"""
    corrupt: tyro.conf.UseAppendAction[tuple[str, ...]] = ()
    """inject a fault NAME:SEVERITY (sim.faults; repeat to combine); 'all' or 'all:S' evaluates
    every fault (at every severity, or at S) as a separate condition"""
    monitor: bool = False
    """wrap the driver in the camera health monitor (masks faulty cameras, stops if the fronts fail)"""
    ray: str | None = None
    """split the (scenario, seed) pairs over Ray tasks: 'local', 'auto', or a cluster's HOST:PORT /
    ray://HOST:PORT (the checkpoint path must be readable on every node); same results as without"""
    workers: int = 2
    """with --ray: Ray tasks, each driving its share in num_envs environments"""
    rerun: str | None = None
    """drive up to --rerun-max failed episodes again and log them to this Rerun recording (.rrd), one
    root episodes/SCENARIO_SEED/ per episode (pip install 'e2edrive[viz]')"""
    rerun_max: int = 3
    """with --rerun: at most this many failed episodes"""
    max_steps: int = 0
    """cut every episode after this many steps (smoke tests; its result is then partial); 0: no cut"""


def main(argv: list[str]) -> int:
    args = tyro.cli(EvalArgs, args=argv, prog="e2edrive eval", description=__doc__)
    try:
        return _run(args)
    except (FileNotFoundError, ValueError, KeyError, ImportError) as e:
        msg = e.args[0] if isinstance(e, KeyError) and e.args else e
        print(f"e2edrive eval: error: {msg}", file=sys.stderr)
        return 2


def _run(args: EvalArgs) -> int:

    from e2edrive.core.seeding import parse_seed_range
    from e2edrive.eval.drivers import checkpoint_extra, make_driver
    from e2edrive.eval.report import markdown_table, scenario_rows, summary_rows, write_report
    from e2edrive.eval.runner import evaluate_driver
    from e2edrive.eval.suites import check_disjoint, suite_scenarios
    from e2edrive.sim.faults import parse_faults
    from e2edrive.sim.metrics import summarize

    scenarios = suite_scenarios(args.suite)
    seeds = parse_seed_range(args.seeds)
    driver_name = args.driver
    if args.bank_passed and args.bank is None:
        raise ValueError("--bank-passed needs --bank DIR")
    if driver_name == "checkpoint" and args.checkpoint is None:
        raise ValueError("give --checkpoint RUN, or --driver NAME for a driver without weights")
    if args.checkpoint is not None:
        check_disjoint(checkpoint_extra(args.checkpoint).get("train_seeds", {}), scenarios, seeds)
    from e2edrive.core.rig import make_rig

    rig = make_rig()
    conditions = _conditions(args.corrupt)  # checked before anything drives
    if args.ray is not None and args.report and args.videos > 0:
        raise ValueError("--ray does not record the report's failure videos; add --videos 0")
    if args.ray is not None and args.max_steps > 0:
        raise ValueError("--max-steps does not apply to Ray tasks; leave it out with --ray")
    driver = make_driver(driver_name, args.checkpoint, rig=rig, device=args.device)
    if args.monitor:
        from e2edrive.eval.monitored import MonitoredDriver

        driver = MonitoredDriver(driver)
    logger = None
    if args.rerun is not None:  # before anything drives: rerun installed, the directory exists
        from e2edrive.eval.rerun_log import RerunLogger

        logger = RerunLogger(args.rerun, application=f"e2edrive eval {driver_name}", per_episode=True)
    open_loop = None
    if args.data is not None:
        open_loop = _open_loop(driver, args)
    pairs = [(s, seed) for s in scenarios for seed in seeds]
    evals = []
    for specs in conditions:
        if args.ray is not None:
            evals.append(_evaluate_on_ray(args, driver.name, pairs, specs, open_loop))
            continue
        ev = evaluate_driver(
            driver,
            pairs,
            args.num_envs,
            args.device,
            rig,
            args.report,
            args.videos if args.report else 0,
            args.progress,
            open_loop,
            max_steps=args.max_steps,
            faults=parse_faults(list(specs)),
        )
        if specs:
            ev.name = f"{driver.name} [{', '.join(specs)}]"
        evals.append(ev)
    if logger is not None:
        _rerun_failures(logger, driver, conditions, evals, args, rig)
    if args.bank is not None:
        from e2edrive.data.failure_bank import bank_results

        results = [r for ev in evals for r in ev.results]
        n = bank_results(args.bank, results, args.checkpoint, driver_name, args.bank_passed)
        print(f"banked {n} episodes in {args.bank}", file=sys.stderr)
    if args.report:
        path = write_report(args.report, evals, title=f"e2edrive eval: {driver.name} on {args.suite}")
        print(f"report: {path}", file=sys.stderr)
    if args.json:
        payloads = []
        for specs, ev in zip(conditions, evals):
            payload = {"episodes": [r.to_dict() for r in ev.results], "summary": summarize(ev.results)}
            if specs:
                payload["faults"] = list(specs)
            if open_loop is not None:
                payload["open_loop"] = open_loop
            payloads.append(payload)
        # One condition keeps `drive --json`'s schema; a fault sweep lists one object per condition.
        print(json.dumps(payloads[0] if len(payloads) == 1 else {"conditions": payloads}, allow_nan=False))
    else:
        if len(evals) == 1:
            print(markdown_table(*scenario_rows(evals[0])))
            print()
        print(markdown_table(*summary_rows(evals)))
    return 0


def _rerun_failures(logger, driver, conditions, evals, args: EvalArgs, rig) -> None:
    """Drive up to --rerun-max failed episodes again (each with its condition's faults) into the
    Rerun recording."""
    from e2edrive.eval.rerun_log import log_episodes
    from e2edrive.sim.faults import parse_faults

    seen: set[tuple[str, int]] = set()
    for specs, ev in zip(conditions, evals):
        pairs = []
        for r in ev.results:
            if not r.passed and (r.scenario, r.seed) not in seen and len(seen) < args.rerun_max:
                seen.add((r.scenario, r.seed))
                pairs.append((r.scenario, r.seed))
        if pairs:
            faults = parse_faults(list(specs))
            log_episodes(logger, driver, pairs, args.device, rig, args.max_steps, faults)
    path = logger.close()
    print(f"rerun: {len(seen)} failed episodes in {path}", file=sys.stderr)


def _evaluate_on_ray(args: EvalArgs, name: str, pairs, specs: tuple[str, ...], open_loop):
    from e2edrive.commands._ray import eval_on_ray
    from e2edrive.eval.report import DriverEval

    spec = {"driver": args.driver, "checkpoint": args.checkpoint, "monitor": args.monitor}
    results = eval_on_ray(spec, pairs, args.num_envs, args.device, specs, args.ray, args.workers)
    ev = DriverEval(name, results, open_loop)
    if specs:
        ev.name = f"{name} [{', '.join(specs)}]"
    return ev


def _conditions(corrupt: tuple[str, ...]) -> list[tuple[str, ...]]:
    """--corrupt values -> the fault sets to evaluate, each a separate run: one set of every fault
    given, or with 'all' / 'all:S' one condition per fault and severity."""
    from e2edrive.sim.faults import fault_grid, parse_faults

    specs = [s for c in corrupt for s in c.split(",")]
    grid = [s for s in specs if s.strip().split(":")[0] == "all"]
    if grid:
        if len(grid) != len(specs):
            raise ValueError("--corrupt all sweeps every fault alone; it does not combine with other faults")
        return [(s,) for g in grid for s in fault_grid(g)]
    parse_faults(specs)
    return [tuple(specs)]


def _open_loop(driver, args: EvalArgs) -> dict:
    from e2edrive.model.open_loop import evaluate_open_loop
    from e2edrive.train.data import collate_fn, open_dataset

    model = getattr(driver, "model", None)
    if model is None:
        raise ValueError(f"--data: open-loop metrics need a network; driver {driver.name!r} has none")
    history = checkpoint_history(args.checkpoint)
    dataset = open_dataset(args.data, history)
    loader = _batches(dataset, collate_fn(dataset), 16)
    return evaluate_open_loop(model, loader, args.device)


def checkpoint_history(checkpoint: str) -> int:
    """Clip length the network was trained with (the trainer stores its config in the checkpoint)."""
    from e2edrive.eval.drivers import checkpoint_extra

    return int(checkpoint_extra(checkpoint).get("train_config", {}).get("history", 2))


def _batches(dataset, collate, batch_size: int):
    for i in range(0, len(dataset), batch_size):
        yield collate([dataset[j] for j in range(i, min(len(dataset), i + batch_size))])
