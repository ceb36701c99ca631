"""The quickstart's data-engine round, one function per stage of the loop (a helper of the
`quickstart` verb, not a verb):

  drive   the policy drives fresh training seeds; the expert watches in shadow mode, takes over
          when the state is unsafe and labels every frame; each frame's StepRecord fires the
          triggers (commands.dagger.rollout_round, train.online.DaggerDriver)
  bank    the episodes the policy failed enter the failure bank with the checkpoint that failed
  mine    SQL over the grown dataset's trigger table: the clips cut in the policy's episodes
  train   the policy trains on, resumed, on every frame plus the mined clips repeated
          (data.mixture.PrioritizedClips): the engine's priority
  replay  the bank is re-driven with the new network: fixed / still failing / regressed
"""

from __future__ import annotations

import json
import time
from pathlib import Path

# The clips the triggers cut in the episodes the policy drove (every round so far): the engine's
# value is in the policy's own failures and disagreements; the expert's collected driving is
# already in the training set once.
MINE_SQL = (
    "SELECT t.episode, t.start_t, t.end_t, t.trigger, t.priority FROM triggers t WHERE t.episode IN "
    "(SELECT DISTINCT episode FROM frames WHERE list_contains(tags, 'driver=dagger'))"
)


def engine_round(args, recipe, say, out: Path, r: int, run: Path, data: Path, scenarios, train) -> dict:
    """One round; returns what it measured (frames, interventions, mined clips, replay table)."""
    marker = out / f".done-engine-{r}"
    if marker.exists():
        say(f"engine round {r}: done before, skipping")
        return json.loads((out / f"engine-{r}.json").read_text())
    driven = _drive_and_bank(args, recipe, say, out, r, run, data, scenarios)
    clips = _mine(data)
    say(f"engine round {r}: mined {len(clips)} triggered clips ({sum(c.frames for c in clips)} frames)")
    steps = recipe.steps["driving"] + (r + 1) * recipe.dagger_steps
    train("driving", data, steps, stage=f"engine-{r}", mined=clips)
    replay = _replay(args, run, out / "bank")
    say(f"engine round {r}: replay of the bank with the new network: {replay['totals']}")
    row = {
        "round": r,
        **driven,
        "mined_clips": len(clips),
        "mined_frames": sum(c.frames for c in clips),
        "mined_by_trigger": _count(clips),
        "replay": replay,
    }
    (out / f"engine-{r}.json").write_text(json.dumps(row, indent=1))
    marker.touch()
    return row


def _drive_and_bank(args, recipe, say, out: Path, r: int, run: Path, data: Path, scenarios) -> dict:
    """The round's drive, its episodes banked; what it measured is kept in engine-R-drive.json, so a
    restart after the drive (a crash while training) goes straight on to the training, which resumes
    from its last checkpoint, instead of driving again with a network trained further. A restart
    during the drive keeps the episodes recorded so far and drives only the others (their results
    are not in the bank: the bank holds what this process saw fail)."""
    done = out / f"engine-{r}-drive.json"
    if done.exists():
        driven = json.loads(done.read_text())
        say(f"engine round {r}: driven before a restart ({driven['episodes']} episodes), training resumes")
        return driven
    first = max(recipe.basic_seeds, recipe.corner_seeds) + r * recipe.dagger_seeds
    pairs = [(s, k) for s in scenarios for k in range(first, first + recipe.dagger_seeds)]
    todo = _not_recorded(data, pairs)
    say(f"engine round {r}: the policy drives {len(todo)} episodes (seeds {first}..), the expert watches")
    if len(todo) < len(pairs):
        say(f"engine round {r}: {len(pairs) - len(todo)} episodes recorded before a restart are kept")
    # the network that drives this round, kept whole (trainer state included): the bank names it,
    # and the engine-value experiment (bench.engine_value) continues it along other data
    before = _snapshot(run, out / "runs" / f"{run.name}-round{r}")
    stats, results = _drive(args, before, data, todo, r) if todo else ({"frames": 0, "interventions": 0}, [])
    from e2edrive.data.failure_bank import bank_results

    banked = bank_results(out / "bank", results, before / "checkpoint", "policy")
    passed = sum(x.passed for x in results)
    say(
        f"engine round {r}: {stats['frames']} frames, {stats['interventions']} takeovers, "
        f"{passed}/{len(results)} passed; {banked} failures banked"
    )
    driven = {"episodes": len(results), "passed": passed, **stats, "banked": banked}
    done.write_text(json.dumps(driven, indent=1))
    return driven


