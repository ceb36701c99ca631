"""Opening training data: a recorded dataset directory, or `synthetic:N` clips."""

from __future__ import annotations

from pathlib import Path

from e2edrive.train.synthetic import SyntheticClips, cat_clips

SYNTHETIC_PREFIX = "synthetic:"


def open_dataset(spec: str, history: int, label_grids: bool = True):
    """`DIR` -> data.dataset.DrivingDataset(DIR, history); `synthetic:N` -> N synthetic clips.

    Errors name what is wrong: a missing directory, an empty dataset, a bad N."""
    if spec.startswith(SYNTHETIC_PREFIX):
        n = spec[len(SYNTHETIC_PREFIX) :]
        if not n.isdigit() or int(n) <= 0:
            raise ValueError(f"--data {spec!r}: expected synthetic:N with N a positive integer")
        return SyntheticClips(int(n), history, label_grids=label_grids)
    from e2edrive.data.dataset import DrivingDataset

    root = Path(spec)
    if not root.is_dir():
        raise FileNotFoundError(
            f"dataset directory {root} does not exist (record one with `e2edrive collect`)"
        )
    dataset = DrivingDataset(root, history=history)
    if len(dataset) == 0:
        raise ValueError(f"dataset {root} has no frames")
    return dataset


def open_training_data(cfg):
    """The training set a TrainConfig names: open_dataset(cfg.data), or with cfg.manifest the frames
    of the manifest's clips in its dataset (cfg.data, if set, relocates that dataset). A manifest
    naming an episode the dataset lacks, or made from another dataset (hashes), raises ManifestError."""
    if cfg.manifest is None:
        if not cfg.data:
            raise ValueError("give --data DIR (or synthetic:N), or --manifest FILE")
        return open_dataset(cfg.data, cfg.history)
    from e2edrive.data.dataset import DrivingDataset
    from e2edrive.data.manifest import ManifestError, check_dataset, read_manifest

    manifest, clips = read_manifest(cfg.manifest)
    root = Path(cfg.data or manifest["dataset"])
    if not root.is_dir():
        raise FileNotFoundError(f"the manifest's dataset {root} does not exist (give --data where it is now)")
    if not clips:
        raise ManifestError(f"manifest {cfg.manifest} has no clips")
    check_dataset(manifest, clips, root)
    return DrivingDataset(root, history=cfg.history, clips=[(c.episode, c.start_t, c.end_t) for c in clips])


def collate_fn(dataset):
    """The dataset's own collate if it has one (synthetic), else data.dataset.collate_clips."""
    if isinstance(dataset, SyntheticClips):
        return cat_clips
    from e2edrive.data.dataset import collate_clips

    return collate_clips


def dataset_seed_pairs(dataset) -> list[tuple[str, int]]:
    """(scenario, seed) of every episode in the dataset: stored in the checkpoint so that
    evaluation can refuse to test on what the model was trained on."""
    if hasattr(dataset, "seed_pairs"):
        return dataset.seed_pairs()
    index = getattr(dataset, "index", None)
    if index is None:
        return []
    return sorted(set(zip(index["scenario"].to_pylist(), index["seed"].to_pylist())))
