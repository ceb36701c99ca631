"""Golden outputs pin behaviour: the expert's rollouts in every scenario and the tiny model's
outputs on a fixed clip, compared with the saved references in tests/golden/.

A refactor of the world, the expert, the metrics or the model must reproduce them. If a change
of behaviour is intended, regenerate with `.venv/bin/python scripts/regen_golden.py` and commit
the new files with the change that explains them; otherwise the failure is a regression.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

_SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "regen_golden.py"
_spec = importlib.util.spec_from_file_location("regen_golden", _SCRIPT)
regen = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(regen)

HINT = (
    "behaviour differs from the golden reference in tests/golden/. If the change is intended, "
    "regenerate with `.venv/bin/python scripts/regen_golden.py` and commit the new files with it; "
    "otherwise this is a regression."
)
POSE_ATOL = 1e-4  # m / rad: float32 reordering noise over a few hundred steps stays far below
ACTION_ATOL = 1e-4
MODEL_ATOL = 1e-4


def _close(name: str, actual, expected, atol: float, where=None, rtol: float = 0.0) -> None:
    """assert_close with absolute tolerances by default: world poses reach hundreds of metres,
    where a relative tolerance would let centimetres through."""
    torch.testing.assert_close(
        actual,
        expected,
        rtol=rtol,
        atol=atol,
        msg=lambda m: f"{name}{'' if where is None else f' ({where})'}: {m}\n{HINT}",
    )


@pytest.fixture(scope="module")
def rollouts():
    return regen.expert_rollouts(), load_file(str(regen.ROLLOUTS_PATH))


def test_golden_pairs_cover_the_registry(rollouts):
    from e2edrive.sim.scenarios import SCENARIOS

    _, gold = rollouts
    assert len(regen.golden_pairs()) == len(SCENARIOS) * len(regen.GOLDEN_SEEDS) == len(gold["length"]), (
        f"the scenario registry changed since the golden rollouts were made. {HINT}"
    )


def test_expert_rollouts_match_golden(rollouts):
    new, gold = rollouts
    pairs = regen.golden_pairs()
    _close("length", new["length"], gold["length"], 0.0)
    assert new["pose"].shape == gold["pose"].shape, HINT
    # Per episode, so that a failure names the scenario and seed that moved.
    for e, (scenario, seed) in enumerate(pairs):
        where = f"{scenario} seed {seed}"
        _close("pose", new["pose"][e], gold["pose"][e], POSE_ATOL, where)
        _close("action", new["action"][e], gold["action"][e], ACTION_ATOL, where)
        for key in ("reason", "collision", "off_road", "red_light_run"):
            _close(key, new[key][e], gold[key][e], 0.0, where)
        _close("ttc", new["ttc"][e], gold["ttc"][e], 1e-3, where)
    for key in ("passed", "n_collisions", "red_light_runs"):
        _close(key, new[key], gold[key], 0.0)
    _close("route_completion", new["route_completion"], gold["route_completion"], 1e-4)
    _close("driving_score", new["driving_score"], gold["driving_score"], 1e-2)  # in [0, 100]


def test_tiny_model_outputs_match_golden():
    gold = load_file(str(regen.TINY_PATH))
    clip = {k.removeprefix("clip."): v for k, v in gold.items() if k.startswith("clip.")}
    new = regen.tiny_outputs(clip)
    for key, value in new.items():
        _close(key, value, gold[key], MODEL_ATOL)
