"""Rollouts beyond one process: `collect --ray` and `eval --ray` split the (scenario, seed) jobs
over Ray tasks, each simulating its share in batched environments.

    e2edrive collect --scenario all --seeds 0:100 --out runs/data --ray local --workers 2
    e2edrive eval --driver expert --suite basic --ray HOST:6379 --workers 8 --json

Shares are round-robin slices of the job list, so each worker gets a mix of scenarios. An episode
is a function of its (scenario, seed), whichever worker runs it, so the results are those of a
plain run: collect records the same episodes (under other ids), eval returns the same
EpisodeResults, put back in the order of the pairs.

Collect: worker w records with `Recorder(worker=w)` straight into --out (per-worker lock, temp
files and episode-id span: data/FORMAT.md, "Several writers"). A worker that dies (killed, node
lost) loses at most the episode it was recording: the driver reads back from the index which of
that share's pairs were committed and runs the rest again as a new task with the same writer id
(which also removes the dead worker's temp files). Eval keeps no partial state, so a failed share
runs again whole. A Python error inside a task is a bug or bad input, not a crash: it is raised
as is, without retries.
"""

from __future__ import annotations

import os
import socket
import time
from pathlib import Path

MAX_ATTEMPTS = 3  # tasks per share: the first run and two retries after worker crashes


def connect(address: str, workers: int) -> bool:
    """Join (or start) Ray; True if this call started it (the caller shuts it down).

    address: 'local' starts a Ray on this machine with room for `workers` tasks (or reuses the one
    this process already runs), 'auto' joins the cluster RAY_ADDRESS or `ray start` names, HOST:PORT
    a cluster's head (GCS port, 6379 by default), ray://HOST:PORT through Ray Client."""
    try:
        import ray
    except ImportError:
        raise ValueError("--ray needs Ray: pip install 'e2edrive[ray]'") from None
    if ray.is_initialized():
        return False
    if address != "local" and address != "auto":
        _check_reachable(address)
    try:
        if address == "local":
            ray.init(num_cpus=max(workers, os.cpu_count() or 1), include_dashboard=False)
        else:
            ray.init(address=address)
    except (ConnectionError, RuntimeError, ValueError) as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise ValueError(f"--ray {address}: cannot connect to Ray ({first})") from None
    return True


def _check_reachable(address: str, timeout_s: float = 3.0) -> None:
    """Fail in seconds, with one line, where ray.init would retry for a minute."""
    hostport = address.removeprefix("ray://")
    host, sep, port = hostport.rpartition(":")
    if not sep or not host or not port.isdigit():
        raise ValueError(f"--ray {address}: expected 'local', 'auto', HOST:PORT or ray://HOST:PORT")
    try:
        socket.create_connection((host, int(port)), timeout=timeout_s).close()
    except OSError as e:
        raise ValueError(f"--ray {address}: no Ray cluster reachable there ({e.strerror or e})") from None


def split(jobs: list, workers: int) -> list[list]:
    """Round-robin shares (scenarios are interleaved in job lists, so every share gets a mix)."""
    if workers < 1:
        raise ValueError(f"--workers must be >= 1, got {workers}")
    return [s for s in (jobs[w::workers] for w in range(workers)) if s]


def _is_crash(err: Exception) -> bool:
    """A lost worker process or node (retry) rather than an exception raised by our code (raise)."""
    import ray.exceptions as rex

    names = ("WorkerCrashedError", "NodeDiedError", "ObjectLostError", "OwnerDiedError")
    names += ("LocalRayletDiedError",)
    crash = tuple(getattr(rex, n) for n in names if hasattr(rex, n))
    return isinstance(err, crash) and not isinstance(err, rex.RayTaskError)


def _task_error(err: Exception) -> Exception:
    """The exception the task itself raised (its one-line message), else Ray's."""
    cause = getattr(err, "cause", None)
    return cause if isinstance(cause, Exception) else RuntimeError(str(err).strip().splitlines()[0])


def _run_shares(submit, shares: dict[int, list], on_crash) -> dict[int, object]:
    """Run one task per share; after a crash, on_crash(w) gives what is left of share w (rerun
    if not empty). Returns each share's last successful result."""
    import ray

    attempts = dict.fromkeys(shares, 1)
    running = {submit(w, share): w for w, share in shares.items()}
    results = {}
    while running:
        done, _ = ray.wait(list(running), num_returns=1)
        w = running.pop(done[0])
        try:
            results[w] = ray.get(done[0])
        except Exception as e:  # noqa: BLE001 - classified below
            if not _is_crash(e):
                raise _task_error(e) from None
            left = on_crash(w)
            if not left:
                continue
            if attempts[w] >= MAX_ATTEMPTS:
                n = len(left)
                raise RuntimeError(f"Ray worker {w} crashed {attempts[w]} times; {n} jobs left") from None
            attempts[w] += 1
            running[submit(w, left)] = w
    return results


