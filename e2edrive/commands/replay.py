"""`e2edrive replay`: drive a checkpoint again on every episode of a failure bank.

    e2edrive replay --bank runs/bank --checkpoint runs/tiny
    e2edrive replay --bank runs/bank --driver expert --json

Prints, per scenario, how many banked failures are now fixed or still failing, how many banked
passes (regression entries, `eval --bank-passed`) regressed, and how many entries are stale
(recorded under another simulator version: reported, never replayed). `--json` prints the
deterministic report of eval.replay (same checkpoint, same bytes).
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

import tyro


@dataclass
class ReplayArgs:
    bank: str | None = None
    """failure bank directory (written by `e2edrive eval --bank DIR`)"""
    checkpoint: str | None = None
    """run directory (or its checkpoint/) of the network to replay"""
    driver: str = "checkpoint"
    """checkpoint | expert | dave2 | ego_only | constant_velocity | constant_yaw_rate"""
    json: bool = False
    """print the JSON report to stdout instead of the table"""
    num_envs: int = 8
    """environments simulated together"""
    device: str = "cpu"
    """cpu | cuda"""
    progress: bool = True
    """progress bar on stderr"""


def main(argv: list[str]) -> int:
    args = tyro.cli(ReplayArgs, args=argv, prog="e2edrive replay", description=__doc__)
    try:
        return _run(args)
    except (FileNotFoundError, ValueError, KeyError) as e:  # BankError is a ValueError
        msg = e.args[0] if isinstance(e, KeyError) and e.args else e
        print(f"e2edrive replay: error: {msg}", file=sys.stderr)
        return 2


def _run(args: ReplayArgs) -> int:
    from e2edrive.data.failure_bank import FailureBank
    from e2edrive.eval.drivers import make_driver
    from e2edrive.eval.replay import replay_bank

    if args.bank is None:
        raise ValueError("give --bank DIR (a failure bank written by `e2edrive eval --bank DIR`)")
    if args.driver == "checkpoint" and args.checkpoint is None:
        raise ValueError("give --checkpoint RUN, or --driver NAME for a driver without weights")
    if args.checkpoint is not None and not Path(args.checkpoint).exists():
        raise FileNotFoundError(f"no checkpoint at {args.checkpoint}")
    bank = FailureBank(args.bank)
    if not bank.entries():
        raise ValueError(f"failure bank {args.bank} is empty: nothing to replay")
    from e2edrive.core.rig import make_rig

    driver = make_driver(args.driver, args.checkpoint, rig=make_rig(), device=args.device)
    report = replay_bank(bank, driver, args.num_envs, args.device, progress=args.progress)
    if args.json:
        print(report.to_json())
    else:
        print(f"replay of {args.bank} by {driver.name}")
        print(report.table())
    return 0
