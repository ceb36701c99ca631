"""The collect loop: every (scenario, seed) job recorded exactly once, with its own length, while
environments finish at different steps and restart on the next job."""

from types import SimpleNamespace

import pytest
import torch

import e2edrive.commands.collect as collect_cmd
from e2edrive.core.constants import MAX_STEER
from e2edrive.core.rig import make_rig
from e2edrive.core.types import Action
from e2edrive.data.dataset import DrivingDataset
from e2edrive.data.format import INFRACTIONS
from e2edrive.data.synthetic import synthetic_step

RIG = make_rig(16, 32)


def _length(seed: int) -> int:
    return 2 + seed % 3  # episodes of 2, 3 and 4 steps: environments finish out of step


class FakeWorld:
    """Stands in for sim.world.World (same calls as the loop makes); frames from data.synthetic."""

    def __init__(self, scenarios, seeds, device="cpu", rig=None):
        self.jobs = list(zip(scenarios, seeds))
        self.t = [0] * len(seeds)
        self.rig = rig
        self.ego = SimpleNamespace(
            pose=lambda: torch.tensor([[float(s), float(t), 0.0] for (_, s), t in zip(self.jobs, self.t)])
        )

    def scene(self):
        return None

    def observation(self, images):
        obs, self._labels, _, _ = synthetic_step([s for _, s in self.jobs], self.t, RIG)
        obs.first = torch.tensor([t == 0 for t in self.t])
        return obs

    def expert(self):
        return SimpleNamespace(action=Action.from_tensor(self._labels.expert_action))

    def step(self, action):
        self.last_action = action
        self.t = [t + 1 for t in self.t]
        done = torch.tensor([t >= _length(s) for (_, s), t in zip(self.jobs, self.t)])
        infr = SimpleNamespace(**{k: torch.zeros(len(self.t), dtype=torch.bool) for k in INFRACTIONS})
        infr.ttc = torch.full((len(self.t),), float("inf"))
        return SimpleNamespace(done=done, infractions=infr)

    def episode_results(self):
        return [SimpleNamespace(to_dict=lambda s=s: {"passed": s % 2 == 0, "seed": s}) for _, s in self.jobs]

    def reset_envs(self, idx, pairs):
        for i, pair in zip(idx, pairs):
            self.jobs[i], self.t[i] = pair, 0


@pytest.fixture
def fake_sim(monkeypatch):
    import e2edrive.sim.render.renderer as renderer_mod
    import e2edrive.sim.world as world_mod

    worlds = []

    def make_world(*a, **k):
        worlds.append(FakeWorld(*a, **k))
        return worlds[-1]

    monkeypatch.setattr(world_mod, "World", make_world)
    monkeypatch.setattr(
        renderer_mod,
        "Renderer",
        lambda rig, device: SimpleNamespace(render=lambda scene: SimpleNamespace(rgb=None)),
    )
    monkeypatch.setattr(collect_cmd, "_frame_labels", lambda scene, render, expert: worlds[-1]._labels)
    return worlds


def test_collect_records_every_job_once(tmp_path, fake_sim):
    cfg = collect_cmd.CollectConfig(
        out=str(tmp_path / "ds"), scenario="lane_follow,cut_in", seeds="0:4", num_envs=3, height=16, width=32
    )
    summary = collect_cmd.collect(cfg)
    jobs = [(n, s) for s in range(4) for n in ("lane_follow", "cut_in")]
    assert summary["episodes"] == 8 and summary["frames"] == sum(_length(s) for _, s in jobs)
    ds = DrivingDataset(tmp_path / "ds", history=1)
    table = ds.index.to_pylist()
    got = {}
    for r in table:
        got.setdefault((r["scenario"], r["seed"]), []).append(r["t"])
    assert sorted(got) == sorted(jobs)
    for (_, seed), ts in got.items():
        assert ts == list(range(_length(seed)))
    assert all(r["ego_x"] == r["seed"] and r["ego_y"] == r["t"] for r in table)  # frames belong to their job
    for r in table:
        assert r["tags"] == ["driver=expert", "noise=0.0", "noise_accel=0.0", f"passed={r['seed'] % 2 == 0}"]
        assert ds.episode_info[r["episode"]] == {"passed": r["seed"] % 2 == 0, "seed": r["seed"]}
    assert summary["passed"] == 4


def test_bad_arguments_give_clear_errors(tmp_path, capsys):
    assert collect_cmd.main(["--out", str(tmp_path), "--scenario", "nope"]) == 2
    assert "unknown scenario 'nope'" in capsys.readouterr().err
    assert collect_cmd.main(["--out", str(tmp_path), "--scenario", "cut_in", "--seeds", "5:5"]) == 2
    assert "empty seed range" in capsys.readouterr().err


def test_collect_command_with_the_real_world(tmp_path, capsys):
    """World + renderer + expert + labels end to end, on tiny images and 3-step episodes."""
    out = tmp_path / "ds"
    argv = [
        "--out",
        str(out),
        "--scenario",
        "lane_follow,cut_in",
        "--seeds",
        "0:2",
        "--num-envs",
        "3",
        "--height",
        "16",
        "--width",
        "32",
        "--max-steps",
        "3",
        "--noise",
        "0.05",
    ]
    assert collect_cmd.main(argv) == 0
    assert "12 frames" in capsys.readouterr().out
    ds = DrivingDataset(out, history=2)
    assert len(ds) == 12 and ds.meta["created"]["noise"] == 0.05
    info = ds.episode_info[ds.episodes[0]]  # sim.metrics.EpisodeResult.to_dict() of the drive
    assert info["steps"] == 3 and 0 <= info["route_completion"] < 1 and "driving_score" in info
    rows = ds.index.to_pylist()
    assert sorted({(r["scenario"], r["seed"]) for r in rows}) == [
        ("cut_in", 0),
        ("cut_in", 1),
        ("lane_follow", 0),
        ("lane_follow", 1),
    ]
    assert all(r["expert_reason_text"] for r in rows) and all(r["speed"] > 0 for r in rows)
    # the expert's label is clean, the executed action carries the noise; both are recorded
    assert all(abs(r["action_steer"]) <= MAX_STEER for r in rows)
    clip = ds[0]
    assert clip.obs.images.shape == (1, 2, 8, 3, 16, 32) and clip.obs.images.float().std() > 0
    assert clip.labels.depth.shape == (1, 8, 16, 32) and (clip.labels.depth > 0).all()
