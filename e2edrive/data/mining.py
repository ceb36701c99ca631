"""Mining: SQL over a dataset's index and its trigger clips, turned into a clip manifest.

Two tables are registered for the query (DuckDB, the optional extra `e2edrive[mine]`):

    frames    the Parquet index, every part (format.index_schema: one row per frame)
    triggers  the clip table of data.triggers.clip_table (one row per clip cut around firings)

A query's rows must have `episode` and either `t` (a frame: it becomes the clip [t - 3 s, t + 2 s],
cut to the episode) or `start_t` and `end_t` (a clip, ends included). The clip's tag is the row's
`trigger`, else its `tag`, else "query"; its priority the row's `priority`, else 0. Overlapping clips
of one tag in one episode merge (the same rule as the clip table), so a query that returns every
frame of a long event gives one clip, not fifty.

    SELECT * FROM triggers WHERE trigger = 'ttc_low'
    SELECT f.episode, f.t, 'cut_in_close' AS tag FROM frames f WHERE f.scenario = 'cut_in' AND f.ttc < 1.5
"""

from __future__ import annotations

import os
from collections import Counter
from pathlib import Path

import numpy as np
import pyarrow as pa

from e2edrive.data.dataset import read_index, read_trigger_versions
from e2edrive.data.format import read_meta
from e2edrive.data.manifest import ClipRef
from e2edrive.data.triggers import CLIP_AFTER, CLIP_BEFORE, clip_table, key_change, merge_windows

DEFAULT_TAG = "query"
INSTALL_HINT = "mining needs DuckDB: pip install 'e2edrive[mine]'"


class MiningError(ValueError):
    """A query that cannot run or whose result is not a set of clips; the message is one line."""


def load_tables(root: str | os.PathLike) -> tuple[pa.Table, pa.Table]:
    """(frames, triggers) of the dataset at root: the whole index and its clip table."""
    read_meta(Path(root))  # a clear DatasetFormatError for a directory that is not a dataset
    frames, _, _ = read_index(root)
    return frames, clip_table(frames, read_trigger_versions(root))


def _duckdb():
    try:
        import duckdb
    except ImportError:
        raise MiningError(INSTALL_HINT) from None
    return duckdb


def run_query(sql: str, frames: pa.Table, triggers: pa.Table) -> pa.Table:
    """The query's result as an Arrow table. Errors are one line; an unknown column lists the
    columns of both tables."""
    duckdb = _duckdb()
    con = duckdb.connect()
    try:
        con.register("frames", frames)
        con.register("triggers", triggers)
        rel = con.sql(sql)
        if rel is None:  # a statement without a result (SET, CREATE ...)
            raise MiningError("the query returns no rows: give a SELECT")
        out = rel.to_arrow_table() if hasattr(rel, "to_arrow_table") else rel.arrow()  # duckdb 2 / 1
        return out.read_all() if isinstance(out, pa.RecordBatchReader) else out
    except duckdb.BinderException as e:
        first = str(e).splitlines()[0]
        raise MiningError(
            f"{first} Available columns of frames: {', '.join(frames.column_names)}; "
            f"of triggers: {', '.join(triggers.column_names)}"
        ) from None
    except duckdb.Error as e:
        raise MiningError(str(e).splitlines()[0]) from None
    finally:
        con.close()


