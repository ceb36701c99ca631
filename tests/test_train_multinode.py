"""Training across nodes, simulated on localhost: `torchrun --nnodes 2 --nproc_per_node 1` as two
processes (node ranks 0 and 1) trains, resumes, and ends with the weights of a one-node
`--nproc_per_node 2` run of the same global batch.

What makes that hold (train/ddp.py, train/loop.py): data is sharded by the global RANK
(DistributedSampler), the device and the thread share by LOCAL_RANK / LOCAL_WORLD_SIZE, only global
rank 0 writes checkpoints and logs, the checkpoint holds every rank's RNG state, and the time
budget's clock is the mean over ranks (nodes' clocks have different origins). The run directory
must be one every node reads (a shared filesystem): here both "nodes" share /tmp.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from e2edrive.train.checkpoint import find_checkpoint, load_trainer_state

REPO = Path(__file__).resolve().parents[1]
TORCHRUN = str(Path(sys.executable).with_name("torchrun"))
# --threads 1: the same intra-op threads in both layouts (float sums in the same order), and two
# cores are enough for two processes.
TRAIN = ["-m", "e2edrive.cli", "train", "--data", "synthetic:64", "--model", "probe", "--batch-size", "4"]
TRAIN += ["--no-progress", "--device", "cpu", "--threads", "1", "--time-limit-min", "30"]
ENV = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _two_nodes(out: Path, *extra: str) -> None:
    """Node 0 and node 1 of a 2-node job, one process each, started together."""
    port = str(_free_port())
    procs = []
    for node in (0, 1):
        cmd = [TORCHRUN, "--nnodes", "2", "--nproc_per_node", "1", "--node_rank", str(node)]
        cmd += ["--master_addr", "127.0.0.1", "--master_port", port, *TRAIN, "--out", str(out), *extra]
        procs.append(
            subprocess.Popen(cmd, env=ENV, cwd=out.parent, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        )
    logs = [p.communicate(timeout=300)[0].decode() for p in procs]
    for node, (p, log) in enumerate(zip(procs, logs)):
        assert p.returncode == 0, f"node {node}:\n{log[-3000:]}"
    assert sum(log.count("trained ") for log in logs) == 1  # global rank 0 alone speaks


def _one_node(out: Path, *extra: str) -> None:
    cmd = [TORCHRUN, "--standalone", "--nproc_per_node", "2", *TRAIN, "--out", str(out), *extra]
    proc = subprocess.run(cmd, env=ENV, cwd=out.parent, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]


def _weights(run: Path) -> dict[str, torch.Tensor]:
    from safetensors.torch import load_file

    ckpt = find_checkpoint(run)
    files = sorted(Path(ckpt).glob("*.safetensors"))
    assert files, f"no weights in {ckpt}"
    return {k: v for f in files for k, v in load_file(f).items()}


@pytest.mark.slow
def test_two_nodes_train_resume_and_match_one_node(tmp_path):
    multi, single = tmp_path / "multi", tmp_path / "single"
    _two_nodes(multi, "--epochs", "1")
    _one_node(single, "--epochs", "1")
    first = load_trainer_state(find_checkpoint(multi))
    assert first.step == 8 and len(first.rng) == 2  # 64 clips / (4 x 2 ranks); both ranks' RNG

    _two_nodes(multi, "--epochs", "2", "--resume")
    _one_node(single, "--epochs", "2", "--resume")
    a, b = load_trainer_state(find_checkpoint(multi)), load_trainer_state(find_checkpoint(single))
    assert a.step == b.step == 16 and a.epoch == b.epoch == 2
    wa, wb = _weights(multi), _weights(single)
    assert wa.keys() == wb.keys()
    for k in wa:
        torch.testing.assert_close(wa[k], wb[k], rtol=1e-5, atol=1e-6, msg=k)
