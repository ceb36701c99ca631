"""The reliability table: every CLI verb given bad input exits with code 2 and one line on stderr,
without a traceback, before it drives, trains or writes anything, and without losing what was
already written. The list of what is checked is README.md's "Guarantees"."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest
import torch

from e2edrive.cli import main
from e2edrive.model.checkpoint import save_checkpoint
from e2edrive.model.ego_mlp import EgoMLP

ROOT = Path(__file__).resolve().parents[1]
SEEDS = ["--seeds", "1000000:1000001"]
NO_CUDA = pytest.mark.skipif(torch.cuda.is_available(), reason="checks the refusal on a machine without CUDA")


def refused(capsys, argv, match: str) -> str:
    """Run `e2edrive ARGV` in-process: exit 2, one stderr line containing `match`, no traceback."""
    code = main(argv)
    err = capsys.readouterr().err
    assert code == 2, err
    assert err.count("\n") == 1 and "Traceback" not in err, err
    assert match in err, err
    return err


@pytest.fixture(scope="module")
def ego(tmp_path_factory):
    torch.manual_seed(0)
    d = tmp_path_factory.mktemp("ckpt") / "ego"
    return save_checkpoint(EgoMLP(), d, extra={"train_seeds": {}, "train_config": {"history": 2}})


CASES = {
    "eval bad seeds": (["eval", "--driver", "expert", "--seeds", "x"], "seeds must be"),
    "eval checkpoint missing": (["eval", "--checkpoint", "/nonexistent/run"], "no checkpoint"),
    "eval bad fault": (["eval", "--driver", "expert", "--corrupt", "smoke:1"], "unknown fault"),
    "drive bad scenario": (["drive", "--scenario", "nope"], "unknown scenario"),
    "drive bad seeds": (["drive", "--seeds", "1:x"], "seeds must be"),
    "drive threads 0": (
        ["drive", "--threads", "0", "--scenario", "lane_follow", "--seeds", "0"],
        "--threads",
    ),
    "train batch size 0": (
        ["train", "--data", "synthetic:4", "--batch-size", "0"],
        "--batch-size must be >= 1",
    ),
    "train without data": (["train"], "give --data"),
    "train epochs 0": (["train", "--data", "synthetic:4", "--epochs", "0"], "--epochs must be >= 1"),
    "train negative seed": (["train", "--data", "synthetic:4", "--seed", "-1"], "--seed must be >= 0"),
    "quickstart negative seed": (["quickstart", "--seed", "-1", "--out", "/nonexistent/q"], "--seed must"),
    "robustness bad severity": (["robustness", "--checkpoint", "x", "--severities", "4"], "severities"),
}


@pytest.mark.parametrize("name", list(CASES))
def test_bad_arguments(capsys, tmp_path, name):
    argv, match = CASES[name]
    if argv[0] == "train":
        argv = [*argv, "--out", str(tmp_path / "run"), "--no-progress"]
    refused(capsys, argv, match)


@NO_CUDA
@pytest.mark.parametrize(
    "argv",
    [
        ["eval", "--driver", "expert", "--suite", "lane_follow", *SEEDS],
        ["drive", "--scenario", "lane_follow", "--seeds", "0"],
        ["train", "--data", "synthetic:4", "--no-progress"],
        ["robustness", "--checkpoint", "x"],
    ],
)
def test_cuda_without_a_gpu(capsys, tmp_path, argv):
    if argv[0] == "train":
        argv = [*argv, "--out", str(tmp_path / "run")]
    refused(capsys, [*argv, "--device", "cuda"], "no CUDA GPU is available")


@pytest.mark.parametrize(
    "argv", [["eval", "--num-envs", "abc"], ["drive", "--bogus"], ["scenarios", "--bogus"], ["robustness"]]
)
def test_malformed_arguments_are_parse_errors(capsys, argv):
    # tyro prints its usage box (several lines) and exits 2; never a traceback.
    with pytest.raises(SystemExit) as e:
        main(argv)
    assert e.value.code == 2 and "Traceback" not in capsys.readouterr().err


def test_truncated_weights_are_refused_and_kept(capsys, tmp_path, ego):
    import shutil

    bad = tmp_path / "bad"
    shutil.copytree(ego, bad)
    w = bad / "model.safetensors"
    w.write_bytes(w.read_bytes()[:100])
    refused(
        capsys, ["eval", "--checkpoint", str(bad), "--driver", "ego_only", *SEEDS], "truncated or corrupt"
    )
    assert w.stat().st_size == 100  # evidence kept


def test_collect_out_naming_a_regular_file(capsys, tmp_path):
    f = tmp_path / "notes.txt"
    f.write_text("keep me")
    refused(capsys, ["collect", "--out", str(f), "--scenario", "lane_follow", "--seeds", "0"], "exists")
    assert f.read_text() == "keep me"


def test_video_in_a_missing_or_unwritable_folder_fails_before_driving(capsys, tmp_path):
    argv = ["drive", "--scenario", "lane_follow", "--seeds", "0:50", "--num-envs", "1"]
    refused(capsys, [*argv, "--video", str(tmp_path / "missing" / "x.mp4")], "does not exist")
    if os.geteuid() != 0:  # root writes anywhere
        ro = tmp_path / "ro"
        ro.mkdir()
        ro.chmod(0o500)
        try:
            code = main([*argv, "--video", str(ro / "x.mp4")])
            assert code == 2 and "Traceback" not in capsys.readouterr().err
        finally:
            ro.chmod(0o700)


def test_json_into_a_closed_pipe_exits_quietly():
    cmd = (
        f"{sys.executable} -m e2edrive.cli drive --json --scenario lane_follow --seeds 0 --num-envs 1 "
        "| head -c 10; exit ${PIPESTATUS[0]}"
    )
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    p = subprocess.run(["bash", "-c", cmd], cwd=ROOT, capture_output=True, text=True, env=env, timeout=120)
    assert p.returncode == 0 and len(p.stdout) == 10, p.stderr
    assert "Traceback" not in p.stderr and "BrokenPipe" not in p.stderr, p.stderr


def _frame(model_rig):
    from e2edrive.sim.world import World

    world = World(["lane_follow"], [1_000_000], rig=model_rig)
    images = torch.zeros(1, model_rig.num_cameras, 3, model_rig.height, model_rig.width, dtype=torch.uint8)
    return world.observation(images=images)


@pytest.mark.parametrize("name", ["driving", "dave2"])
def test_the_network_refuses_nan_float_and_wrong_size_frames(name):
    from e2edrive.model.registry import get_model_class

    torch.manual_seed(0)
    model = get_model_class(name)().eval()
    rig = getattr(model.config, "rig", None)
    if rig is None:
        from e2edrive.core.rig import make_rig

        rig = make_rig()
    obs = _frame(rig)
    model.act(obs)  # the clean frame is fine
    nan = obs.images.float()
    nan[0, 0, 0, 3, 3] = float("nan")
    with pytest.raises(ValueError, match="NaN"):
        model.act(replace(obs, images=nan))
    with pytest.raises(ValueError, match="uint8"):
        model.act(replace(obs, images=obs.images.float()))
    with pytest.raises(ValueError, match="images are 32x64"):
        model.act(replace(obs, images=obs.images[..., :32, :64]))


def _train_argv(out):
    return ["train", "--data", "synthetic:16", "--model", "probe", "--epochs", "1", "--batch-size", "8"] + [
        "--out",
        str(out),
        "--no-progress",
    ]


def test_a_second_train_into_the_same_out_refuses(capsys, tmp_path):
    out = tmp_path / "run"
    out.mkdir()
    holder = subprocess.Popen(["sleep", "30"])  # a live process standing for the first trainer
    try:
        (out / ".train.lock").write_text(str(holder.pid))
        refused(capsys, _train_argv(out), "being trained by another process")
        assert (out / ".train.lock").read_text() == str(holder.pid)  # the first run's lock untouched
    finally:
        holder.kill()
        holder.wait()
    # the holder is gone: its lock is stale and the next run takes it over
    assert main(_train_argv(out)) == 0
    assert not (out / ".train.lock").exists()


def test_resume_cleans_the_temp_checkpoint_a_kill_left(capsys, tmp_path):
    out = tmp_path / "run"
    assert main(_train_argv(out)) == 0
    before = (out / "checkpoint" / "trainer_state.pt").read_bytes()
    tmp = out / ".checkpoint.tmp-999999"  # what SIGKILL between mkdir and rename leaves
    tmp.mkdir()
    (tmp / "model.safetensors").write_bytes(b"half")
    assert main([*_train_argv(out), "--resume"]) == 0
    assert not tmp.exists()
    assert (out / "checkpoint" / "trainer_state.pt").read_bytes() == before  # all epochs done: kept as is
