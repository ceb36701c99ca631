"""`e2edrive quickstart`: the whole loop on a fresh machine, with the data engine in it.

    e2edrive quickstart [--out runs/quickstart] [--recipe quick|long]

1. collect   the expert drives the whole catalog on training seeds (DART noise injection:
             perturbed executed actions, clean corrective labels), every frame's StepRecord firing
             the triggers; plus a few clean held-out episodes (seeds from 90,000)
2. train     DAVE-2, the ego-status MLP and the `tiny` DrivingModel, each for the recipe's number
             of optimisation steps (train.recipes: steps, not minutes, so every machine trains the
             same policy and only the wall time differs)
3. engine    (per round) the policy drives fresh training seeds with the expert watching in shadow
             mode and taking over when unsafe; failures go to the failure bank; the triggered clips
             are mined (SQL) and trained on with priority; the bank is replayed with the new network
             (commands.quickstart_engine)
4. evaluate  closed loop on unseen seeds (from 1,000,000), the recipe's number per scenario: the
             policy beside expert, dave2, ego_only and constant_velocity on `basic`; the policy and
             the expert on `corner`; the policy's failures banked; open-loop metrics and the
             perception recall of the hard cases' objects by distance on the held-out clips
5. report    OUT/report/index.html, OUT/summary.md; the table and the verdict are printed

Each stage leaves a marker in OUT, so running the command again continues where it stopped.
"""

from __future__ import annotations

import errno
import json
import sys
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Literal

import tyro


@dataclass
class QuickstartArgs:
    out: str = "runs/quickstart"
    """output directory (data/, runs/, bank/, report/)"""
    recipe: Literal["quick", "long", "smoke"] = "quick"
    """train.recipes: quick (~30 min on 2 cores), long (~2 h), smoke (seconds, for tests)"""
    train_suite: str | None = None
    """scenarios recorded for training (a suite or comma-separated names); default: the recipe's"""
    preset: str | None = None
    """preset of the driving network (model.config.PRESETS); default: the recipe's"""
    val_seeds: int = 1
    """held-out clean episodes per training scenario for open-loop metrics (seeds from 90,000)"""
    eval_seeds: int | None = None
    """closed-loop episodes per scenario of each suite; default: the recipe's (>= 8)"""
    num_envs: int = 8
    """environments simulated together in collection and evaluation"""
    videos: int = 3
    """failure videos of the policy in the report"""
    device: str = "cpu"
    """cpu | cuda"""
    loader_workers: int | None = None
    """DataLoader processes reading training batches ahead; default: 0 on the CPU (the cores train;
    a reader would take them from torch), 4 on CUDA (the host reads while the GPU trains: the
    session-3 GPU run trained at ~5 steps/s reading in the training process). Same batches either way"""
    tensorboard: bool = False
    """TensorBoard event files in OUT/runs/MODEL/tensorboard; the policy's behaviour cloning and
    engine rounds share one step axis (the optimisation step); needs the tensorboard extra"""
    seed: int = 0
    """training seed of every network (initialisation, sample order, dropout) and of the light-eye
    stage; the recorded episodes do not change with it. Another seed measures the spread of the
    recipe over training runs"""
    max_episode_steps: int = 0
    """cut every episode after this many steps in collection and evaluation (0: the scenario's
    own length); only for smoke tests: cut episodes cannot complete their routes"""


VAL_SEED_START = 90_000  # inside the training range [0, 100000), disjoint from the training seeds