# ------------------------------------------------------------------------------------ collect
def _collect_share(cfg, jobs, worker: int, command: str) -> dict:
    from e2edrive.commands.collect import collect

    return collect(cfg, command, jobs=jobs, worker=worker, progress=False)


def _committed(root: Path, worker: int, before: set[str]) -> dict[tuple[str, int], tuple[int, bool]]:
    """(scenario, seed) -> (frames, passed) of the episodes worker `worker` committed in this run."""
    import pyarrow.parquet as pq

    from e2edrive.data.dataset import index_parts
    from e2edrive.data.writers import worker_id_range

    span, out = worker_id_range(worker), {}
    for p in index_parts(root):
        if p.name in before or not p.stem.isdigit() or int(p.stem) not in span:
            continue
        f = pq.ParquetFile(p)
        head = f.read_row_group(0, columns=["scenario", "seed", "tags"]).slice(0, 1).to_pylist()[0]
        out[(head["scenario"], int(head["seed"]))] = (f.metadata.num_rows, "passed=True" in head["tags"])
    return out


def collect_on_ray(cfg, command: str = "") -> dict:
    """`collect` with cfg.ray / cfg.workers: the summary counts what the index holds at the end."""
    from e2edrive.commands.collect import _jobs, check_config, creation_info
    from e2edrive.core.rig import make_rig
    from e2edrive.data.dataset import index_parts
    from e2edrive.data.recorder import Recorder

    check_config(cfg)
    shares = dict(enumerate(split(_jobs(cfg), cfg.workers)))
    root = Path(cfg.out)
    started = connect(cfg.ray, cfg.workers)  # first: an unreachable cluster leaves no directory behind
    import ray

    t0 = time.perf_counter()
    gpus = 1 if cfg.device.startswith("cuda") else 0
    task = ray.remote(_collect_share).options(num_cpus=1, num_gpus=gpus, max_retries=0)
    crashes = 0
    before: set[str] = set()

    def left(w: int) -> list:
        nonlocal crashes
        crashes += 1
        done = _committed(root, w, before)
        return [j for j in shares[w] if j not in done]

    try:
        # meta.json is written once, here: workers then only append (and a wrong rig fails now)
        rig = make_rig(cfg.height, cfg.width)
        Recorder(root, rig, creation=creation_info(cfg, command), worker=0).close()
        before |= {p.name for p in index_parts(root)}
        _run_shares(lambda w, jobs: task.remote(cfg, jobs, w, command), shares, left)
    finally:
        if started:
            ray.shutdown()
    episodes = {k: v for w in shares for k, v in _committed(root, w, before).items()}
    return {
        "episodes": len(episodes),
        "passed": sum(passed for _, passed in episodes.values()),
        "frames": sum(frames for frames, _ in episodes.values()),
        "seconds": time.perf_counter() - t0,
        "crashes": crashes,
    }


# --------------------------------------------------------------------------------------- eval
def _eval_share(spec: dict, pairs: list, num_envs: int, device: str, faults: tuple[str, ...]) -> list:
    import torch

    from e2edrive.core.rig import make_rig
    from e2edrive.eval.drivers import make_driver
    from e2edrive.eval.runner import run_closed_loop
    from e2edrive.sim.faults import parse_faults

    torch.set_num_threads(1)  # one core per task: Ray schedules them by CPU
    rig = make_rig()
    driver = make_driver(spec["driver"], spec["checkpoint"], rig=rig, device=device)
    if spec["monitor"]:
        from e2edrive.eval.monitored import MonitoredDriver

        driver = MonitoredDriver(driver)
    return run_closed_loop(
        driver, pairs, num_envs, device, rig, progress=False, faults=parse_faults(list(faults))
    )


def eval_on_ray(
    spec: dict,
    pairs: list[tuple[str, int]],
    num_envs: int,
    device: str,
    faults: tuple[str, ...],
    address: str,
    workers: int,
) -> list:
    """EpisodeResults of `pairs` (in their order) driven by Ray tasks, each building its own driver
    from spec = {"driver", "checkpoint", "monitor"} (a checkpoint path every node can read)."""
    order = list(range(len(pairs)))
    shares = dict(enumerate(split(order, workers)))
    started = connect(address, workers)
    import ray

    gpus = 1 if device.startswith("cuda") else 0
    task = ray.remote(_eval_share).options(num_cpus=1, num_gpus=gpus, max_retries=0)

    def submit(w: int, idx: list) -> object:
        return task.remote(spec, [pairs[i] for i in idx], num_envs, device, faults)

    try:
        by_share = _run_shares(submit, shares, lambda w: shares[w])  # nothing is kept of a crashed share
    finally:
        if started:
            ray.shutdown()
    results = [None] * len(pairs)
    for w, share_results in by_share.items():
        for i, r in zip(shares[w], share_results):
            results[i] = r
    return results