def _not_recorded(data: Path, pairs: list[tuple[str, int]]) -> list[tuple[str, int]]:
    """The (scenario, seed) pairs the policy has not driven into the dataset yet (episodes tagged
    driver=dagger: each round drives its own seeds, so those of this round's pairs are its own)."""
    import pyarrow.compute as pc

    from e2edrive.data.dataset import read_index
    from e2edrive.data.mining import tagged_episodes

    frames, _, _ = read_index(data)
    mine = frames.filter(pc.is_in(frames["episode"], value_set=tagged_episodes(frames, "driver=dagger")))
    driven = set(zip(mine["scenario"].to_pylist(), mine["seed"].to_pylist()))
    return [p for p in pairs if p not in driven]


def _snapshot(run: Path, dst: Path) -> Path:
    """Copy the run directory (checkpoint and trainer state) to dst, replacing an older copy."""
    import shutil

    if dst.exists():
        shutil.rmtree(dst)
    shutil.copytree(run, dst, ignore=shutil.ignore_patterns("tensorboard", "*.lock"))
    return dst


def _drive(args, run: Path, data: Path, pairs, r: int):
    import torch

    from e2edrive.commands.dagger import rollout_round
    from e2edrive.core.rig import make_rig
    from e2edrive.eval.drivers import load_policy
    from e2edrive.sim.render import Renderer
    from e2edrive.train.online import OnlineConfig

    rig = make_rig()
    cfg = OnlineConfig(num_envs=args.num_envs, device=args.device, max_episode_steps=args.max_episode_steps)
    policy = load_policy(run, rig=rig, device=args.device)
    gen = torch.Generator().manual_seed(r)
    return rollout_round(policy, data, pairs, 0.0, cfg, rig, Renderer(rig, args.device), gen, round_=r)


def _mine(data: Path):
    """MINE_SQL through DuckDB where the `mine` extra is installed, else the same selection with
    pyarrow (data.mining.tagged_episode_clips): the main job must not need an optional extra."""
    from e2edrive.data.mining import mine, tagged_episode_clips

    try:
        import duckdb  # noqa: F401
    except ImportError:
        return tagged_episode_clips(data, "driver=dagger")
    clips, _ = mine(data, MINE_SQL)
    return clips


def _count(clips) -> dict[str, int]:
    counts: dict[str, int] = {}
    for c in clips:
        counts[c.tag] = counts.get(c.tag, 0) + 1
    return dict(sorted(counts.items()))


def _replay(args, run: Path, bank: Path) -> dict:
    from e2edrive.core.rig import make_rig
    from e2edrive.data.failure_bank import FailureBank
    from e2edrive.eval.drivers import make_driver
    from e2edrive.eval.replay import replay_bank

    t0 = time.perf_counter()
    driver = make_driver("checkpoint", run, rig=make_rig(), device=args.device)
    report = replay_bank(
        FailureBank(bank),
        driver,
        args.num_envs,
        args.device,
        progress=False,
        max_steps=args.max_episode_steps,
    )
    return {**report.to_dict(), "table": report.table(), "seconds": time.perf_counter() - t0}


def prioritized_dataset(data: Path, history: int, clips, repeat: int):
    """The training set after a round: every frame once, the mined clips' frames `repeat` more times."""
    from e2edrive.data.dataset import DrivingDataset
    from e2edrive.data.mixture import PrioritizedClips

    base = DrivingDataset(data, history=history)
    mined = (
        DrivingDataset(data, history=history, clips=[(c.episode, c.start_t, c.end_t) for c in clips])
        if clips
        else None
    )
    return PrioritizedClips(base, mined, repeat)
