"""Building the network a TrainConfig names."""

from __future__ import annotations

from e2edrive.model.base import DrivingPolicy


def build_model(name: str, preset: str = "tiny") -> DrivingPolicy:
    """`driving` with a preset from model.config.PRESETS, or a baseline from model.registry.MODELS.

    `probe` is the trainer's test double (train/synthetic.py), not a driving network."""
    if name == "probe":
        from e2edrive.train.synthetic import ProbePolicy

        return ProbePolicy()
    from e2edrive.model.registry import get_model_class

    cls = get_model_class(name)
    if name == "driving":
        from e2edrive.model.config import make_config

        return cls(make_config(preset))
    return cls(cls.config_class())
