"""A trained network drives through `e2edrive drive`: --checkpoint (PyTorch) and --onnx (ONNX
Runtime) score the same closed loop within float tolerance, with the same --json and --video."""

import json
import math

import pytest
import torch

from e2edrive.cli import main as cli_main
from e2edrive.core.rig import make_rig

pytest.importorskip("onnxruntime")
pytest.importorskip("onnxscript")

PAIRS = [("lane_follow", 0), ("cut_in", 1)]


def assert_same_results(a: list[dict], b: list[dict], rel: float = 1e-4) -> None:
    """Episode dicts equal: exact for counts and flags, within `rel` for floats (the two runtimes
    sum in different orders, so actions differ in the last bits and positions drift by as much)."""
    assert len(a) == len(b)
    for x, y in zip(a, b):
        assert x.keys() == y.keys()
        for k in x:
            if isinstance(x[k], float) and isinstance(y[k], float):
                assert math.isclose(x[k], y[k], rel_tol=rel, abs_tol=1e-5), (x["scenario"], k, x[k], y[k])
            else:
                assert x[k] == y[k], (x["scenario"], k)


@pytest.fixture(scope="module")
def dave2(tmp_path_factory):
    """An untrained, seeded DAVE-2 (reads front_main) as a checkpoint and as its ONNX graph."""
    from e2edrive.model.checkpoint import save_checkpoint
    from e2edrive.model.dave2 import Dave2
    from e2edrive.model.export import export_onnx

    root = tmp_path_factory.mktemp("dave2")
    torch.manual_seed(0)
    model = Dave2().eval()
    save_checkpoint(model, root / "run" / "checkpoint")
    return root / "run", export_onnx(model, make_rig(), root / "dave2.onnx")


def _drive_json(capsys, *argv) -> dict:
    seeds = ["--scenario", "lane_follow,cut_in", "--seeds", "0:2", "--max-steps", "8"]
    assert cli_main(["drive", *map(str, argv), *seeds, "--json", "--num-envs", "4", "--threads", "1"]) == 0
    return json.loads(capsys.readouterr().out)


def test_drive_checkpoint_and_onnx_print_the_same_json(dave2, capsys, tmp_path):
    run, onnx_path = dave2
    video = tmp_path / "dave2.mp4"
    torch_run = _drive_json(capsys, "--checkpoint", run, "--video", video, "--video-frames", "4")
    onnx_run = _drive_json(capsys, "--onnx", onnx_path)
    assert set(torch_run) == {"episodes", "summary"}  # the schema of `eval --json`
    assert len(torch_run["episodes"]) == 4 and all(e["steps"] <= 8 for e in torch_run["episodes"])
    assert_same_results(torch_run["episodes"], onnx_run["episodes"])
    av = pytest.importorskip("av")
    with av.open(str(video)) as f:
        frames = list(f.decode(video=0))
    assert len(frames) == 4 and (frames[0].width, frames[0].height) == (4 * 128 * 2 + 320, 320)


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--checkpoint", "x", "--onnx", "y.onnx"], "give one of --driver, --checkpoint, --onnx"),
        (["--onnx", "/nonexistent/m.onnx"], "no ONNX graph at /nonexistent/m.onnx"),
        (["--checkpoint", "/nonexistent/run"], "no checkpoint at /nonexistent/run"),
    ],
)
def test_bad_network_arguments(capsys, extra, message):
    assert cli_main(["drive", "--scenario", "lane_follow", "--seeds", "0:1", *extra]) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1


@pytest.mark.slow  # the dynamo export of the full network takes 16-35 s on one core
def test_tiny_driving_model_scores_equal_through_onnx(tmp_path):
    """The full network (BEV, temporal memory fed back through the graph's state) on a 3-camera
    32 x 64 rig: closed-loop results of PyTorch and ONNX Runtime agree on 2 short episodes."""
    from e2edrive.commands.drive import run_episodes
    from e2edrive.eval.drivers import PolicyDriver, load_policy
    from e2edrive.eval.onnx_driver import OnnxDriver
    from e2edrive.model.checkpoint import save_checkpoint
    from e2edrive.model.config import make_config
    from e2edrive.model.driving_model import DrivingModel
    from e2edrive.model.export import export_onnx

    rig = make_rig(32, 64, names=("front_main", "front_left", "rear_main"))
    torch.manual_seed(0)
    model = DrivingModel(make_config("tiny", rig=rig)).eval()
    save_checkpoint(model, tmp_path / "ckpt")
    path = export_onnx(model, rig, tmp_path / "tiny.onnx")
    drivers = (PolicyDriver(load_policy(tmp_path / "ckpt", rig=rig)), OnnxDriver(path, rig=rig, threads=1))
    a, b = (run_episodes(PAIRS, d, 2, "cpu", rig=rig, max_steps=20) for d in drivers)
    assert_same_results([r.to_dict() for r in a], [r.to_dict() for r in b])
    assert max(r.steps for r in a) == 20  # at least one episode ran to the cut
