"""`e2edrive quickstart`: the whole loop on a fresh machine, within a time budget.

    e2edrive quickstart [--out runs/quickstart] [--minutes 30]

1. collect   the expert drives the training scenarios on training seeds [0, N), with DART noise
             injection (perturbed executed actions, clean corrective labels: recovery data), plus a
             few clean held-out episodes (seeds from 90,000) for open-loop validation
2. train     the baselines DAVE-2 and the ego-status MLP on that data, then the `tiny`
             DrivingModel, each for its share of the remaining time (the trainer fits its
             schedule to it)
3. DAgger    (--dagger-rounds) the policy drives new training seeds; the expert labels every
             state it visits and takes over when it is unsafe (flagged interventions); the frames
             join the training set and the policy trains on, resumed, on the aggregate
4. evaluate  closed loop on unseen seeds (from 1,000,000): the policy beside expert, dave2,
             ego_only and constant_velocity on `basic`; the policy and the expert on `corner`,
             reported per scenario; open-loop metrics on the held-out clips
5. report    OUT/report/index.html (tables, SVG plots, failure videos); the table is printed

Each stage leaves a marker in OUT, so running the command again continues where it stopped.
"""

from __future__ import annotations

import json
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import tyro


@dataclass
class QuickstartArgs:
    out: str = "runs/quickstart"
    """output directory (data/, runs/, report/)"""
    minutes: float = 30.0
    """total time budget; training gets what collection and the evaluation estimate leave"""
    train_suite: str = "basic"
    """scenarios recorded for training (a suite or comma-separated names)"""
    train_seeds: int = 16
    """training episodes per training scenario (seeds 0..N-1); 10 beat 3 on basic (78.2 vs 64.6,
    BENCHMARKS.md): collection is cheap (~5,000 frames/min idle), so data is worth its time"""
    val_seeds: int = 1
    """held-out clean episodes per training scenario for open-loop metrics (seeds from 90,000)"""
    dagger_rounds: int = 1
    """DAgger rounds after behaviour cloning (0: plain behaviour cloning)"""
    dagger_seeds: int = 8
    """episodes per training scenario the policy drives in each DAgger round (training seeds
    following the behaviour-cloning ones)"""
    dagger_share: float = 0.3
    """share of the policy's training time spent in the DAgger rounds (rollouts included)"""
    eval_seeds: int = 8
    """closed-loop episodes per `basic` scenario (seeds from 1,000,000)"""
    corner_seeds: int = 2
    """closed-loop episodes per `corner` scenario for the policy and the expert (0 skips corner)"""
    noise: float = 0.05
    """steering noise std (rad) of the DART bursts during collection"""
    noise_accel: float = 1.0
    """acceleration noise std (m/s^2) of the DART bursts"""
    num_envs: int = 8
    """environments simulated together in collection and evaluation"""
    batch_size: int = 8
    """training batch size"""
    eval_minutes: float = 5.0
    """time reserved for evaluation and the report"""
    videos: int = 3
    """failure videos of the policy in the report"""
    device: str = "cpu"
    """cpu | cuda"""
    max_episode_steps: int = 0
    """cut every episode after this many steps in collection and evaluation (0: the scenario's
    own length); only for smoke tests: cut episodes cannot complete their routes"""


VAL_SEED_START = 90_000  # inside the training range [0, 100000), disjoint from the training seeds
# Shares of the training time. The baselines converge in far less time than the full network:
# with 3.9 and 1.8 min (8 and 6 epochs) DAVE-2's held-out action loss was lowest after epoch 2 and
# the ego MLP's flat from epoch 2, so these shares (~4 and ~2 epochs) are what they need; the rest
# is the policy's.
TRAIN_SHARES = {"dave2": 0.10, "ego_mlp": 0.05, "driving": 0.85}


