"""`e2edrive dataset {info,verify,video,export}`: look inside a recorded dataset (data/FORMAT.md).

    e2edrive dataset info runs/data [--json]        episodes, frames, scenarios, tags, size on disk
    e2edrive dataset verify runs/data               sha256 of every shard; exit 1 naming the bad ones
    e2edrive dataset video runs/data --episode 3 --out ep3.mp4
    e2edrive dataset export runs/data --out runs/data_export --format parquet-mp4

`video` tiles the 8 cameras in the order of `e2edrive drive --video` (the rig's order; `--layout
driver` places them as a driver would). `export --format parquet-mp4` writes one Parquet file per
episode (index columns + low-dimensional arrays) and one MP4 per camera; data/export_video.py
documents the layout. Bad input (no such directory, not a dataset, no such episode) is a one-line
error and exit code 2.
"""

from __future__ import annotations

import json
import sys
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Literal

import tyro

Dir = Annotated[Path, tyro.conf.Positional, tyro.conf.arg(metavar="DIR")]


@dataclass
class Info:
    """Episodes, frames, scenarios, tags and size on disk of a dataset."""

    dir: Dir
    """dataset directory written by `e2edrive collect`"""
    json: bool = False
    """print one JSON object instead of the table"""


@dataclass
class Verify:
    """Check the sha256 of every shard; exit 1 and name every bad shard if any is bad."""

    dir: Dir
    """dataset directory written by `e2edrive collect`"""


@dataclass
class Video:
    """Write one episode's 8 cameras as an MP4 mosaic."""

    dir: Dir
    """dataset directory written by `e2edrive collect`"""
    episode: int
    """episode id (the number of its shard file, `dataset info --json` lists them)"""
    out: Path
    """output MP4 file"""
    layout: Literal["rig", "driver"] = "rig"
    """rig: the rig's camera order, as `drive --video`; driver: forward views on top, rear below"""


@dataclass
class Export:
    """Export every episode as Parquet (one file per episode) + MP4 (one per camera)."""

    dir: Dir
    """dataset directory written by `e2edrive collect`"""
    out: Path
    """output directory (created; existing files of the same names are overwritten)"""
    format: Literal["parquet-mp4"] = "parquet-mp4"
    """parquet-mp4: the layout documented in e2edrive/data/export_video.py"""


def dataset_info(root: Path) -> dict:
    """What `dataset info` prints: counts per scenario and per tag are over episodes."""
    import pyarrow.compute as pc

    from e2edrive.data.dataset import read_index
    from e2edrive.data.format import read_meta

    meta = read_meta(root)
    table, manifests, infos = read_index(root)
    heads = table.filter(pc.equal(table["t"], 0)).to_pylist()  # one row per episode
    frames = Counter(table["scenario"].to_pylist())
    scenarios: dict[str, dict] = {}
    for h in heads:
        s = scenarios.setdefault(h["scenario"], {"episodes": 0, "frames": frames[h["scenario"]]})
        s["episodes"] += 1
    tags = Counter(tag for h in heads for tag in h["tags"])
    files = [p for p in root.rglob("*") if p.is_file()]
    shard_bytes = sum(p.stat().st_size for p in files if p.suffix == ".shard")
    rig = meta["rig"]
    return {
        "dir": str(root),
        "format": meta["format"],
        "version": meta["version"],
        "episodes": len(manifests),
        "frames": table.num_rows,
        "episode_ids": sorted(manifests),
        "passed": sum(bool(i.get("passed")) for i in infos.values()),
        "scenarios": dict(sorted(scenarios.items())),
        "tags": dict(sorted(tags.items())),
        "bytes": sum(p.stat().st_size for p in files),
        "shard_bytes": shard_bytes,
        "cameras": list(rig["names"]),
        "image_size": [rig["height"], rig["width"]],
    }


