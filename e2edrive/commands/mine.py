"""`e2edrive mine DATA "SQL" [--out MANIFEST.json] [--json]`: select clips of a dataset with SQL.

    e2edrive mine runs/data "SELECT * FROM triggers WHERE trigger = 'hard_brake'"
    e2edrive mine runs/data "SELECT episode, t FROM frames WHERE scenario = 'cut_in' AND ttc < 1.5" \\
        --out runs/cut_in.json
    e2edrive train --manifest runs/cut_in.json --out runs/cut_in_ft

The query runs in DuckDB (`pip install 'e2edrive[mine]'`) over two tables: `frames`, the dataset's
index (one row per frame: FORMAT.md lists the columns), and `triggers`, the clips cut around every
trigger firing (episode, t, trigger, version, priority, start_t, end_t, firings). Result rows need
`episode` and `t` (a frame, widened to [t - 3 s, t + 2 s]) or `start_t`/`end_t`; data.mining has
the rules. Prints clip and frame counts per tag (`trigger` or `tag` column); --out writes the clip
manifest that `e2edrive train --manifest` reads.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from typing import Annotated

import tyro


@dataclass
class MineArgs:
    data: Annotated[str, tyro.conf.Positional, tyro.conf.arg(metavar="DATA")]
    """dataset directory written by `e2edrive collect`"""
    sql: Annotated[str, tyro.conf.Positional, tyro.conf.arg(metavar="SQL")]
    """the query over the tables `frames` and `triggers`"""
    out: str | None = None
    """write the clip manifest (JSON, with the dataset's and the clips' hashes) here"""
    json: bool = False
    """print one JSON object (counts and the manifest) instead of the table"""


def _table(counts: dict[str, dict[str, int]]) -> str:
    rows = [f"{'tag':<24} {'clips':>7} {'frames':>8}"]
    rows += [f"{tag:<24} {c['clips']:>7} {c['frames']:>8}" for tag, c in counts.items()]
    total = (sum(c["clips"] for c in counts.values()), sum(c["frames"] for c in counts.values()))
    rows.append(f"{'total':<24} {total[0]:>7} {total[1]:>8}")
    return "\n".join(rows)


def main(argv: list[str]) -> int:
    args = tyro.cli(MineArgs, args=argv, prog="e2edrive mine", description=__doc__)
    from e2edrive.data.format import DatasetFormatError
    from e2edrive.data.manifest import manifest_dict, write_manifest
    from e2edrive.data.mining import counts, mine

    try:
        clips, result = mine(args.data, args.sql)
        manifest = manifest_dict(args.data, args.sql, clips)
        if args.out is not None:
            write_manifest(args.out, args.data, args.sql, clips)
    except (DatasetFormatError, ValueError, OSError) as e:  # MiningError, ManifestError are ValueErrors
        print(f"e2edrive mine: error: {e}", file=sys.stderr)
        return 2
    per_tag = counts(clips)
    if args.json:
        print(json.dumps({"rows": result.num_rows, "counts": per_tag, "manifest": manifest}, sort_keys=True))
        return 0
    print(_table(per_tag))
    print(f"\n{result.num_rows} result rows -> {len(clips)} clips", end="")
    print(f"; manifest: {args.out} (sha256 {manifest['sha256'][:12]})" if args.out else "")
    return 0
