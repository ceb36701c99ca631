"""Replay of the failure bank: drive a checkpoint again on every banked episode and say what changed.

    report = replay_bank(FailureBank("runs/bank"), driver, num_envs=8)
    print(report.table()); report.to_json()

Per entry, one status:
    stale          the episode no longer exists as banked: its sim_version differs from SIM_VERSION,
                   or its initial state hashes differently (a simulator change that forgot to bump
                   the version). Never replayed: a score on another episode would be a false fix.
    fixed          a failure entry that the driver now passes
    still_failing  a failure entry that still fails
    regressed      a regression entry (banked as passed) that now fails
    still_passing  a regression entry that still passes

The JSON is deterministic: entries sorted by (scenario, seed, kind), keys sorted, no times, so the
same checkpoint replayed twice gives identical bytes (episodes are functions of (scenario, seed) and
the batch composition is fixed by the sorted order).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

import torch

from e2edrive.data.failure_bank import FailureBank, failure_type, init_hash
from e2edrive.eval.drivers import Driver
from e2edrive.eval.runner import run_closed_loop
from e2edrive.sim.version import SIM_VERSION

STATUSES = ("fixed", "still_failing", "regressed", "still_passing", "stale")


@dataclass
class ReplayReport:
    """entries: one dict per banked episode, sorted: scenario, seed, kind, status, banked failure type,
    the banked checkpoint hash, and (unless stale) the new pass/fail, failure type and driving score;
    stale entries carry `stale_reason` instead."""

    driver: str
    entries: list[dict] = field(default_factory=list)

    def by_scenario(self) -> dict[str, dict[str, int]]:
        """{scenario: {status: count}} over STATUSES, scenarios sorted."""
        out: dict[str, dict[str, int]] = {}
        for e in self.entries:
            out.setdefault(e["scenario"], dict.fromkeys(STATUSES, 0))[e["status"]] += 1
        return dict(sorted(out.items()))

    def totals(self) -> dict[str, int]:
        out = dict.fromkeys(STATUSES, 0)
        for e in self.entries:
            out[e["status"]] += 1
        return out

    def to_dict(self) -> dict:
        return {
            "driver": self.driver,
            "sim_version": SIM_VERSION,
            "entries": self.entries,
            "by_scenario": self.by_scenario(),
            "totals": self.totals(),
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True, allow_nan=False)

    def table(self) -> str:
        """Markdown table: one row per scenario and a total row."""
        head = "| scenario | " + " | ".join(STATUSES) + " |"
        rows = [head, "|" + "---|" * (len(STATUSES) + 1)]
        for name, counts in list(self.by_scenario().items()) + [("total", self.totals())]:
            rows.append(f"| {name} | " + " | ".join(str(counts[s]) for s in STATUSES) + " |")
        return "\n".join(rows)


def _stale_reason(entry, hashes: dict) -> str | None:
    if entry.sim_version != SIM_VERSION:
        return f"sim_version {entry.sim_version} != {SIM_VERSION}"
    pair = (entry.scenario, entry.seed)
    if pair not in hashes:
        hashes[pair] = init_hash(*pair)
    if hashes[pair] != entry.init_hash:
        return "initial state changed (init_hash differs)"
    return None


def replay_bank(
    bank: FailureBank,
    driver: Driver,
    num_envs: int = 8,
    device: torch.device | str = "cpu",
    progress: bool = False,
    max_steps: int = 0,
) -> ReplayReport:
    """Re-drive every current entry of `bank` with `driver`; stale entries are reported, not driven.

    max_steps > 0 cuts episodes short (smoke tests), as in run_closed_loop."""
    entries = sorted(bank.entries(), key=lambda e: (e.scenario, e.seed, e.kind))
    hashes: dict[tuple[str, int], str] = {}
    rows, live = [], []
    for e in entries:
        row = {
            "scenario": e.scenario,
            "seed": e.seed,
            "kind": e.kind,
            "banked_failure_type": e.failure_type,
            "banked_checkpoint_hash": e.checkpoint_hash,
        }
        reason = _stale_reason(e, hashes)
        if reason is not None:
            row.update(status="stale", stale_reason=reason)
        else:
            live.append(len(rows))
        rows.append(row)
    # One run per distinct episode: a key banked as failure and regression is driven once.
    pairs = sorted({(rows[i]["scenario"], rows[i]["seed"]) for i in live})
    results = {}
    if pairs:
        for r in run_closed_loop(driver, pairs, num_envs, device, progress=progress, max_steps=max_steps):
            results[(r.scenario, r.seed)] = r
    for i in live:
        row = rows[i]
        r = results[(row["scenario"], row["seed"])]
        if row["kind"] == "failure":
            status = "fixed" if r.passed else "still_failing"
        else:
            status = "still_passing" if r.passed else "regressed"
        row.update(
            status=status,
            passed=bool(r.passed),
            failure_type=failure_type(r),
            driving_score=round(float(r.driving_score), 6),
        )
    return ReplayReport(driver.name, rows)