def main(argv: list[str]) -> int:
    args = tyro.cli(QuickstartArgs, args=argv, prog="e2edrive quickstart", description=__doc__)
    try:
        table = run(args)
    except (ValueError, KeyError, FileNotFoundError) as e:
        msg = e.args[0] if isinstance(e, KeyError) and e.args else e
        print(f"e2edrive quickstart: error: {msg}", file=sys.stderr)
        return 2
    print(table)
    return 0


def _stage(out: Path, name: str) -> Path:
    return out / f".done-{name}"


def _say(t0: float, msg: str) -> None:
    print(f"[quickstart {(time.perf_counter() - t0) / 60:5.1f} min] {msg}", flush=True)


def run(args: QuickstartArgs) -> str:
    """Run every stage (skipping finished ones) and return the printed result table."""

    from e2edrive.eval.suites import SUITES, default_eval_seeds, suite_scenarios

    t0 = time.perf_counter()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    train_scenarios = suite_scenarios(args.train_suite)
    if args.train_seeds < 1 or args.eval_seeds < 1:
        raise ValueError("--train-seeds and --eval-seeds must be >= 1")

    # 1. collect ----------------------------------------------------------------------------------
    data, val = out / "data" / "train", out / "data" / "val"
    _collect(
        args,
        t0,
        out,
        "collect-train",
        data,
        train_scenarios,
        0,
        args.train_seeds,
        args.noise,
        args.noise_accel,
    )
    if args.val_seeds > 0:
        _collect(args, t0, out, "collect-val", val, train_scenarios, VAL_SEED_START, args.val_seeds, 0.0, 0.0)

    # 2. train ------------------------------------------------------------------------------------
    left = 60 * args.minutes - (time.perf_counter() - t0) - 60 * args.eval_minutes
    if left < 60:
        _say(t0, f"warning: only {left:.0f} s left for training; results will be poor (raise --minutes)")
    runs = {}
    val_data = val if args.val_seeds > 0 else None
    t_train_end = time.perf_counter() + max(left, 60.0)
    for model, share in TRAIN_SHARES.items():
        minutes = max(0.5, share * left / 60)
        if model == "driving" and args.dagger_rounds > 0:
            minutes = max(0.5, minutes * (1 - args.dagger_share))
        runs[model] = _train(args, t0, out, model, data, val_data, minutes)

    # 3. DAgger -----------------------------------------------------------------------------------
    for r in range(args.dagger_rounds):
        rounds_left = args.dagger_rounds - r
        minutes = max(0.5, (t_train_end - time.perf_counter()) / 60 / rounds_left)
        _dagger_round(args, t0, out, r, runs["driving"], data, val_data, train_scenarios, minutes)

    # 3. evaluate ---------------------------------------------------------------------------------
    basic = [(s, seed) for s in SUITES["basic"] for seed in default_eval_seeds(args.eval_seeds)]
    corner = [(s, seed) for s in SUITES["corner"] for seed in default_eval_seeds(args.corner_seeds)]
    evals = _evaluate(args, t0, out, runs, basic, corner, val)

    # 4. report -----------------------------------------------------------------------------------
    from e2edrive.eval.report import markdown_table, scenario_rows, summary_rows, write_report

    notes = [
        f"Training: {', '.join(train_scenarios)}, seeds 0..{args.train_seeds - 1} with DART noise "
        f"(steer {args.noise} rad, accel {args.noise_accel} m/s2). Evaluation: unseen seeds from 1,000,000.",
        f"Total wall time {(time.perf_counter() - t0) / 60:.1f} min with budget {args.minutes} min.",
    ]
    report = write_report(
        out / "report",
        list(evals["basic"].values()) + list(evals["corner"].values()),
        title="e2edrive quickstart",
        notes=notes,
    )
    lines = ["", "basic suite (unseen seeds):", markdown_table(*summary_rows(list(evals["basic"].values())))]
    for name, ev in evals["basic"].items():
        lines += ["", f"{name} per scenario:", markdown_table(*scenario_rows(ev))]
    for name, ev in evals["corner"].items():
        lines += ["", f"corner suite, {name}:", markdown_table(*scenario_rows(ev))]
    lines += [
        "",
        _verdict(evals["basic"]),
        f"report: {report}",
        f"wall time: {(time.perf_counter() - t0) / 60:.1f} min",
    ]
    (out / "summary.md").write_text("\n".join(lines) + "\n")
    return "\n".join(lines)


