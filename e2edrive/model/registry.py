"""The explicit registry of driving networks: name -> class (checkpoints store the name).

A class registered here has `name` (its key), `config_class` (a dataclass) and `__init__(config)`.
"""

from __future__ import annotations

from e2edrive.model.base import DrivingPolicy
from e2edrive.model.dave2 import Dave2
from e2edrive.model.driving_model import DrivingModel
from e2edrive.model.ego_mlp import EgoMLP

MODELS: dict[str, type[DrivingPolicy]] = {
    "driving": DrivingModel,
    "dave2": Dave2,  # Bojarski et al. 2016: front camera -> controls
    "ego_mlp": EgoMLP,  # AD-MLP (Zhai et al. 2023): ego status + route, no camera
}


def get_model_class(name: str) -> type[DrivingPolicy]:
    if name not in MODELS:
        raise KeyError(f"unknown model {name!r}; registered: {sorted(MODELS)}")
    return MODELS[name]
