"""`torchrun --standalone --nproc_per_node=2` trains on CPU (gloo): both processes exit 0, rank 0 writes
one checkpoint holding both ranks' RNG states."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from e2edrive.train.checkpoint import find_checkpoint, load_trainer_state

REPO = Path(__file__).resolve().parents[1]


def test_torchrun_two_processes_on_cpu(tmp_path):
    torchrun = Path(sys.executable).with_name("torchrun")
    out = tmp_path / "run"
    cmd = [
        str(torchrun),
        "--standalone",
        "--nproc_per_node=2",
        "-m",
        "e2edrive.cli",
        "train",
        "--data",
        "synthetic:32",
        "--val-data",
        "synthetic:8",
        "--model",
        "probe",
        "--out",
        str(out),
        "--epochs",
        "2",
        "--batch-size",
        "4",
        "--no-progress",
        "--device",
        "cpu",
    ]
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-4000:]
    assert proc.stdout.count("trained 8 steps") == 1  # 32 clips / (4 x 2 ranks) x 2 epochs; rank 0 speaks
    state = load_trainer_state(find_checkpoint(out))
    assert state.step == 8 and state.epoch == 2
    assert len(state.rng) == 2  # both ranks' RNG, for an exact resume under torchrun
    assert state.config["batch_size"] == 4 and len(state.history) == 2