def _collect(args, t0, out, stage, path, scenarios, first_seed, n, noise, noise_accel) -> None:
    from e2edrive.commands.collect import CollectConfig, collect

    if _stage(out, stage).exists():
        _say(t0, f"{stage}: done before, skipping")
        return
    if path.exists():  # an interrupted collect: start the stage afresh rather than mix seeds
        import shutil

        shutil.rmtree(path)
    _say(
        t0,
        f"{stage}: {len(scenarios)} scenarios x {n} seeds from {first_seed} (DART noise: steer "
        f"{noise} rad, accel {noise_accel} m/s2)",
    )
    summary = collect(
        CollectConfig(
            out=str(path),
            scenario=",".join(scenarios),
            seeds=f"{first_seed}:{first_seed + n}",
            noise=noise,
            noise_accel=noise_accel,
            num_envs=args.num_envs,
            device=args.device,
            max_steps=args.max_episode_steps or None,
        ),
        command=f"quickstart {stage}",
    )
    _say(
        t0,
        f"{stage}: {summary['episodes']} episodes, {summary['frames']} frames in {summary['seconds']:.0f} s",
    )
    _stage(out, stage).touch()


def _dagger_round(args, t0, out, r, run, data, val, scenarios, minutes) -> None:
    """Roll the policy out on fresh training seeds, add the expert-labelled frames to `data`, and
    train the policy on for what is left of `minutes` (resumed: optimizer state carries over)."""
    import torch

    from e2edrive.commands.dagger import rollout_round
    from e2edrive.core.rig import make_rig
    from e2edrive.eval.drivers import load_policy
    from e2edrive.sim.render import Renderer
    from e2edrive.train.online import OnlineConfig

    stage = f"dagger-{r}"
    if _stage(out, f"{stage}-rollout").exists():
        _say(t0, f"{stage} rollout: done before, skipping")
    else:
        first = args.train_seeds + r * args.dagger_seeds
        pairs = [(s, k) for s in scenarios for k in range(first, first + args.dagger_seeds)]
        _say(
            t0,
            f"{stage}: the policy drives {len(pairs)} episodes, seeds {first}.."
            f"{first + args.dagger_seeds - 1}",
        )
        t_roll = time.perf_counter()
        rig = make_rig()
        cfg = OnlineConfig(
            num_envs=args.num_envs, device=args.device, max_episode_steps=args.max_episode_steps
        )
        stats, results = rollout_round(
            load_policy(run, rig=rig, device=args.device),
            data,
            pairs,
            0.0,
            cfg,
            rig,
            Renderer(rig, args.device),
            torch.Generator().manual_seed(r),
            round_=r,
        )
        score = sum(x.driving_score for x in results) / len(results)
        _say(
            t0,
            f"{stage}: {stats['frames']} frames, {stats['interventions']} interventions, driving score "
            f"{score:.1f} with takeovers",
        )
        _stage(out, f"{stage}-rollout").touch()
        minutes -= (time.perf_counter() - t_roll) / 60
    _train(args, t0, out, "driving", data, val, max(0.5, minutes), stage=stage)


def _train(args, t0, out, model, data, val, minutes, stage: str | None = None) -> Path:
    """Train `model` for `minutes` into OUT/runs/MODEL; a `stage` (a DAgger round) continues it."""
    from e2edrive.train.config import TrainConfig
    from e2edrive.train.loop import train

    run = out / "runs" / model
    stage = stage or f"train-{model}"
    if _stage(out, stage).exists():
        _say(t0, f"{stage} {model}: done before, skipping")
        return run
    from e2edrive.train.checkpoint import find_checkpoint

    _say(t0, f"{stage}: {minutes:.1f} min")
    cfg = TrainConfig(
        data=str(data),
        out=str(run),
        model=model,
        preset="tiny",
        epochs=1000,
        batch_size=args.batch_size,
        lr=1e-3,
        warmup_steps=20,
        val_data=str(val) if val else None,
        time_limit_min=minutes,
        checkpoint_every=100,
        device=args.device,
        resume=find_checkpoint(run) is not None,
    )
    state = train(cfg)
    _say(t0, f"{stage}: {state.step} steps, {state.epoch} epochs")
    _stage(out, stage).touch()
    return run