def verify_dataset(root: Path) -> tuple[int, dict[str, str]]:
    """(shards checked, {bad shard or index part: why}). Every committed episode's shard is read
    in full and its sha256 compared with its manifest; an unreadable index part is bad too."""
    import pyarrow.parquet as pq

    from e2edrive.data.dataset import index_parts
    from e2edrive.data.format import MANIFEST_KEY, CorruptShardError, DatasetFormatError, read_meta
    from e2edrive.data.shards import EpisodeShard

    read_meta(root)
    parts = index_parts(root)
    if not parts:
        raise DatasetFormatError(f"{root} has no committed episodes (no index/*.parquet)")
    bad: dict[str, str] = {}
    for part in parts:
        try:
            f = pq.ParquetFile(part)
            manifest = json.loads(f.schema_arrow.metadata[MANIFEST_KEY])
            shard = f.read(columns=["shard"])["shard"][0].as_py()
        except Exception as e:  # any failure to parse the part means the episode cannot be read
            bad[str(part.relative_to(root))] = f"index part unreadable: {e}"
            continue
        try:
            EpisodeShard(root / shard, manifest, verify=True)
        except CorruptShardError as e:
            bad[shard] = str(e).split(": ", 1)[1]
    return len(parts), bad


def _size(n: float) -> str:
    for unit in ("B", "kB", "MB", "GB"):
        if n < 1000 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return ""


def _info_table(d: dict) -> str:
    h, w = d["image_size"]
    lines = [
        f"dataset   {d['dir']}  ({d['format']} v{d['version']})",
        f"episodes  {d['episodes']}  ({d['passed']} passed), frames {d['frames']}",
        f"size      {_size(d['bytes'])} on disk (shards {_size(d['shard_bytes'])})",
        f"cameras   {len(d['cameras'])} x {h}x{w}: {', '.join(d['cameras'])}",
        "",
        f"{'scenario':<24} {'episodes':>8} {'frames':>8}",
    ]
    lines += [f"{n:<24} {s['episodes']:>8} {s['frames']:>8}" for n, s in d["scenarios"].items()]
    if d["tags"]:
        lines += ["", f"{'tag':<24} {'episodes':>8}"]
        lines += [f"{t:<24} {n:>8}" for t, n in d["tags"].items()]
    return "\n".join(lines)


def _run(args) -> int:
    if isinstance(args, Info):
        d = dataset_info(args.dir)
        print(json.dumps(d) if args.json else _info_table(d))
        return 0
    if isinstance(args, Verify):
        n, bad = verify_dataset(args.dir)
        if not bad:
            print(f"{n} shards of {args.dir} verified: all good")
            return 0
        for name, why in bad.items():
            print(f"BAD {name}: {why}")
        print(f"{len(bad)} of {n} shards of {args.dir} are bad", file=sys.stderr)
        return 1
    if isinstance(args, Video):
        from e2edrive.data.dataset import index_parts
        from e2edrive.data.export_video import export_episode_video
        from e2edrive.data.format import read_meta

        read_meta(args.dir)
        ids = [int(p.stem) for p in index_parts(args.dir)]
        if args.episode not in ids:
            span = f"episodes {min(ids)}..{max(ids)}" if ids else "no episodes"
            raise ValueError(f"episode {args.episode} is not in {args.dir} ({len(ids)} committed: {span})")

        path = export_episode_video(args.dir, args.episode, args.out, layout=args.layout)
        print(f"wrote {path}")
        return 0
    from e2edrive.data.export_video import export_parquet_mp4

    path = export_parquet_mp4(args.dir, args.out)
    episodes = len(json.loads(path.read_text())["episodes"])
    print(f"exported {episodes} episodes to {args.out} ({path.name}, data/, videos/)")
    return 0


def main(argv: list[str] | None = None) -> int:
    args = tyro.extras.subcommand_cli_from_dict(
        {"info": Info, "verify": Verify, "video": Video, "export": Export},
        args=argv,
        prog="e2edrive dataset",
        description=__doc__,
    )
    from e2edrive.data.format import CorruptShardError, DatasetFormatError

    try:
        return _run(args)
    except (DatasetFormatError, CorruptShardError, FileNotFoundError, NotADirectoryError, ValueError) as e:
        print(f"e2edrive dataset: error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
