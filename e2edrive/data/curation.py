"""Curation: turn a recorded dataset into a balanced training set of clips, and draw balanced
evaluation sets whose seeds the policy never trained on.

Training sets, from the dataset's Parquet index alone (no shard is read):
  1. Clips. A frame whose `flags` are non-empty (or that an intervention marks) triggers the clip
     [t - 30, t + 20] (3 s before, 2 s after: the lead-up matters more than the aftermath), cut to
     the episode. A triggered frame inside the previous triggered clip starts no new clip unless it
     brings a flag that clip lacks. The frames no triggered clip covers are cut into fixed windows
     of 50 frames (a leftover under 10 frames is dropped). Tag: the trigger frame's flags
     ("a+b" when several fire together), else the scenario (or "nominal" when it has none).
  2. Trivial clips go: untriggered clips where the expert's accel stays within +-0.5 m/s^2 and its
     |steer| < 0.02 rad on every frame, i.e. what constant velocity already drives correctly.
  3. Near-duplicates go. Rule: each clip is summarised by 16 frames evenly spaced over it, each
     with (speed, accel, expert_accel, expert_steer, expert_reason); a clip is a near-duplicate of
     an already kept clip of the same scenario and tag when the expert's reason is the same at all
     16 frames and every other value is within (0.5 m/s, 0.5 m/s^2, 0.5 m/s^2, 0.02 rad) of it.
     Clips are visited by priority (highest first), so the duplicate dropped is the less urgent one.
  4. Quotas: at most `quota` clips per tag (default: the median tag count, rounded up), again the
     highest priorities first; ties are broken by a hash of (episode, start), not by recording order.

Balance is reported as tag counts, normalised entropy H / log K over the K tags (1: uniform) and the
ratio of the largest to the smallest tag count, before (all clips of step 1) and after (step 4).
"""

from __future__ import annotations

import hashlib
import math
import os
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from e2edrive.data.format import INDEX_DIR, TMP_PREFIX
from e2edrive.data.manifest import ClipRef

WINDOW_BEFORE, WINDOW_AFTER = 30, 20  # frames around a trigger (dt 0.1 s: 3 s before, 2 s after)
NOMINAL_WINDOW, NOMINAL_MIN = 50, 10  # frames per untriggered window; shorter leftovers dropped
TRIVIAL_ACCEL, TRIVIAL_STEER = 0.5, 0.02  # m/s^2, rad: the expert barely acts
SIGNATURE_FRAMES = 16
SIGNATURE_COLUMNS = ("speed", "accel", "expert_accel", "expert_steer")
DUPLICATE_TOL = np.array([0.5, 0.5, 0.5, 0.02])  # m/s, m/s^2, m/s^2, rad: per SIGNATURE_COLUMNS
REQUIRED = ("episode", "t", "scenario", "flags", *SIGNATURE_COLUMNS, "expert_reason")
OPTIONAL = {"priority": 0.0, "intervention": False}


@dataclass
class Candidate:
    """A clip and what curation decides on: signature (SIGNATURE_FRAMES, 4), reasons (SIGNATURE_FRAMES,)."""

    clip: ClipRef
    scenario: str
    triggered: bool
    trivial: bool
    signature: np.ndarray
    reasons: np.ndarray

    @property
    def order(self) -> tuple[float, int]:
        tie = hashlib.blake2b(f"{self.clip.episode}:{self.clip.start_t}".encode(), digest_size=8).digest()
        return (-self.clip.priority, int.from_bytes(tie, "little"))


def read_index_columns(root: str | os.PathLike, columns: tuple[str, ...] = REQUIRED) -> pa.Table:
    """The columns curation uses from every committed index part, sorted by (episode, t); optional
    columns a part lacks are filled with their defaults."""
    parts = sorted(p for p in (Path(root) / INDEX_DIR).glob("*.parquet") if not p.name.startswith(TMP_PREFIX))
    if not parts:
        raise ValueError(f"{root} is not a dataset: no {INDEX_DIR}/*.parquet")
    tables = []
    for p in parts:
        names = set(pq.read_schema(p).names)
        missing = [c for c in columns if c not in names]
        if missing:
            raise ValueError(f"index part {p} lacks columns {missing}")
        t = pq.read_table(p, columns=[*columns, *(c for c in OPTIONAL if c in names and c not in columns)])
        for c, default in OPTIONAL.items():
            if c not in t.column_names:  # a hand-made or older index without the column
                t = t.append_column(c, pa.array([default] * t.num_rows))
        tables.append(t.select([*columns, *(c for c in OPTIONAL if c not in columns)]))
    table = pa.concat_tables(tables, promote_options="permissive")
    return table.sort_by([("episode", "ascending"), ("t", "ascending")])


