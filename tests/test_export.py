"""ONNX export of the streaming step: state flattening, torch vs ONNX Runtime parity, the CLI verb."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest
import torch

from e2edrive.core.constants import MAX_STEER, MIN_ACCEL
from e2edrive.core.rig import make_rig
from e2edrive.model.dave2 import Dave2
from e2edrive.model.ego_mlp import EgoMLP
from e2edrive.model.export import (
    OBS_INPUTS,
    OUTPUTS,
    ActAdapter,
    adapter_inputs,
    example_observation,
    export_onnx,
    flatten_state,
    onnx_parity,
    ort_feed,
    ort_session,
    unflatten_state,
)

pytest.importorskip("onnxruntime")
pytest.importorskip("onnxscript")

RIG = make_rig()


@dataclass
class Memory:
    h: torch.Tensor
    extra: dict
    steps: int = 0


def test_state_flatten_roundtrip():
    a, b, c, d = (torch.full((2, k), float(k)) for k in range(1, 5))
    state = (Memory(a, {"x": b, "y": [c, None]}, steps=3), d)
    flat, spec = flatten_state(state)
    assert [t.shape[1] for t in flat] == [1, 2, 3, 4]  # depth-first, fields in declaration order
    back = unflatten_state(flat, spec)
    assert isinstance(back, tuple) and isinstance(back[0], Memory) and back[0].steps == 3
    assert back[0].h is a and back[0].extra["x"] is b and back[0].extra["y"] == [c, None] and back[1] is d
    assert flatten_state(None) == ([], None)


def test_state_of_unknown_type_is_refused():
    with pytest.raises(TypeError, match="cannot export a state of type set"):
        flatten_state({1, 2})


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """Each baseline exported once, with fixed weights."""
    out = {}
    for cls in (Dave2, EgoMLP):
        torch.manual_seed(0)
        model = cls().eval()
        path = tmp_path_factory.mktemp("onnx") / f"{model.name}.onnx"
        out[model.name] = (model, export_onnx(model, RIG, path))
    return out


@pytest.mark.parametrize("name", ["dave2", "ego_mlp"])
def test_baseline_onnx_parity(exported, name):
    model, path = exported[name]
    # traced at batch 2, run at batch 3 (dynamic batch), two steps with the state fed back
    assert onnx_parity(model, RIG, path, batch=3, steps=2) < 1e-4
    names = [i.name for i in ort_session(path).get_outputs()]
    assert names[:3] == list(OUTPUTS)
    assert len(names) == 3 + (1 if name == "ego_mlp" else 0)  # ego_mlp carries its history


def test_exported_graph_clips_actions_like_act(tmp_path):
    model = Dave2().eval()
    with torch.no_grad():
        model.head.linear.bias[:2] = torch.tensor([100.0, -100.0])  # steer far left, brake far too hard
        model.head.linear.weight[:2] = 0.0
    path = export_onnx(model, RIG, tmp_path / "clip.onnx")
    adapter = ActAdapter.build(model, RIG, 2)
    inputs = adapter_inputs(adapter, example_observation(RIG, 2))
    session = ort_session(path)
    action = session.run(["action"], ort_feed(session, inputs, list(OBS_INPUTS)))[0]
    np.testing.assert_allclose(action, [[MAX_STEER, MIN_ACCEL]] * 2)


def tiny_model(rig):
    from e2edrive.model.config import make_config
    from e2edrive.model.driving_model import DrivingModel

    torch.manual_seed(0)
    return DrivingModel(make_config("tiny", rig=rig)).eval()


def test_tiny_driving_model_onnx_parity_small_rig(tmp_path):
    """The full network on a 3-camera 32x64 rig (same graph, smaller tensors: a fast check)."""
    pytest.importorskip("e2edrive.model.driving_model", reason="the full DrivingModel is not in the tree yet")
    rig = make_rig(32, 64, names=("front_main", "front_left", "rear_main"))
    model = tiny_model(rig)
    path = export_onnx(model, rig, tmp_path / "tiny.onnx")
    assert onnx_parity(model, rig, path, batch=2, steps=3) < 1e-4


@pytest.mark.slow
def test_tiny_driving_model_onnx_parity_default_rig(tmp_path):
    pytest.importorskip("e2edrive.model.driving_model", reason="the full DrivingModel is not in the tree yet")
    model = tiny_model(RIG)
    path = export_onnx(model, RIG, tmp_path / "tiny.onnx")
    assert onnx_parity(model, RIG, path, batch=3, steps=3) < 1e-4


def test_export_verb_writes_a_checked_graph(tmp_path, capsys):
    from e2edrive.commands.export import main
    from e2edrive.model.checkpoint import save_checkpoint

    torch.manual_seed(0)
    save_checkpoint(EgoMLP(), tmp_path / "ckpt")
    assert main(["--checkpoint", str(tmp_path / "ckpt"), "--onnx", str(tmp_path / "ego.onnx")]) == 0
    assert (tmp_path / "ego.onnx").stat().st_size > 2_000_000  # 570k float32 parameters, 2.3 MB
    assert "ok" in capsys.readouterr().out


def test_export_verb_reports_a_missing_checkpoint(tmp_path, capsys):
    from e2edrive.commands.export import main

    assert main(["--checkpoint", str(tmp_path / "nothing"), "--onnx", str(tmp_path / "x.onnx")]) == 1
    assert "config.json is missing" in capsys.readouterr().err
    assert not (tmp_path / "x.onnx").exists()


def test_latency_bench_writes_its_table(tmp_path):
    """`python -m bench.latency` from the repository root, as a user runs it (bench/ is not installed)."""
    import json
    import subprocess
    import sys
    from pathlib import Path

    out = tmp_path / "latency.json"
    argv = [
        "--models",
        "ego_mlp",
        "--cost-models",
        "ego_mlp",
        "--backends",
        "eager",
        "onnxruntime",
        "--steps",
        "5",
        "--warmup",
        "1",
        "--threads",
        "1",
        "--out",
        str(out),
    ]
    root = Path(__file__).resolve().parents[1]
    cmd = [sys.executable, "-m", "bench.latency", *argv]
    run = subprocess.run(cmd, cwd=root, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-2000:]
    assert "| ego_mlp |" in run.stdout
    report = json.loads(out.read_text())
    assert [(r["backend"], r["steps"]) for r in report["latency"]] == [("eager", 5), ("onnxruntime", 5)]
    assert all(0 < r["p50_ms"] <= r["p90_ms"] for r in report["latency"])
    # (4 frames x 7 + 25 nav) -> 512 -> 512 -> 512 -> 33, weights and biases
    n_in = 4 * 7 + 25
    assert report["cost"][0]["params"] == n_in * 512 + 512 + 2 * (512 * 512 + 512) + 512 * 33 + 33
