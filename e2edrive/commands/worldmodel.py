"""`e2edrive worldmodel VERB`: record any driving, train the action-conditioned 8-camera world
model, and measure it (the figures of issue 10).

    e2edrive worldmodel collect --out runs/any --driver constant_velocity --seeds 0:8
    e2edrive worldmodel train --data runs/data --out runs/wm [--resume] [--steps N]
    e2edrive worldmodel eval --worldmodel runs/wm --data runs/heldout [--json]
    e2edrive worldmodel eyes --worldmodel runs/wm --data runs/heldout --policy runs/driving
    e2edrive worldmodel actions --worldmodel runs/wm --probe-data runs/data --seeds 1000:1004
    e2edrive worldmodel agreement --worldmodel runs/wm --checkpoints runs --seeds 1000:1002
    e2edrive worldmodel inject --worldmodel runs/wm --seeds 1000:1004

`collect` records episodes driven by any driver (the expert with DART noise, constant velocity, a
trained network), the expert's labels beside them: the "any kind of driving" a world model must
see, crashes included. `train` runs the tokenizer phase, then the dynamics phase
(worldmodel.train); `--steps N` sets both phases to N steps. `eval` prints PSNR (static and
moving pixels apart), depth abs-rel and semantic mIoU per camera at 0.5, 1, 2 and 5 s of
open-loop dreaming, beside the repeat-last-frame baseline and the tokenizer's ceiling
(worldmodel.evaluate). `eyes`: a driving network's occupancy and traffic-light heads on dreamed
vs real frames (worldmodel.policy_eyes). `actions`: a probe trained on real frames reads the ego's
motion back from dreams under held commands (worldmodel.probe). `agreement`: six drivers in the
simulator and in both dream modes (worldmodel.agreement). `inject`: a cut-in's predicted box and
the pixels away from it (worldmodel.inject_eval). The measuring verbs write one JSON object to
`--out` (and print it with --json).
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from typing import Literal

import tyro

USAGE = (
    "usage: e2edrive worldmodel {collect,train,eval,eyes,actions,agreement,inject} [options]"
    "   (e2edrive worldmodel SUBCOMMAND --help)"
)


@dataclass
class TrainArgs:
    """Train a world model on a recorded dataset."""

    data: str
    """dataset directory (e2edrive collect)"""
    out: str
    """output directory of the world model (OUT/checkpoint)"""
    resume: bool = False
    """continue OUT's checkpoint"""
    steps: int | None = None
    """steps of each phase (tokenizer, dynamics); default: the trainer's"""
    preset: str = "tiny"
    """world model preset: tiny (2 CPU cores) or base (GPU)"""
    batch_size: int = 4
    """windows per step"""
    device: str = "cpu"
    """torch device"""
    threads: int = 2
    """torch CPU threads"""
    phase_seconds: float = 0.0
    """> 0: end each phase after this many seconds (a fixed time budget)"""
    dynamics_seconds: float = 0.0
    """> 0: the dynamics phase's own budget in seconds, in place of --phase-seconds"""
    workers: int = 0
    """processes reading batches ahead of the trainer"""


@dataclass
class EvalArgs:
    """Fidelity of a world model against held-out recordings, by horizon and camera."""

    worldmodel: str
    """world model directory (OUT of `worldmodel train`, or its checkpoint/)"""
    data: str
    """held-out dataset directory"""
    json: bool = False
    """print one JSON object instead of the table"""
    max_windows: int = 64
    """evaluate at most this many windows"""
    device: str = "cpu"
    """torch device"""
    threads: int = 2
    """torch CPU threads"""
    out: str | None = None
    """also write the JSON result to this file"""


@dataclass
class CollectArgs:
    """Record episodes driven by any driver, with the expert's labels."""

    out: str
    """dataset directory (created or appended to)"""
    driver: str = "expert"
    """expert (with --noise: DART), constant_velocity, constant_yaw_rate, checkpoint, dave2, ego_only"""
    checkpoint: str | None = None
    """run directory of a trained network (checkpoint, dave2, ego_only)"""
    scenario: str = "all"
    """scenario name, comma-separated names, or 'all'"""
    seeds: str = "0:4"
    """seed range 'A:B'"""
    noise: float = 0.0
    """expert only: std of the steering noise bursts, rad"""
    noise_accel: float = 0.0
    """expert only: std of the acceleration noise bursts, m/s^2"""
    max_steps: int | None = None
    """cut every episode after this many steps"""
    num_envs: int = 4
    """environments stepped together"""
    height: int = 64
    """camera image height, px"""
    width: int = 128
    """camera image width, px"""
    device: str = "cpu"
    """torch device"""
    threads: int = 1
    """torch CPU threads"""
    worker: int | None = None
    """write as this worker id (0..99), so several collects can fill one directory at once"""