def _windows(flags: list[list[str]], n: int) -> list[tuple[int, int, tuple[str, ...]]]:
    """(first, last, trigger flags) positions of an episode's clips; no flags: an untriggered window."""
    out, covered = [], np.zeros(n, bool)
    current: tuple[int, int, set] | None = None
    for i, f in enumerate(flags):
        if not f:
            continue
        if current is not None and i <= current[1] and set(f) <= current[2]:
            continue  # the same event, still inside its clip
        a, b = max(0, i - WINDOW_BEFORE), min(n - 1, i + WINDOW_AFTER)
        current = (a, b, set(f))
        out.append((a, b, tuple(sorted(set(f)))))
        covered[a : b + 1] = True
    i = 0
    while i < n:  # the rest, in fixed windows that stop at the next triggered clip
        if covered[i]:
            i += 1
            continue
        j = i
        while j < n and not covered[j] and j - i < NOMINAL_WINDOW:
            j += 1
        if j - i >= NOMINAL_MIN:
            out.append((i, j - 1, ()))
        i = j
    return sorted(out)


def build_candidates(table: pa.Table) -> list[Candidate]:
    """Every clip of step 1 with its signature and whether it is trivial (step 2)."""
    episode = table["episode"].to_numpy()
    t = table["t"].to_numpy()
    scenario = table["scenario"].to_pylist()
    flags = table["flags"].to_pylist()
    intervention = table["intervention"].to_numpy(zero_copy_only=False)
    priority = table["priority"].to_numpy(zero_copy_only=False).astype(np.float64)
    values = np.stack([table[c].to_numpy(zero_copy_only=False) for c in SIGNATURE_COLUMNS], 1)  # (N, 4)
    reason = table["expert_reason"].to_numpy()
    starts = np.flatnonzero(np.r_[True, episode[1:] != episode[:-1]])
    ends = np.r_[starts[1:], len(episode)]
    out = []
    for s, e in zip(starts.tolist(), ends.tolist()):
        frame_flags = [
            sorted(set(f or []) | ({"intervention"} if iv else set()))
            for f, iv in zip(flags[s:e], intervention[s:e])
        ]
        for a, b, trig in _windows(frame_flags, e - s):
            rows = slice(s + a, s + b + 1)
            pick = s + np.linspace(a, b, SIGNATURE_FRAMES).round().astype(int)  # (16,)
            tag = "+".join(trig) if trig else (scenario[s] or "nominal")
            expert_accel, expert_steer = values[rows, 2], values[rows, 3]  # (frames,) each
            calm = bool(
                np.all(np.abs(expert_accel) <= TRIVIAL_ACCEL) and np.all(np.abs(expert_steer) < TRIVIAL_STEER)
            )
            clip = ClipRef(
                int(episode[s]), int(t[s + a]), int(t[s + b]), tag, round(float(priority[rows].max()), 6)
            )
            out.append(
                Candidate(clip, scenario[s] or "", bool(trig), calm and not trig, values[pick], reason[pick])
            )
    return out


def drop_near_duplicates(cands: list[Candidate]) -> tuple[list[Candidate], int]:
    """Step 3: (kept clips in visiting order, number dropped)."""
    kept: dict[tuple[str, str], list[Candidate]] = {}
    dropped = 0
    for c in sorted(cands, key=lambda c: c.order):
        group = kept.setdefault((c.scenario, c.clip.tag), [])
        if group:
            sig = np.stack([k.signature for k in group])  # (K, 16, 4)
            reasons = np.stack([k.reasons for k in group])  # (K, 16)
            close = np.all(np.abs(sig - c.signature) <= DUPLICATE_TOL, axis=(1, 2))
            if np.any(close & np.all(reasons == c.reasons, axis=1)):
                dropped += 1
                continue
        group.append(c)
    return [c for group in kept.values() for c in group], dropped