def _evaluate(args, t0, out, runs, basic, corner, val) -> dict:
    from e2edrive.core.rig import make_rig
    from e2edrive.eval.drivers import make_driver
    from e2edrive.eval.report import DriverEval
    from e2edrive.eval.runner import evaluate_driver
    from e2edrive.sim.metrics import EpisodeResult

    rig = make_rig()
    drivers = {
        "policy": ("checkpoint", runs["driving"]),
        "dave2": ("dave2", runs["dave2"]),
        "ego_only": ("ego_only", runs["ego_mlp"]),
        "constant_velocity": ("constant_velocity", None),
        "expert": ("expert", None),
    }
    evals: dict[str, dict[str, DriverEval]] = {"basic": {}, "corner": {}}
    cache = out / "eval"
    cache.mkdir(exist_ok=True)
    for suite, pairs, names in (("basic", basic, list(drivers)), ("corner", corner, ["policy", "expert"])):
        for name in names if pairs else []:
            done = cache / f"{suite}-{name}.json"
            label = name if suite == "basic" else f"{name} (corner)"
            if done.exists():
                saved = json.loads(done.read_text())
                evals[suite][name] = DriverEval(
                    label,
                    [EpisodeResult.from_dict(r) for r in saved["episodes"]],
                    saved["open_loop"],
                    [tuple(v) for v in saved["videos"]],
                )
                continue
            kind, ckpt = drivers[name]
            driver = make_driver(kind, ckpt, rig=rig, device=args.device)
            driver.name = label
            open_loop = _open_loop(driver, val, args) if suite == "basic" and ckpt is not None else None
            _say(t0, f"evaluate {label}: {len(pairs)} episodes")
            ev = evaluate_driver(
                driver,
                pairs,
                args.num_envs,
                args.device,
                rig,
                out / "report",
                args.videos if name == "policy" else 0,
                True,
                open_loop,
                args.max_episode_steps,
            )
            ev.name = label
            evals[suite][name] = ev
            done.write_text(
                json.dumps(
                    {
                        "episodes": [r.to_dict() for r in ev.results],
                        "open_loop": open_loop,
                        "videos": ev.videos,
                    }
                )
            )
    return evals


def _open_loop(driver, val, args) -> dict | None:
    if not val.exists():
        return None
    from e2edrive.eval.open_loop import evaluate_open_loop
    from e2edrive.train.data import collate_fn, open_dataset

    dataset = open_dataset(str(val), 2)
    collate = collate_fn(dataset)
    batches = (
        collate([dataset[j] for j in range(i, min(len(dataset), i + 16))]) for i in range(0, len(dataset), 16)
    )
    return evaluate_open_loop(driver.model, batches, args.device)


def _verdict(basic: dict) -> str:
    """The goals of the quickstart, checked on the numbers just measured."""
    score = {k: v.summary["driving_score"] for k, v in basic.items()}
    p, e = score.get("policy", 0.0), score.get("expert", 0.0)
    beats = [b for b in ("dave2", "ego_only", "constant_velocity") if b in score and p > score[b]]
    checks = [
        f"policy basic driving score {p:.1f} (goal >= 80): {'met' if p >= 80 else 'NOT met'}",
        f"policy / expert = {p / e:.0%} (goal >= 90%): {'met' if e > 0 and p >= 0.9 * e else 'NOT met'}"
        if e > 0
        else "expert score is 0: ratio undefined",
        f"policy beats {len(beats)}/3 baselines ({', '.join(beats) or 'none'})",
    ]
    return "goals: " + "; ".join(checks)