@dataclass
class MeasureArgs:
    """One of the measurements of issue 10 (eyes, actions, agreement, inject)."""

    worldmodel: str
    """world model directory"""
    out: str | None = None
    """write the JSON result to this file"""
    json: bool = False
    """print the JSON result"""
    data: str | None = None
    """eyes: held-out dataset directory"""
    policy: str | None = None
    """eyes: run directory of a driving network (DrivingModel)"""
    horizon_s: float = 1.0
    """eyes: dream horizon, s"""
    max_windows: int = 64
    """eyes: windows at most"""
    probe_data: str | None = None
    """actions: dataset the probe is trained on (real frames)"""
    probe_val: str | None = None
    """actions: held-out dataset for the probe's own error"""
    probe_steps: int = 1000
    """actions: probe training steps"""
    probe_seconds: float = 0.0
    """actions: > 0 ends the probe's training after this many seconds"""
    checkpoints: str | None = None
    """agreement: directory holding driving/, dave2/, ego_mlp/ run directories"""
    scenario: str = "lane_follow"
    """scenario name(s) of the contexts (actions, agreement, inject)"""
    seeds: str = "1000:1002"
    """held-out seed range of the contexts"""
    steps: int = 20
    """actions / inject: dream steps (20 = 2 s); agreement: the episode cut"""
    modes: str = "agent_conditioned,free"
    """agreement: dream modes"""
    drivers: str | None = None
    """agreement: comma-separated drivers (default: all of worldmodel.agreement.DRIVERS)"""
    ego: Literal["learned", "vehicle"] = "learned"
    """agreement: the dream's ego motion, the model's ego head (learned) or the car's vehicle model
    (vehicle; worldmodel.dream_env)"""
    device: str = "cpu"
    """torch device"""
    threads: int = 2
    """torch CPU threads"""


def _collect(argv: list[str]) -> int:
    import torch

    from e2edrive.commands.collect import CollectConfig, collect

    args = tyro.cli(
        CollectArgs, args=argv, prog="e2edrive worldmodel collect", description=CollectArgs.__doc__
    )
    torch.set_num_threads(args.threads)
    cfg = CollectConfig(
        out=args.out,
        scenario=args.scenario,
        seeds=args.seeds,
        noise=args.noise,
        noise_accel=args.noise_accel,
        max_steps=args.max_steps,
        num_envs=args.num_envs,
        device=args.device,
        height=args.height,
        width=args.width,
    )
    command = " ".join(["e2edrive", "worldmodel", "collect", *argv])
    if args.driver == "expert":
        summary = collect(cfg, command=command, worker=args.worker, progress=False)
    else:
        from e2edrive.worldmodel.collect_any import collect_with_driver

        summary = collect_with_driver(cfg, args.driver, args.checkpoint, command=command, worker=args.worker)
    print(json.dumps({"driver": args.driver, **summary}))
    return 0


def _write(result: dict, out: str | None, show: bool) -> None:
    text = json.dumps(result, allow_nan=False)
    if out:
        from pathlib import Path

        Path(out).parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(out).with_suffix(".tmp")
        tmp.write_text(json.dumps(result, indent=1, allow_nan=False))
        tmp.replace(out)
    if show:
        print(text)


