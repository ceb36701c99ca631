"""`e2edrive curate`: balanced training sets of clips, and balanced, unseen evaluation sets.

    e2edrive curate --data runs/data --out runs/curated.json            quota: the median tag count
    e2edrive curate --data runs/data --quota 40 --json
    e2edrive curate --eval --suite corner --episodes-per-scenario 16 --exclude-train runs/tiny \\
        --out runs/eval_corner.json

Training mode reads the dataset's index, cuts clips around triggered frames (and fixed windows of
the rest), drops trivial clips and near-duplicates, applies per-tag quotas (data.curation has the
rules) and writes the clip manifest of `e2edrive mine --out`. Evaluation mode writes a JSON list of
[scenario, seed] pairs, as many per scenario, with seeds outside the training seeds of a dataset
directory or a checkpoint (its stored train_seeds). Both print tag counts, normalised entropy and
the max/min count ratio (before and after in training mode); `--json` prints them as one object.
"""

from __future__ import annotations

import json
import shlex
import sys
from dataclasses import asdict, dataclass
from pathlib import Path

import tyro

from e2edrive.eval.suites import EVAL_SEED_START


@dataclass
class CurateArgs:
    data: str | None = None
    """dataset directory to curate (training mode)"""
    out: str | None = None
    """write the clip manifest (training mode) or the [scenario, seed] list (--eval) here"""
    quota: int = 0
    """clips per tag at most; 0: the median tag count (balanced)"""
    eval: bool = False
    """draw an evaluation set instead of curating a dataset"""
    suite: str = "corner"
    """--eval: basic | corner | all, or comma-separated scenario names"""
    episodes_per_scenario: int = 16
    """--eval: episodes drawn per scenario"""
    exclude_train: str | None = None
    """--eval: a dataset directory or a checkpoint whose training seeds the set must avoid"""
    seed_start: int = EVAL_SEED_START
    """--eval: the lowest seed drawn"""
    json: bool = False
    """print one JSON object to stdout instead of the tables"""


def main(argv: list[str]) -> int:
    args = tyro.cli(CurateArgs, args=argv, prog="e2edrive curate", description=__doc__)
    try:
        return _eval_set(args) if args.eval else _training_set(args, argv)
    except (FileNotFoundError, ValueError, KeyError) as e:  # DatasetFormatError, ManifestError too
        msg = e.args[0] if isinstance(e, KeyError) and e.args else e
        print(f"e2edrive curate: error: {msg}", file=sys.stderr)
        return 2


def _balance_table(columns: dict[str, dict]) -> str:
    """Markdown: one row per tag, one column per named balance, then entropy and max/min rows."""
    names = list(columns)
    tags = sorted({t for b in columns.values() for t in b["counts"]})
    rows = ["| tag | " + " | ".join(names) + " |", "|" + "---|" * (len(names) + 1)]
    rows += [
        f"| {t} | " + " | ".join(str(columns[n]["counts"].get(t, 0)) for n in names) + " |" for t in tags
    ]
    rows.append(
        "| H / log K | " + " | ".join(f"{columns[n]['normalized_entropy']:.4f}" for n in names) + " |"
    )
    rows.append("| max / min | " + " | ".join(f"{columns[n]['max_min_ratio']:.2f}" for n in names) + " |")
    return "\n".join(rows)


def _training_set(args: CurateArgs, argv: list[str]) -> int:
    from e2edrive.data.curation import curate_training
    from e2edrive.data.manifest import manifest_dict, write_manifest

    if args.data is None:
        raise ValueError("give --data DIR (a dataset to curate), or --eval for an evaluation set")
    if not Path(args.data).is_dir():
        raise FileNotFoundError(f"no dataset directory at {args.data}")
    clips, report = curate_training(args.data, args.quota)
    query = "curate " + shlex.join(argv)
    manifest = manifest_dict(args.data, query, clips)
    if args.out is not None:
        write_manifest(args.out, args.data, query, clips)
        print(f"manifest: {args.out} ({len(clips)} clips)", file=sys.stderr)
    if args.json:
        print(json.dumps({"report": asdict(report), "manifest": manifest}, sort_keys=True))
        return 0
    print(_balance_table({"before": report.before, "after": report.after}))
    print(
        f"\n{len(clips)} clips kept; dropped {report.dropped_trivial} trivial, "
        f"{report.dropped_duplicate} near-duplicate, {report.dropped_quota} over the quota of {report.quota}"
    )
    return 0


def _train_seeds(path: str) -> dict[str, list[list[int]]]:
    """Training seeds of a dataset directory (its index) or of a checkpoint (what it stored)."""
    from e2edrive.data.curation import dataset_train_seeds
    from e2edrive.data.format import INDEX_DIR
    from e2edrive.eval.drivers import checkpoint_extra

    p = Path(path)
    if not p.exists():
        raise FileNotFoundError(f"--exclude-train: no dataset or checkpoint at {path}")
    if (p / INDEX_DIR).is_dir():
        return dataset_train_seeds(p)
    return checkpoint_extra(p).get("train_seeds", {})


def _eval_set(args: CurateArgs) -> int:
    from e2edrive.data.curation import balance, eval_pairs
    from e2edrive.eval.suites import seed_overlap, suite_scenarios

    if args.data is not None:
        raise ValueError("--eval draws (scenario, seed) pairs; --data is for training sets")
    scenarios = suite_scenarios(args.suite)
    train = _train_seeds(args.exclude_train) if args.exclude_train is not None else {}
    pairs = eval_pairs(scenarios, args.episodes_per_scenario, train, args.seed_start)
    # The check that evaluation will run, so a set written here is never refused there.
    assert not any(seed_overlap(train, s, [seed]) for s, seed in pairs)
    stats = balance({s: sum(1 for p in pairs if p[0] == s) for s in scenarios})
    rows = [[s, seed] for s, seed in pairs]
    if args.out is not None:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps(rows) + "\n")
        print(f"evaluation set: {args.out} ({len(rows)} episodes)", file=sys.stderr)
    if args.json:
        print(json.dumps({"pairs": rows, "balance": stats}, sort_keys=True))
    else:
        print(_balance_table({"episodes": stats}))
    return 0