def result_clips(result: pa.Table, frames: pa.Table) -> list[ClipRef]:
    """The clips a query result names (module docstring), merged and sorted by (episode, start_t, tag)."""
    cols = set(result.column_names)
    if "episode" not in cols or not ({"t"} <= cols or {"start_t", "end_t"} <= cols):
        raise MiningError(
            f"the result has columns {sorted(cols)}: it needs `episode` and either `t` (a frame) "
            "or `start_t` and `end_t` (a clip)"
        )
    n = result.num_rows
    if n == 0:
        return []

    def ints(name: str) -> np.ndarray:
        col = result[name]
        if col.null_count:
            raise MiningError(f"the result's column {name} has {col.null_count} nulls")
        return col.to_numpy().astype(np.int64)

    episode = ints("episode")
    eps, inverse = np.unique(frames["episode"].to_numpy(), return_inverse=True)
    last = np.full(len(eps), -1, np.int64)
    np.maximum.at(last, inverse, frames["t"].to_numpy().astype(np.int64))  # (E,) T - 1 per episode
    pos = np.clip(np.searchsorted(eps, episode), 0, max(len(eps) - 1, 0))
    unknown = episode[eps[pos] != episode] if len(eps) else episode
    if len(unknown):
        raise MiningError(f"the result names episode {int(unknown[0])}, which the dataset does not have")
    if {"start_t", "end_t"} <= cols:
        start, end = ints("start_t"), ints("end_t")
    else:
        t = ints("t")
        start, end = t - CLIP_BEFORE, t + CLIP_AFTER
    start, end = np.maximum(start, 0), np.minimum(end, last[pos])
    if (start > end).any():
        k = int(np.argmax(start > end))
        raise MiningError(f"the result's row {k} is an empty clip of episode {int(episode[k])}")
    tag_col = "trigger" if "trigger" in cols else "tag" if "tag" in cols else None
    tags = (
        np.array([DEFAULT_TAG if v is None else str(v) for v in result[tag_col].to_pylist()])
        if tag_col
        else np.full(n, DEFAULT_TAG)
    )
    prio = np.zeros(n)
    if "priority" in cols:
        prio = np.nan_to_num(result["priority"].to_numpy(zero_copy_only=False).astype(np.float64), nan=0.0)
    names, tag_id = np.unique(tags, return_inverse=True)
    order = np.lexsort((end, start, tag_id, episode))
    episode, tag_id, start, end, prio = (a[order] for a in (episode, tag_id, start, end, prio))
    group = merge_windows(episode * len(names) + tag_id, start, end)
    firsts = np.flatnonzero(key_change(group))
    clips = [
        ClipRef(int(e), int(s), int(x), str(names[k]), round(float(p), 6))
        for e, k, s, x, p in zip(
            episode[firsts],
            tag_id[firsts],
            start[firsts],
            np.maximum.reduceat(end, firsts),
            np.maximum.reduceat(prio, firsts),
        )
    ]
    return sorted(clips, key=lambda c: (c.episode, c.start_t, c.tag))


def mine(root: str | os.PathLike, sql: str) -> tuple[list[ClipRef], pa.Table]:
    """Run sql over the dataset at root; (its clips, the raw result)."""
    _duckdb()  # before reading the dataset: the missing extra is the first thing to say
    frames, triggers = load_tables(root)
    result = run_query(sql, frames, triggers)
    return result_clips(result, frames), result


def tagged_episode_clips(root: str | os.PathLike, tag: str) -> list[ClipRef]:
    """Every trigger clip of the episodes whose index rows carry `tag`, without DuckDB (pyarrow
    compute): what `SELECT ... FROM triggers WHERE episode IN (SELECT DISTINCT episode FROM frames
    WHERE list_contains(tags, TAG))` returns, so the quickstart's engine round runs on the core
    install; `e2edrive mine` with free SQL still needs the extra."""
    import pyarrow.compute as pc

    frames, triggers = load_tables(root)
    chosen = triggers.filter(pc.is_in(triggers["episode"], value_set=tagged_episodes(frames, tag)))
    return result_clips(chosen.select(["episode", "start_t", "end_t", "trigger", "priority"]), frames)


def tagged_episodes(frames: pa.Table, tag: str) -> pa.Array:
    """The ids of the episodes whose index rows (`frames`, read_index's table) carry `tag`."""
    import pyarrow.compute as pc

    tags = frames["tags"].combine_chunks()
    rows = pc.filter(pc.list_parent_indices(tags), pc.equal(pc.list_flatten(tags), tag))
    return pc.unique(pc.take(frames["episode"], rows))


def counts(clips: list[ClipRef]) -> dict[str, dict[str, int]]:
    """tag -> {"clips": n, "frames": frames they cover}, tags sorted."""
    n, frames = Counter(), Counter()
    for c in clips:
        n[c.tag] += 1
        frames[c.tag] += c.frames
    return {tag: {"clips": n[tag], "frames": frames[tag]} for tag in sorted(n)}