def main(argv: list[str]) -> int:
    args = tyro.cli(QuickstartArgs, args=argv, prog="e2edrive quickstart", description=__doc__)
    try:
        table = run(args)
    except (ValueError, KeyError, FileNotFoundError) as e:
        msg = e.args[0] if isinstance(e, KeyError) and e.args else e
        print(f"e2edrive quickstart: error: {msg}", file=sys.stderr)
        return 2
    except OSError as e:
        if e.errno != errno.ENOSPC:
            raise
        where = f" writing {e.filename}" if e.filename else ""
        print(
            f"e2edrive quickstart: error: no space left on the device{where} (finished stages are kept)",
            file=sys.stderr,
        )
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
    from e2edrive.train.recipes import get_recipe

    t0 = time.perf_counter()
    recipe = get_recipe(args.recipe)
    if args.train_suite is not None:
        recipe = replace(recipe, train_suite=args.train_suite)
    if args.preset is not None:
        recipe = replace(recipe, preset=args.preset)
    n_eval = args.eval_seeds if args.eval_seeds is not None else recipe.eval_seeds
    if n_eval < 1 or args.val_seeds < 0:
        raise ValueError("--eval-seeds must be >= 1 and --val-seeds >= 0")
    if args.seed < 0:  # checked before collecting: numpy refuses it only at the first training
        raise ValueError(f"--seed must be >= 0, got {args.seed}")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    train_scenarios = suite_scenarios(recipe.train_suite)
    say = lambda msg: _say(t0, msg)  # noqa: E731
    if not _stage(out, "collect-train").exists():  # a fresh run: will its data fit?
        _check_disk(args, recipe, out, train_scenarios)

    # 1. collect ----------------------------------------------------------------------------------
    data, val = out / "data" / "train", out / "data" / "val"
    basic = [s for s in train_scenarios if s in SUITES["basic"]]
    other = [s for s in train_scenarios if s not in SUITES["basic"]]
    groups = [(basic, recipe.basic_seeds), (other, recipe.corner_seeds)]
    _collect(args, say, out, "collect-train", data, groups, 0, recipe.noise, recipe.noise_accel)
    if args.val_seeds > 0:
        _collect(
            args, say, out, "collect-val", val, [(train_scenarios, args.val_seeds)], VAL_SEED_START, 0, 0
        )
    val_data = val if args.val_seeds > 0 else None

    # 2. train (steps, not minutes) ---------------------------------------------------------------
    def train(model, data_dir, steps, stage=None, mined=None, init=None):
        return _train(args, recipe, say, out, model, data_dir, val_data, steps, stage, mined, init)

    init = {"driving": _light_eye(args, recipe, say, out, data)}
    runs = {model: train(model, data, steps, init=init.get(model)) for model, steps in recipe.steps.items()}

    # 3. the data engine's rounds -----------------------------------------------------------------
    from e2edrive.commands.quickstart_engine import engine_round

    rounds = [
        engine_round(args, recipe, say, out, r, runs["driving"], data, train_scenarios, train)
        for r in range(recipe.dagger_rounds)
    ]

    # 4. evaluate ---------------------------------------------------------------------------------
    seeds = default_eval_seeds(n_eval)
    suites = {name: [(s, k) for s in SUITES[name] for k in seeds] for name in ("basic", "corner")}
    evals = _evaluate(args, say, out, runs, suites, val)
    recall = _perception(args, say, out, runs["driving"], val)

    # 5. report -----------------------------------------------------------------------------------
    return _report(args, recipe, t0, out, evals, rounds, recall, train_scenarios)