def median_quota(counts: Counter) -> int:
    return math.ceil(float(np.median(list(counts.values())))) if counts else 0


def apply_quota(cands: list[Candidate], quota: int) -> list[Candidate]:
    """Step 4: at most `quota` clips per tag, highest priority first."""
    taken: Counter = Counter()
    out = []
    for c in sorted(cands, key=lambda c: c.order):
        if taken[c.clip.tag] < quota:
            taken[c.clip.tag] += 1
            out.append(c)
    return out


def balance(counts: dict[str, int]) -> dict:
    """{"counts", "normalized_entropy" (H / log K, 1.0 for one tag), "max_min_ratio"} of tag counts."""
    n = [v for v in counts.values() if v > 0]
    if not n:
        return {"counts": {}, "normalized_entropy": 0.0, "max_min_ratio": 0.0}
    p = np.array(n, np.float64) / sum(n)
    entropy = float(-(p * np.log(p)).sum() / math.log(len(n))) if len(n) > 1 else 1.0
    return {
        "counts": dict(sorted(counts.items())),
        "normalized_entropy": round(entropy, 6),
        "max_min_ratio": round(max(n) / min(n), 6),
    }


@dataclass
class CurationReport:
    """What each step removed, and the balance before (all clips) and after (the curated set)."""

    quota: int
    dropped_trivial: int
    dropped_duplicate: int
    dropped_quota: int
    before: dict = field(default_factory=dict)
    after: dict = field(default_factory=dict)


def curate_training(root: str | os.PathLike, quota: int = 0) -> tuple[list[ClipRef], CurationReport]:
    """The curated clips of a dataset, sorted by (episode, start_t), and the report. quota 0: median."""
    if quota < 0:
        raise ValueError(f"quota must be >= 0 (0: the median tag count), got {quota}")
    cands = build_candidates(read_index_columns(root))
    before = Counter(c.clip.tag for c in cands)
    useful = [c for c in cands if not c.trivial]
    unique, n_dup = drop_near_duplicates(useful)
    q = quota or median_quota(Counter(c.clip.tag for c in unique))
    final = apply_quota(unique, q)
    report = CurationReport(
        q,
        len(cands) - len(useful),
        n_dup,
        len(unique) - len(final),
        balance(before),
        balance(Counter(c.clip.tag for c in final)),
    )
    return sorted((c.clip for c in final), key=lambda c: (c.episode, c.start_t)), report


def dataset_train_seeds(root: str | os.PathLike) -> dict[str, list[list[int]]]:
    """{scenario: [[a, b), ...]} of the seeds a dataset recorded, in a checkpoint's train_seeds form."""
    table = read_index_columns(root, ("episode", "t", "scenario", "seed"))
    pairs = sorted(set(zip(table["scenario"].to_pylist(), table["seed"].to_pylist())))
    out: dict[str, list[list[int]]] = {}
    for scenario, seed in pairs:
        ranges = out.setdefault(scenario, [])
        if ranges and ranges[-1][1] == seed:
            ranges[-1][1] = seed + 1  # consecutive seeds merge into one range
        else:
            ranges.append([seed, seed + 1])
    return out


def eval_pairs(
    scenarios: tuple[str, ...], per_scenario: int, train_seeds: dict[str, list[list[int]]], start: int
) -> list[tuple[str, int]]:
    """`per_scenario` (scenario, seed) pairs per scenario, the lowest seeds from `start` up that
    are not in that scenario's training ranges: balanced by construction, disjoint by construction."""
    if per_scenario < 1:
        raise ValueError(f"episodes per scenario must be >= 1, got {per_scenario}")
    out = []
    for scenario in scenarios:
        ranges = sorted(train_seeds.get(scenario, []))
        seed, taken = start, 0
        while taken < per_scenario:
            inside = [b for a, b in ranges if a <= seed < b]
            if inside:
                seed = max(inside)  # skip the whole training range at once
                continue
            out.append((scenario, seed))
            seed, taken = seed + 1, taken + 1
    return out