def _measure(verb: str, argv: list[str]) -> int:
    import torch

    from e2edrive.core.seeding import parse_seed_range
    from e2edrive.sim.scenarios import resolve_scenarios
    from e2edrive.worldmodel.model import load_worldmodel

    args = tyro.cli(
        MeasureArgs, args=argv, prog=f"e2edrive worldmodel {verb}", description=MeasureArgs.__doc__
    )
    torch.set_num_threads(args.threads)
    model = load_worldmodel(args.worldmodel, map_location=args.device)
    pairs = [(n, s) for n in resolve_scenarios(args.scenario) for s in parse_seed_range(args.seeds)]
    if verb == "eyes":
        from e2edrive.eval.drivers import checkpoint_extra, load_policy
        from e2edrive.worldmodel.policy_eyes import policy_eyes

        if args.data is None or args.policy is None:
            raise ValueError("eyes needs --data HELD_OUT and --policy RUN")
        policy = load_policy(args.policy, "driving", model.cfg.camera_rig, args.device)
        history = int(checkpoint_extra(args.policy).get("train_config", {}).get("history", 2))
        result = policy_eyes(model, policy, args.data, args.horizon_s, history, args.max_windows)
    elif verb == "actions":
        from e2edrive.worldmodel.probe import action_following, train_probe

        if args.probe_data is None:
            raise ValueError("actions needs --probe-data (real frames to train the probe on)")
        probe, stats = train_probe(
            args.probe_data,
            args.probe_steps,
            device=args.device,
            val_data=args.probe_val,
            max_seconds=args.probe_seconds,
        )
        result = {"probe": stats, **action_following(model, probe, pairs, args.steps, args.device)}
    elif verb == "agreement":
        from e2edrive.worldmodel.agreement import closed_loop_agreement

        modes = tuple(m for m in args.modes.split(",") if m)
        result = closed_loop_agreement(
            model,
            pairs,
            args.checkpoints,
            args.steps,
            args.device,
            modes,
            on_driver=lambda partial: _write(partial, args.out, show=False),
            names=args.drivers.split(",") if args.drivers else None,
            ego=args.ego,
        )
    else:
        from e2edrive.worldmodel.inject_eval import evaluate_injection

        result = evaluate_injection(model, pairs, args.steps, args.device)
    _write(result, args.out, args.json)
    return 0


def _train(argv: list[str]) -> int:
    import torch

    from e2edrive.worldmodel.train import WorldModelTrainConfig, train_worldmodel

    args = tyro.cli(TrainArgs, args=argv, prog="e2edrive worldmodel train", description=TrainArgs.__doc__)
    torch.set_num_threads(args.threads)
    cfg = WorldModelTrainConfig(
        data=args.data,
        out=args.out,
        preset=args.preset,
        resume=args.resume,
        batch_size=args.batch_size,
        device=args.device,
        phase_seconds=args.phase_seconds,
        dynamics_seconds=args.dynamics_seconds,
        num_workers=args.workers,
    )
    if args.steps is not None:
        if args.steps < 0:
            raise ValueError(f"--steps must be >= 0, got {args.steps}")
        cfg.tokenizer_steps = cfg.dynamics_steps = args.steps
    train_worldmodel(cfg)
    print(
        f"trained the world model ({cfg.tokenizer_steps} tokenizer + {cfg.dynamics_steps} dynamics steps); "
        f"checkpoint in {cfg.out}/checkpoint"
    )
    return 0


def _eval(argv: list[str]) -> int:
    import torch

    from e2edrive.worldmodel.evaluate import evaluate_fidelity, format_fidelity
    from e2edrive.worldmodel.model import load_worldmodel

    args = tyro.cli(EvalArgs, args=argv, prog="e2edrive worldmodel eval", description=EvalArgs.__doc__)
    torch.set_num_threads(args.threads)
    model = load_worldmodel(args.worldmodel, map_location=args.device)
    result = evaluate_fidelity(model, args.data, max_windows=args.max_windows)
    print(json.dumps(result, allow_nan=False) if args.json else format_fidelity(result))
    if args.out:
        _write(result, args.out, show=False)
    return 0


SUBCOMMANDS = {
    "collect": _collect,
    "train": _train,
    "eval": _eval,
    **{
        verb: (lambda argv, verb=verb: _measure(verb, argv))
        for verb in ("eyes", "actions", "agreement", "inject")
    },
}


def main(argv: list[str]) -> int:
    if not argv:
        print(USAGE, file=sys.stderr)
        return 2
    if argv[0] in ("-h", "--help"):
        print(f"{USAGE}\n\n{__doc__}")
        return 0
    from e2edrive.data.format import CorruptShardError, DatasetFormatError  # loads torch: not for --help

    if argv[0] not in SUBCOMMANDS:
        print(f"e2edrive worldmodel: unknown subcommand {argv[0]!r}\n{USAGE}", file=sys.stderr)
        return 2
    try:
        return SUBCOMMANDS[argv[0]](argv[1:])
    except (
        FileNotFoundError,
        FileExistsError,
        ValueError,
        KeyError,
        DatasetFormatError,
        CorruptShardError,
    ) as e:
        print(f"e2edrive worldmodel {argv[0]}: error: {e.args[0] if e.args else e}", file=sys.stderr)
        return 2