def _report(args, recipe, t0, out, evals, rounds, recall, train_scenarios) -> str:
    from e2edrive.eval.perception import recall_table
    from e2edrive.eval.report import markdown_table, scenario_rows, summary_rows, write_report

    notes = [
        f"Recipe {recipe.name}: training on {', '.join(train_scenarios)}; seeds "
        f"0..{recipe.basic_seeds - 1} per basic scenario, 0..{recipe.corner_seeds - 1} per other, DART noise "
        f"(steer {recipe.noise} rad, accel {recipe.noise_accel} m/s2); steps {recipe.steps}, "
        f"{recipe.dagger_rounds} engine round(s) of {recipe.dagger_steps} steps; network {recipe.preset}. "
        "Evaluation: unseen seeds from 1,000,000.",
        f"Total wall time {(time.perf_counter() - t0) / 60:.1f} min.",
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
    for row in rounds:
        lines += [
            "",
            f"engine round {row['round']}: failure-bank replay with the new network:",
            row["replay"]["table"],
        ]
        lines += [f"mined clips by trigger: {row['mined_by_trigger']}"]
    if recall is not None:
        recall = dict(recall)
        far = recall.pop(FAR_READ, None)
        light = recall.pop(LIGHT_READ, None)
        semantic = recall.pop(SEMANTIC_READ, None)
        lines += [
            "",
            "seeing the hard cases (held-out frames, recall by distance; the last row: the share of "
            "free cells on the ego's path that each head calls occupied):",
            recall_table(recall),
        ]
        if far:
            from e2edrive.eval.far_read import far_read_table

            lines += ["", "seeing the oncoming lane beyond the BEV (held-out frames, far-traffic head):"]
            lines += [far_read_table(far)]
        if light:
            from e2edrive.eval.light_read import light_table

            lines += ["", "seeing the light's colour (held-out frames, traffic-light head, per state):"]
            lines += [light_table(light)]
        if semantic:
            from e2edrive.eval.semantic_read import semantic_table

            lines += ["", "the hard cases in the pixels (held-out frames, semantic presence head, cells):"]
            lines += [semantic_table(semantic)]
    lines += [
        "",
        _verdict(evals["basic"], evals["corner"], recipe.basic_goal, recipe.corner_goal),
        f"report: {report}",
        f"wall time: {(time.perf_counter() - t0) / 60:.1f} min",
    ]
    (out / "summary.md").write_text("\n".join(lines) + "\n")
    return "\n".join(lines)


# Frames per episode, measured: 18,724 in 92 expert episodes (`quick`, sessions 9-10); in the
# engine rounds the policy drives slower and stands longer: 15,470 frames in 40 episodes (`quick`,
# session 9), ~32,000 in 160 (`long`, session 8). The check asks 10 % more than the estimate.
EXPERT_FRAMES_PER_EPISODE = 210
POLICY_FRAMES_PER_EPISODE = 300


def _check_disk(args, recipe, out: Path, scenarios) -> None:
    """Refuse to start (ValueError, one line) when OUT's filesystem cannot hold the recipe's
    recordings: its datasets are ~0.46 MB per frame on the default rig (data.disk)."""
    from e2edrive.core.rig import make_rig
    from e2edrive.data.disk import check_free_space, frame_bytes
    from e2edrive.eval.suites import SUITES

    basic = sum(s in SUITES["basic"] for s in scenarios)
    expert = basic * recipe.basic_seeds + (len(scenarios) - basic) * recipe.corner_seeds
    expert += len(scenarios) * args.val_seeds
    policy = recipe.dagger_rounds * recipe.dagger_seeds * len(scenarios)
    frames = expert * EXPERT_FRAMES_PER_EPISODE + policy * POLICY_FRAMES_PER_EPISODE
    if args.max_episode_steps:
        frames = min(frames, (expert + policy) * args.max_episode_steps)
    check_free_space(out, int(1.1 * frames * frame_bytes(make_rig())), f"the {recipe.name} recipe's data")


def _collect(args, say, out, stage, path, groups, first_seed, noise, noise_accel) -> None:
    """One collection stage into `path`: every (scenarios, n) group drives its scenarios on seeds
    first_seed .. first_seed + n - 1."""
    from e2edrive.commands.collect import CollectConfig, collect

    if _stage(out, stage).exists():
        say(f"{stage}: done before, skipping")
        return
    if path.exists():  # an interrupted collect: start the stage afresh rather than mix seeds
        import shutil

        shutil.rmtree(path)
    for scenarios, n in groups:
        if not scenarios or n < 1:
            continue
        say(
            f"{stage}: {len(scenarios)} scenarios x {n} seeds from {first_seed} (DART noise: steer "
            f"{noise} rad, accel {noise_accel} m/s2)"
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
        say(
            f"{stage}: {summary['episodes']} episodes, {summary['frames']} frames "
            f"in {summary['seconds']:.0f} s"
        )
    _stage(out, stage).touch()


def _train(args, recipe, say, out, model, data, val, steps, stage=None, mined=None, init=None) -> Path:
    """Train `model` into OUT/runs/MODEL until optimisation step `steps`; a `stage` (an engine round)
    resumes it on the data plus the `mined` clips repeated (the engine's priority). A new run starts
    from the checkpoint `init` when given (the light-eye stage's network)."""
    from e2edrive.train.checkpoint import find_checkpoint
    from e2edrive.train.config import TrainConfig
    from e2edrive.train.loop import train

    run = out / "runs" / model
    stage = stage or f"train-{model}"
    if _stage(out, stage).exists():
        say(f"{stage} {model}: done before, skipping")
        return run
    say(f"{stage}: {model} to step {steps}")
    cfg = TrainConfig(
        data=str(data),
        out=str(run),
        model=model,
        preset=recipe.preset,
        epochs=10**6,
        batch_size=recipe.batch_size,
        lr=1e-3,
        warmup_steps=20,
        val_data=str(val) if val else None,
        max_steps=steps,
        checkpoint_every=100,
        tensorboard=args.tensorboard,
        device=args.device,
        resume=find_checkpoint(run) is not None,
        num_workers=_loader_workers(args),
        balance_reasons=recipe.balance_reasons,
        seed=args.seed,
    )
    dataset = None
    if mined is not None:
        from e2edrive.commands.quickstart_engine import prioritized_dataset

        dataset = prioritized_dataset(data, cfg.history, mined, recipe.mined_repeat)
        say(f"{stage}: {len(dataset.base)} frames + {dataset.mined_frames} mined x {dataset.repeat}")
    start = None
    if init is not None and not cfg.resume:
        from e2edrive.model.checkpoint import load_checkpoint

        start = load_checkpoint(init)
    t = time.perf_counter()
    state = train(cfg, model=start, dataset=dataset)
    say(f"{stage}: {state.step} steps, {state.epoch} epochs, {time.perf_counter() - t:.0f} s")
    _stage(out, stage).touch()
    return run


def _evaluate(args, say, out, runs, suites, val) -> dict:
    """Closed loop on each suite: every driver on basic, the policy and the expert on corner; the
    policy's failures go to the bank. Results cached per (suite, driver) in OUT/eval."""
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
    for suite, names in (("basic", list(drivers)), ("corner", ["policy", "expert"])):
        pairs = suites[suite]
        for name in names:
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
            say(f"evaluate {label}: {len(pairs)} episodes")
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
            if name == "policy":  # the bank keeps every failure for the next network to replay
                from e2edrive.data.failure_bank import bank_results

                bank_results(out / "bank", ev.results, Path(ckpt) / "checkpoint", "policy")
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


def _loader_workers(args) -> int:
    if args.loader_workers is not None:
        if args.loader_workers < 0:
            raise ValueError(f"--loader-workers must be >= 0, got {args.loader_workers}")
        return args.loader_workers
    return 4 if str(args.device).startswith("cuda") else 0


FAR_READ = "far_read"  # key of the far-traffic head's counts beside the recall groups
LIGHT_READ = "light_read"  # key of the light head's confusion matrix (eval.light_read)
SEMANTIC_READ = "semantic_read"  # key of the semantic head's cell counts (eval.semantic_read)


def _perception(args, say, out, run, val) -> dict | None:
    """Recall of the hard cases' objects by the policy's object and occupancy heads, by distance;
    under FAR_READ, the far-traffic head's counts (eval.far_read); under LIGHT_READ, the light
    head's confusion matrix (eval.light_read); under SEMANTIC_READ, the semantic presence head's
    cell counts (eval.semantic_read)."""
    if not val.exists():
        return None
    cache = out / "eval" / "perception.json"
    if cache.exists():
        return json.loads(cache.read_text())
    from e2edrive.eval.drivers import load_policy
    from e2edrive.eval.far_read import far_read_counts
    from e2edrive.eval.light_read import light_confusion
    from e2edrive.eval.perception import hazard_recall
    from e2edrive.eval.semantic_read import semantic_read
    from e2edrive.train.data import open_dataset

    say("perception: what the heads see on the held-out frames (hard cases by distance, light colour)")
    model = load_policy(run, device=args.device)
    data = open_dataset(str(val), 2)
    recall = hazard_recall(model, data, args.device)
    recall[FAR_READ] = far_read_counts(model, data, args.device)  # {} without the head
    recall[LIGHT_READ] = light_confusion(model, data, args.device)
    recall[SEMANTIC_READ] = semantic_read(model, data, args.device)  # {} without the head
    cache.write_text(json.dumps(recall, indent=1))
    return recall


def _light_eye(args, recipe, say, out: Path, data: Path) -> Path | None:
    """Stage 2a, before the driving network's first step: its light eye learns the lamp colours
    alone, on light frames drawn class-balanced (train.light_eye), so that the planner trains on
    informative light probabilities from the start instead of learning to ignore them. Returns the
    checkpoint the driving run starts from (None: the recipe has no such stage)."""
    if recipe.light_eye_steps <= 0:
        return None
    init = out / "runs" / "driving-light-eye" / "checkpoint"
    if _stage(out, "light-eye").exists():
        say("light eye: done before, skipping")
        return init
    import torch

    from e2edrive.data.dataset import DrivingDataset
    from e2edrive.model.checkpoint import save_checkpoint
    from e2edrive.model.config import make_config
    from e2edrive.model.driving_model import DrivingModel
    from e2edrive.train.light_eye import LightEyeConfig, train_light_eye

    torch.manual_seed(args.seed)
    model = DrivingModel(make_config(recipe.preset)).to(args.device)
    if model.light_eye is None:
        say("light eye: this network has none, skipping")
        return None
    say(f"light eye: {recipe.light_eye_steps} steps on class-balanced light frames, the eye alone")
    frames = DrivingDataset(data, history=1)  # the eye reads the last frame; one frame is half the cost
    result = train_light_eye(model, frames, LightEyeConfig(recipe.light_eye_steps, seed=args.seed), say)
    save_checkpoint(model, init)
    (out / "light-eye.json").write_text(json.dumps(result, indent=1))
    _stage(out, "light-eye").touch()
    return init


def _open_loop(driver, val, args) -> dict | None:
    if not val.exists():
        return None
    from e2edrive.model.open_loop import evaluate_open_loop
    from e2edrive.train.data import collate_fn, open_dataset

    dataset = open_dataset(str(val), 2)
    collate = collate_fn(dataset)
    batches = (
        collate([dataset[j] for j in range(i, min(len(dataset), i + 16))]) for i in range(0, len(dataset), 16)
    )
    return evaluate_open_loop(driver.model, batches, args.device)


def _verdict(
    basic: dict, corner: dict | None = None, basic_goal: float = 0.9, corner_goal: float = 0.5
) -> str:
    """The recipe's goals (train.recipes: basic_goal, corner_goal), checked on the numbers just
    measured."""
    score = {k: v.summary["driving_score"] for k, v in basic.items()}
    p, e = score.get("policy", 0.0), score.get("expert", 0.0)
    beats = [b for b in ("dave2", "ego_only", "constant_velocity") if b in score and p > score[b]]
    checks = [
        f"policy basic driving score {p:.1f}",
        f"policy / expert = {p / e:.0%} (goal >= {basic_goal:.0%}): "
        f"{'met' if p >= basic_goal * e else 'NOT met'}"
        if e > 0
        else "expert score is 0: ratio undefined",
        f"policy beats {len(beats)}/3 baselines ({', '.join(beats) or 'none'})",
    ]
    if corner and "policy" in corner:
        results = corner["policy"].results
        by: dict[str, list[bool]] = {}
        for r in results:
            by.setdefault(r.scenario, []).append(bool(r.passed))
        rate = sum(sum(v) for v in by.values()) / max(1, len(results))
        zero = sorted(k for k, v in by.items() if not any(v))
        ok = rate >= corner_goal and not zero
        checks.append(
            f"corner pass rate {rate:.0%} (goal >= {corner_goal:.0%}, none at zero"
            f"{': ' + ', '.join(zero) + ' at zero' if zero else ''}): {'met' if ok else 'NOT met'}"
        )
    return "goals: " + "; ".join(checks)
