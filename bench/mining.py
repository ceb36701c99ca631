"""Mining speed: a typical query over a synthetic index of 10^6 frames, DuckDB beside pyarrow.compute.

    python -m bench.mining [--episodes 1000] [--frames 1000] [--repeats 5]

The index is written as real Parquet parts (format.index_schema, one per episode; no shards: a
query never reads them) with random values and about 1% of frames carrying a trigger flag. Timed:
loading (read_index + clip_table, what `e2edrive mine` does once), then the query "clips per
trigger that fired while the time to collision was below 1.5 s in cut_in", median of `repeats`,
with DuckDB (data.mining.run_query: a fresh connection per run, as the command does) and with the
equivalent pyarrow.compute join + filter + group-by. Both must give the same counts.
"""

from __future__ import annotations

import json
import statistics
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import tyro

from e2edrive.data.format import (
    FORMAT_NAME,
    FORMAT_VERSION,
    INDEX_DIR,
    MANIFEST_KEY,
    RECORD_COLUMNS,
    constants_dict,
    episode_name,
    index_schema,
)
from e2edrive.data.triggers import TRIGGERS

SQL = """
SELECT c.trigger, count(*) AS clips
FROM triggers c JOIN frames f ON f.episode = c.episode AND f.t = c.t
WHERE f.scenario = 'cut_in' AND f.ttc < 1.5
GROUP BY c.trigger ORDER BY c.trigger
"""
SCENARIOS = ("lane_follow", "follow_lead", "traffic_light", "cut_in", "pedestrian_close")


@dataclass
class Args:
    episodes: int = 1000
    """episodes (one Parquet part each)"""
    frames: int = 1000
    """frames per episode (10^6 rows in all by default)"""
    repeats: int = 5
    """timed runs of each query; the median is reported"""
    fire_rate: float = 0.01
    """fraction of frames with a trigger flag"""


def _part(ep: int, n: int, rng: np.random.Generator, fire_rate: float) -> pa.Table:
    """One episode's index part with the real schema and random values."""
    schema = index_schema()
    cols = {}
    for field in schema:
        if pa.types.is_floating(field.type):
            cols[field.name] = rng.normal(0, 3, n).astype(field.type.to_pandas_dtype())
        elif pa.types.is_boolean(field.type):
            cols[field.name] = rng.random(n) < 0.01
        elif pa.types.is_integer(field.type):
            cols[field.name] = rng.integers(0, 4, n).astype(field.type.to_pandas_dtype())
    cols["ttc"] = np.where(rng.random(n) < 0.05, rng.uniform(0, 3, n), np.inf).astype(np.float32)
    cols["episode"], cols["seed"] = np.full(n, ep, np.int64), np.full(n, ep, np.int64)
    cols["t"] = cols["row"] = np.arange(n, dtype=np.int32)
    cols["time_s"] = np.arange(n) * 0.1
    cols["scenario"] = [SCENARIOS[ep % len(SCENARIOS)]] * n
    cols["tags"] = pa.array([["driver=expert"]] * n, pa.list_(pa.string()))
    cols["expert_reason_text"] = [""] * n
    cols["shard"] = [f"episodes/{episode_name(ep)}.shard"] * n
    fired = rng.random(n) < fire_rate
    names = np.array(list(TRIGGERS))
    offsets = np.concatenate([[0], np.cumsum(fired)]).astype(np.int32)
    values = pa.array(names[rng.integers(0, len(names), int(fired.sum()))])
    cols["flags"] = pa.ListArray.from_arrays(pa.array(offsets), values)
    assert set(cols) >= set(RECORD_COLUMNS)
    return pa.table(cols, schema=schema.with_metadata({MANIFEST_KEY: b"{}"}))


def _pyarrow_query(frames: pa.Table, triggers: pa.Table) -> dict[str, int]:
    """SQL above in pyarrow.compute: filter the frames first (cheaper join), join, group."""
    mask = pc.and_(pc.equal(frames["scenario"], "cut_in"), pc.less(frames["ttc"], 1.5))
    hits = frames.filter(mask).select(["episode", "t"])
    joined = triggers.select(["episode", "t", "trigger"]).join(hits, ["episode", "t"], join_type="inner")
    counts = joined.group_by("trigger").aggregate([("trigger", "count")])
    return dict(zip(counts["trigger"].to_pylist(), counts["trigger_count"].to_pylist()))


def _median(fn, repeats: int) -> tuple[float, object]:
    times, out = [], None
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), out


def main(args: Args) -> dict:
    from e2edrive.data.mining import load_tables, run_query

    rng = np.random.default_rng(0)
    with tempfile.TemporaryDirectory(prefix="e2edrive-bench-mining-") as tmp:
        root = Path(tmp)
        (root / INDEX_DIR).mkdir()
        # what load_tables checks (read_meta); a real dataset's meta.json also has the rig and grid
        meta = {"format": FORMAT_NAME, "version": FORMAT_VERSION, "constants": constants_dict()}
        (root / "meta.json").write_text(json.dumps(meta))
        t0 = time.perf_counter()
        for ep in range(args.episodes):
            pq.write_table(
                _part(ep, args.frames, rng, args.fire_rate), root / INDEX_DIR / f"{episode_name(ep)}.parquet"
            )
        write_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        frames, triggers = load_tables(root)
        load_s = time.perf_counter() - t0
    duck_s, duck = _median(lambda: run_query(SQL, frames, triggers), args.repeats)
    arrow_s, arrow = _median(lambda: _pyarrow_query(frames, triggers), args.repeats)
    duck_counts = dict(zip(duck["trigger"].to_pylist(), duck["clips"].to_pylist()))
    if duck_counts != arrow:
        raise AssertionError(f"DuckDB and pyarrow disagree: {duck_counts} vs {arrow}")
    rows = frames.num_rows
    return {
        "rows": rows,
        "clips": triggers.num_rows,
        "write_parts_s": round(write_s, 2),
        "load_s": round(load_s, 3),
        "duckdb_s": round(duck_s, 4),
        "duckdb_rows_per_s": round(rows / duck_s),
        "pyarrow_s": round(arrow_s, 4),
        "pyarrow_rows_per_s": round(rows / arrow_s),
        "counts": duck_counts,
    }


if __name__ == "__main__":
    r = main(tyro.cli(Args))
    print(
        f"{r['rows']:,} frames, {r['clips']:,} trigger clips; load (index + clip table) {r['load_s']:.2f} s\n"
        f"duckdb   {r['duckdb_s'] * 1e3:8.1f} ms  {r['duckdb_rows_per_s'] / 1e6:6.1f} M rows/s\n"
        f"pyarrow  {r['pyarrow_s'] * 1e3:8.1f} ms  {r['pyarrow_rows_per_s'] / 1e6:6.1f} M rows/s\n"
        f"counts {r['counts']}"
    )
