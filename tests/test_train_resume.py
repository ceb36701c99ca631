"""Exact resume: a run killed at a random step and resumed ends with the same parameters, bit for bit
(on CPU), as a run that was never stopped."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from e2edrive.core.rig import make_rig
from e2edrive.train.checkpoint import find_checkpoint, load_model_weights, load_trainer_state
from e2edrive.train.config import TrainConfig
from e2edrive.train.loop import train
from e2edrive.train.synthetic import ProbePolicy, SyntheticClips

REPO = Path(__file__).resolve().parents[1]


class Killed(Exception):
    pass


def _cfg(out, **kw) -> TrainConfig:
    base = dict(
        data="synthetic:48",
        out=str(out),
        model="probe",
        epochs=3,
        batch_size=8,
        checkpoint_every=4,
        log_every=1,
        progress=False,
        lr=3e-3,
        warmup_steps=3,
        seed=5,
    )
    base.update(kw)
    return TrainConfig(**base)


def _small() -> SyntheticClips:
    """The probe reads only the mean pixel: 8x16 images keep the test fast."""
    return SyntheticClips(48, history=2, rig=make_rig(height=8, width=16), label_grids=False)


def _params(run) -> dict[str, torch.Tensor]:
    model = ProbePolicy()
    load_model_weights(model, find_checkpoint(run))
    return model.state_dict()


def _assert_bit_equal(a: dict, b: dict) -> None:
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), f"parameter {k} differs after resume"


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    out = tmp_path_factory.mktemp("ref") / "run"
    return out, train(_cfg(out), dataset=_small())


@pytest.mark.parametrize("kill_at", [random.Random(0).randint(5, 17), 12])
def test_resume_after_an_exception_at_step_k_is_bit_exact(tmp_path, kill_at, reference):
    """A random step (mid-epoch, after a mid-epoch checkpoint), and 12: an epoch boundary (6 steps/epoch)."""
    ref_run, reference = reference

    def die(step: int) -> None:
        if step == kill_at:
            raise Killed

    with pytest.raises(Killed):
        train(_cfg(tmp_path / "run"), dataset=_small(), on_step=die)
    saved = load_trainer_state(find_checkpoint(tmp_path / "run"))
    assert saved.step <= kill_at
    resumed = train(_cfg(tmp_path / "run", resume=True), dataset=_small())
    assert resumed.step == reference.step == 18
    _assert_bit_equal(_params(ref_run), _params(tmp_path / "run"))
    # the optimizer's moments match too (not only the weights)
    ref_opt = load_trainer_state(find_checkpoint(ref_run)).optimizer
    run_opt = load_trainer_state(find_checkpoint(tmp_path / "run")).optimizer
    for i, s in ref_opt["state"].items():
        assert torch.equal(s["exp_avg"], run_opt["state"][i]["exp_avg"])


@pytest.mark.slow  # three CLI processes: ~15 s
def test_resume_after_sigkill_of_the_cli_is_bit_exact(tmp_path):
    """A real process killed with SIGKILL at a random point after its first checkpoint."""
    args = [
        "--data",
        "synthetic:48",
        "--model",
        "probe",
        "--epochs",
        "3",
        "--batch-size",
        "8",
        "--checkpoint-every",
        "2",
        "--no-progress",
        "--seed",
        "5",
        "--lr",
        "0.003",
        "--warmup-steps",
        "3",
    ]
    cmd = [sys.executable, "-m", "e2edrive.cli", "train"]
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    subprocess.run(cmd + args + ["--out", str(tmp_path / "ref")], check=True, env=env, capture_output=True)
    proc = subprocess.Popen(
        cmd + args + ["--out", str(tmp_path / "run")],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.time() + 60
    while find_checkpoint(tmp_path / "run") is None and time.time() < deadline and proc.poll() is None:
        time.sleep(0.01)
    time.sleep(random.Random(1).uniform(0.0, 0.05))
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert find_checkpoint(tmp_path / "run") is not None, "the run ended before writing its first checkpoint"
    subprocess.run(
        cmd + args + ["--out", str(tmp_path / "run"), "--resume"], check=True, env=env, capture_output=True
    )
    _assert_bit_equal(_params(tmp_path / "ref"), _params(tmp_path / "run"))
