"""Checkpoints: weights as safetensors, the config as JSON, written atomically.

    DIR/model.safetensors   the state dict (no pickle: loading runs no code)
    DIR/config.json         {"format": 1, "model": registry name, "config": {...}}

Each file is written to a temporary name in DIR, fsynced, then renamed over the target, so a
crash leaves either the old or the new file, never half of one. Loading rebuilds the network from
the registry and its config class and checks everything it can (model name, config fields, rig,
tensor names and shapes), failing with a message that says what differs. Weights saved under an
older reason catalog are padded to this version's first (model/migrate.py).

A registered model class must have `name`, `config_class` (a dataclass) and `__init__(config)`.
"""

from __future__ import annotations

import dataclasses
import json
import os
import tempfile
import types
import typing
from pathlib import Path

import torch

from e2edrive.core.rig import CameraRig
from e2edrive.model.base import DrivingPolicy
from e2edrive.model.migrate import pad_reason_heads
from e2edrive.model.validate import rig_difference

FORMAT = 1
WEIGHTS, CONFIG = "model.safetensors", "config.json"


def config_to_dict(cfg) -> dict:
    """A config dataclass -> JSON-ready dict (nested dataclasses, CameraRig, tuples)."""
    out = {}
    for f in dataclasses.fields(cfg):
        v = getattr(cfg, f.name)
        if isinstance(v, CameraRig):
            v = v.to_dict()
        elif dataclasses.is_dataclass(v):
            v = config_to_dict(v)
        elif isinstance(v, tuple):
            v = list(v)
        out[f.name] = v
    return out


def _build(tp, value, where: str):
    origin = typing.get_origin(tp)
    if tp is CameraRig:
        return CameraRig.from_dict(value)
    if dataclasses.is_dataclass(tp):
        return config_from_dict(tp, value, where)
    if origin is tuple:
        return tuple(value)
    if origin in (typing.Union, types.UnionType):  # X | None
        if value is None:
            return None
        inner = [a for a in typing.get_args(tp) if a is not type(None)]
        return _build(inner[0], value, where) if len(inner) == 1 else value
    return value


def config_from_dict(cls, d: dict, where: str = "config"):
    """Strict inverse of config_to_dict: unknown or missing fields are errors that name them, except
    the fields a config class lists in ADDED_FIELDS (added later, with the value that reproduces
    what older checkpoints computed), which are filled in."""
    if not isinstance(d, dict):
        raise ValueError(f"{where}: expected an object for {cls.__name__}, got {type(d).__name__}")
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    added = getattr(cls, "ADDED_FIELDS", {})
    d = {**{k: v for k, v in added.items() if k not in d}, **d}
    unknown, missing = sorted(set(d) - names), sorted(names - set(d))
    if unknown or missing:
        raise ValueError(
            f"{where} does not match {cls.__name__} of this version: unknown fields {unknown}, "
            f"missing fields {missing}"
        )
    return cls(**{k: _build(hints[k], d[k], f"{where}.{k}") for k in names})


def _atomic_write(path: Path, write) -> None:
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        write(tmp)
        with open(tmp, "rb+") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)  # the rename itself must survive a crash
    finally:
        os.close(dir_fd)


def save_checkpoint(model: DrivingPolicy, directory: str | Path, extra: dict | None = None) -> Path:
    """Write DIR/model.safetensors and DIR/config.json atomically; returns DIR. `extra` (JSON-able,
    e.g. the training step) is stored under "extra" in config.json."""
    from safetensors.torch import save_file

    if model.config is None or not dataclasses.is_dataclass(model.config):
        raise ValueError(f"{type(model).__name__}.config must be a dataclass to be checkpointed")
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    meta = {
        "format": FORMAT,
        "model": model.name,
        "config": config_to_dict(model.config),
        "extra": extra or {},
    }
    _atomic_write(directory / WEIGHTS, lambda p: save_file(state, p, metadata={"model": model.name}))
    _atomic_write(directory / CONFIG, lambda p: Path(p).write_text(json.dumps(meta, indent=1)))
    return directory


def read_checkpoint_config(directory: str | Path) -> dict:
    """The parsed config.json of a checkpoint directory (with a clear error when absent)."""
    path = Path(directory) / CONFIG
    if not path.is_file():
        raise FileNotFoundError(f"no checkpoint at {directory}: {CONFIG} is missing")
    meta = json.loads(path.read_text())
    if meta.get("format") != FORMAT:
        raise ValueError(f"{path}: checkpoint format {meta.get('format')!r}, this version reads {FORMAT}")
    return meta


def load_checkpoint(
    directory: str | Path,
    expect_model: str | None = None,
    rig: CameraRig | None = None,
    expect_config=None,
    map_location: str | torch.device = "cpu",
) -> DrivingPolicy:
    """Rebuild a network from DIR. Optional checks: expect_model (registry name), rig (the rig the
    caller will feed, e.g. the simulator's), expect_config (a config the stored one must equal,
    field by field, except `pretrained`)."""
    from safetensors.torch import load_file

    from e2edrive.model.registry import get_model_class

    meta = read_checkpoint_config(directory)
    name = meta["model"]
    if expect_model is not None and name != expect_model:
        raise ValueError(f"checkpoint {directory} holds model {name!r}, expected {expect_model!r}")
    cls = get_model_class(name)
    cfg = config_from_dict(cls.config_class, meta["config"], f"{directory}/{CONFIG}")
    if hasattr(cfg, "pretrained"):
        cfg = dataclasses.replace(cfg, pretrained=None)  # the checkpoint's weights replace them
    if expect_config is not None:
        want, got = config_to_dict(expect_config), config_to_dict(cfg)
        diff = sorted(k for k in want if k != "pretrained" and want[k] != got.get(k))
        if diff:
            raise ValueError(f"checkpoint {directory} config differs from the expected one in fields {diff}")
    if rig is not None and getattr(cfg, "rig", None) is not None:
        d = rig_difference(cfg.rig, rig)
        if d is not None:
            raise ValueError(f"checkpoint {directory} was trained for another rig: {d}")
    model = cls(cfg)
    try:
        state = load_file(str(Path(directory) / WEIGHTS), device=str(map_location))
    except Exception as e:  # noqa: BLE001 - safetensors raises its own error type for a bad file
        if isinstance(e, (FileNotFoundError, ValueError)):
            raise
        first = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise ValueError(f"checkpoint {directory}: {WEIGHTS} is truncated or corrupt ({first})") from e
    state = pad_reason_heads(model, state)  # a checkpoint of an older reason catalog
    own = model.state_dict()
    missing, unexpected = sorted(set(own) - set(state)), sorted(set(state) - set(own))
    wrong = [k for k in own if k in state and own[k].shape != state[k].shape]
    if missing or unexpected or wrong:
        raise ValueError(
            f"checkpoint {directory} weights do not fit {name!r}: missing {missing[:5]}, "
            f"unexpected {unexpected[:5]}, wrong shapes {wrong[:5]}"
        )
    model.load_state_dict(state)
    return model.to(map_location)
