"""The world model: metrics, shapes, learning on a tiny batch, DreamEnv behind the BatchedEnv
contract, checkpoints, rig / context errors, the cut-in injection, and the two CLI verbs."""

from __future__ import annotations

import json
import math

import pytest
import torch

from e2edrive.core.env import BatchedEnv
from e2edrive.core.rig import make_rig
from e2edrive.core.types import Action
from e2edrive.eval.drivers import ConstantVelocityDriver
from e2edrive.worldmodel.config import WorldModelConfig, tiny
from e2edrive.worldmodel.context import AgentBoxes, WorldStart, world_context
from e2edrive.worldmodel.data import synthetic_window
from e2edrive.worldmodel.dream_env import DreamEnv, resample_route
from e2edrive.worldmodel.inject import InjectedAgents, cut_in_trajectory
from e2edrive.worldmodel.metrics import depth_abs_rel, miou, psnr
from e2edrive.worldmodel.model import WorldModel, load_worldmodel

SMALL_RIG = make_rig(16, 32)  # latent 2 x 4: fast enough for a test to render and learn


def _small_model(seed: int = 0) -> WorldModel:
    torch.manual_seed(seed)
    return WorldModel(tiny(SMALL_RIG)).eval()


# --- metrics, worked examples ----------------------------------------------------------------------


def test_psnr_worked_example():
    black, white = (
        torch.zeros(2, 3, 4, 4, dtype=torch.uint8),
        torch.full((2, 3, 4, 4), 255, dtype=torch.uint8),
    )
    assert psnr(black, white).item() == pytest.approx(0.0)  # MSE = 255^2
    one_off = black.clone()
    one_off[1] = 1  # camera 1: MSE 1 -> 20 log10(255) = 48.13 dB; camera 0 identical -> inf
    per_cam = psnr(black, one_off, keep=(0,))
    assert math.isinf(per_cam[0].item()) and per_cam[1].item() == pytest.approx(
        20 * math.log10(255), abs=1e-4
    )


def test_depth_abs_rel_worked_example():
    gt, pred = torch.tensor([1.0, 2.0, 0.0]), torch.tensor([1.5, 1.0, 7.0])
    assert depth_abs_rel(pred, gt).item() == pytest.approx((0.5 / 1 + 1.0 / 2) / 2)  # gt 0 is not counted


def test_miou_worked_example():
    gt, pred = torch.tensor([0, 0, 1, 1]), torch.tensor([0, 1, 1, 1])
    # class 0: 1 / 2, class 1: 2 / 3, class 2 absent from both (not counted)
    assert miou(pred, gt, num_classes=3).item() == pytest.approx((1 / 2 + 2 / 3) / 2)


# --- shapes and learning ---------------------------------------------------------------------------


def test_tokenizer_and_dynamics_shapes_at_the_default_rig():
    cfg = tiny()
    assert cfg.latent_hw == (8, 16) and cfg.patch_grid == (2, 4)
    model = WorldModel(cfg)
    w = synthetic_window(1, cfg.context + 1, make_rig())
    z = model.encode(w.images)
    assert z.shape == (1, cfg.context + 1, 8, 8, 8, 16) and z.abs().max() <= 1
    out = model.dynamics(
        z[:, : cfg.context],
        w.action[:, 0],
        w.odom[:, 0],
        w.speed[:, 0],
        w.boxes[:, 0],
        w.box_class[:, 0],
        w.box_valid[:, 0],
    )
    assert out.latent.shape == (1, 8, 8, 8, 16)
    assert out.box_motion.shape == (1, cfg.max_agents, 3) and out.box_keep_logit.shape == (1, cfg.max_agents)
    assert out.ego_motion.shape == (1, 4) and out.event_logits.shape == (1, 2)
    decoded = model.tokenizer.decode(out.latent[0])
    assert decoded.rgb.shape == (8, 3, 64, 128) and decoded.log_depth.shape == (8, 64, 128)
    assert decoded.semantics.shape == (8, cfg.num_semantics, 64, 128)


def test_a_few_steps_reduce_both_losses_on_a_tiny_batch():
    model = _small_model().train()
    cfg = model.cfg
    w = synthetic_window(2, cfg.context + cfg.unroll, SMALL_RIG, seed=1)
    for part, loss_fn in ((model.tokenizer, model.tokenizer_loss), (model.dynamics, model.dynamics_loss)):
        opt = torch.optim.AdamW(part.parameters(), lr=3e-3)
        losses = []
        for _ in range(25):
            kwargs = {"generator": torch.Generator().manual_seed(0)} if loss_fn == model.dynamics_loss else {}
            loss, _ = loss_fn(w, **kwargs)
            opt.zero_grad()
            loss.backward()
            opt.step()
            losses.append(loss.item())
        assert losses[-1] < 0.8 * losses[0], losses


# --- DreamEnv ---------------------------------------------------------------------------------------


def test_dream_env_conforms_and_runs_closed_loop_from_a_live_world():
    import e2edrive.eval.runner as runner

    model = _small_model()
    start = WorldStart(SMALL_RIG, model.cfg.context)
    env = DreamEnv(model, start, [("lane_follow", 0)])
    assert isinstance(env, BatchedEnv)
    obs = env.observation()
    assert obs.images.shape == (1, 8, 3, 16, 32) and obs.images.dtype == torch.uint8
    # whatever runs in the World runs in the dream: the same runner, another environment
    results = runner.run_closed_loop(
        ConstantVelocityDriver(),
        [("lane_follow", 0)],
        num_envs=1,
        progress=False,
        max_steps=3,
        make_env=lambda pairs, device, rig: DreamEnv(model, start, pairs),
    )
    assert results[0].steps == 3 and results[0].progress_m > 0 and results[0].scenario == "lane_follow"
    with pytest.raises(RuntimeError, match="privileged"):
        env.privileged()


def test_dream_env_agent_conditioned_streams_episodes():
    model = _small_model()
    env = DreamEnv(
        model,
        WorldStart(SMALL_RIG, model.cfg.context, agents=True),
        [("follow_lead", 0), ("cut_in", 1)],
        mode="agent_conditioned",
    )
    zero = torch.zeros(2)
    out = env.step(Action(zero, zero))
    assert out.done.shape == (2,) and env.box_valid[0].any()  # follow_lead's lead car comes from the World
    env.reset_envs([1], [("lane_follow", 2)])
    env.step(Action(zero, zero))
    assert env.scenarios == ["follow_lead", "lane_follow"] and env.steps.tolist() == [2, 1]
    assert len(env.episode_results()) == 2


def test_vehicle_ego_follows_the_world_beside_it_exactly():
    """ego="vehicle": the dream's ego pose is the simulator's under the same actions (a turning,
    braking command through the steering rate limit), while the untrained ego head's pose is not."""
    model = _small_model()
    start = WorldStart(SMALL_RIG, model.cfg.context, agents=True)
    env = DreamEnv(model, start, [("lane_follow", 0), ("cut_in", 1)], mode="agent_conditioned", ego="vehicle")
    learned = DreamEnv(model, WorldStart(SMALL_RIG, model.cfg.context), [("lane_follow", 0), ("cut_in", 1)])
    action = Action(torch.tensor([0.3, -0.2]), torch.tensor([-2.0, 1.0]))
    for _ in range(5):
        env.step(action)  # steps the World beside it (the agent source) with the same action
        learned.step(action)
    world = start.worlds[-1]
    torch.testing.assert_close(env.ego_pose, world.ego.pose(), atol=1e-4, rtol=0)
    torch.testing.assert_close(env.speed, world.ego.speed, atol=1e-5, rtol=0)
    torch.testing.assert_close(env.steer, world.ego.steer, atol=1e-6, rtol=0)
    assert (learned.ego_pose - world.ego.pose())[:, 2].abs().max() > 1e-3
    with pytest.raises(ValueError, match="ego must be"):
        DreamEnv(model, WorldStart(SMALL_RIG, model.cfg.context), [("lane_follow", 0)], ego="exact")


def test_agent_conditioned_dream_hits_the_map_barrier_when_the_world_does():
    """Steering hard right into the road edge: the dream (vehicle ego, the World beside it giving the
    agents and the map) counts the static collision at the step the World does, not before."""
    from e2edrive.core.constants import EGO_LENGTH, EGO_WIDTH
    from e2edrive.sim.world import ego_collisions

    model = _small_model()
    start = WorldStart(SMALL_RIG, model.cfg.context, agents=True)
    env = DreamEnv(model, start, [("lane_follow", 0)], mode="agent_conditioned", ego="vehicle")
    world = start.worlds[-1]
    size = torch.tensor([[EGO_LENGTH, EGO_WIDTH]])
    action = Action(torch.tensor([-0.5]), torch.tensor([0.0]))
    hits_dream, hits_world = [], []
    for _ in range(60):
        out = env.step(action)
        hits_dream.append(bool(out.infractions.collision_static[0]))
        hits_world.append(bool(ego_collisions(world, world.ego.box_pose(), size).static[0]))
        if out.done[0]:
            break
    assert any(hits_world), "the test drive never reached the barrier"
    assert hits_dream == hits_world


def test_rig_mismatch_and_short_context_are_clear_errors():
    model = _small_model()
    with pytest.raises(ValueError, match=r"rig mismatch.*8 cameras 16x32.*8 cameras 64x128"):
        DreamEnv(model, WorldStart(make_rig(), model.cfg.context), [("lane_follow", 0)])

    def short(pairs):
        return world_context(pairs, SMALL_RIG, model.cfg.context - 1)[0], None

    with pytest.raises(ValueError, match=f"needs a context of {model.cfg.context} frames, got 3"):
        DreamEnv(model, short, [("lane_follow", 0)])


def test_route_resampling_follows_the_ego():
    straight = torch.stack([torch.arange(1, 11) * 5.0, torch.zeros(10)], -1)[None]
    moved = straight - torch.tensor([2.0, 0.0])  # the ego drove 2 m along the route
    points, progress = resample_route(moved)
    assert progress.item() == pytest.approx(2.0) and torch.allclose(points, straight, atol=1e-5)


def test_checkpoint_round_trip(tmp_path):
    from e2edrive.worldmodel.train import save_checkpoint

    model = _small_model(seed=3)
    save_checkpoint(tmp_path, model, {"phase": 2, "step": 0, "optimizer": None, "train_config": {}})
    loaded = load_worldmodel(tmp_path)
    assert loaded.cfg.to_dict() == model.cfg.to_dict()
    for k, v in model.state_dict().items():
        assert torch.equal(v, loaded.state_dict()[k]), k
    assert WorldModelConfig.from_dict(
        json.loads((tmp_path / "checkpoint" / "config.json").read_text())["config"]
    )


# --- injection --------------------------------------------------------------------------------------


def test_cut_in_trajectory_crosses_the_ego_path():
    pose = torch.tensor([100.0, 50.0, math.pi / 2])  # ego heading +y in the world
    traj = cut_in_trajectory(pose, ego_speed=10.0, steps=30, gap=6.0, lateral=3.5, dv=-2.0)
    assert traj.shape == (30, 9)
    # back into the ego's start frame: x forward = world y - 50, y left = -(world x - 100)
    fwd, left = traj[:, 1] - 50.0, -(traj[:, 0] - 100.0)
    assert left[0].item() == pytest.approx(3.5, abs=1e-3)  # starts in the lane to the left
    assert left[-1].abs().item() < 1e-3  # ends on the ego's path
    assert (left[1:] <= left[:-1] + 1e-6).all()  # merges monotonically
    ego_front = 10.0 * 0.1 * torch.arange(1, 31) + 3.8  # a constant-speed ego's front bumper
    assert (fwd - ego_front)[-1] > 0 and (fwd - ego_front)[-1] < (fwd - ego_front)[0]  # ahead, gap closing
    assert torch.allclose(torch.linalg.vector_norm(traj[:, 7:9], dim=-1)[-1], torch.tensor(8.0))


def test_injected_agents_replace_one_slot():
    class Empty:
        def next_boxes(self, action):
            return AgentBoxes(
                torch.zeros(2, 4, 9), torch.zeros(2, 4, dtype=torch.long), torch.zeros(2, 4, dtype=torch.bool)
            )

    traj = cut_in_trajectory(torch.zeros(3), 10.0, steps=5)
    src = InjectedAgents(Empty(), traj, env=1)
    zero = torch.zeros(2)
    for _ in range(2):
        got = src.next_boxes(Action(zero, zero))
    assert not got.valid[0].any() and got.valid[1].sum() == 1
    assert torch.equal(got.boxes[1, 0], traj[1])


# --- CLI --------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def tiny_dataset(tmp_path_factory):
    import e2edrive.commands.collect as collect_cmd

    out = tmp_path_factory.mktemp("wm") / "ds"
    argv = [
        "--out",
        str(out),
        "--scenario",
        "lane_follow",
        "--seeds",
        "0:2",
        "--num-envs",
        "2",
        "--height",
        "16",
        "--width",
        "32",
        "--max-steps",
        "9",
    ]
    assert collect_cmd.main(argv) == 0
    return out


def test_dream_env_from_a_recording_replays_its_agents_until_the_recording_ends(tiny_dataset):
    from e2edrive.data.dataset import DrivingDataset
    from e2edrive.worldmodel.context import LogStart

    model = _small_model()
    ds = DrivingDataset(tiny_dataset, history=1)
    env = DreamEnv(
        model,
        LogStart(ds, model.cfg.context),
        [("lane_follow", 0), ("lane_follow", 1)],
        mode="agent_conditioned",
    )
    zero = torch.zeros(2)
    steps = 0
    while not bool(env.done.all()):
        out = env.step(Action(zero, zero))
        steps += 1
    assert steps == 9 - model.cfg.context and out.truncated.any()  # the recording's length is the limit
    assert [r.steps for r in env.episode_results()] == [steps, steps]
    with pytest.raises(ValueError, match="no recorded episode"):
        DreamEnv(model, LogStart(ds, model.cfg.context), [("cut_in", 0)])


def test_cli_worldmodel_train_eval_and_dream(tiny_dataset, tmp_path, capsys):
    from e2edrive.cli import main

    wm = tmp_path / "wm"
    assert main(["worldmodel", "train", "--data", str(tiny_dataset), "--out", str(wm), "--steps", "2"]) == 0
    assert (wm / "checkpoint" / "model.safetensors").is_file()
    assert main(["worldmodel", "train", "--data", str(tiny_dataset), "--out", str(wm), "--steps", "2"]) == 2
    assert "--resume" in capsys.readouterr().err
    assert (
        main(
            ["worldmodel", "train", "--data", str(tiny_dataset), "--out", str(wm), "--steps", "3", "--resume"]
        )
        == 0
    )
    capsys.readouterr()
    assert (
        main(
            [
                "worldmodel",
                "eval",
                "--worldmodel",
                str(wm),
                "--data",
                str(tiny_dataset),
                "--json",
                "--max-windows",
                "2",
            ]
        )
        == 0
    )
    fidelity = json.loads(capsys.readouterr().out)
    assert fidelity["horizons_s"] == [0.5] and len(fidelity["scores"]["dream"]["0.5"]["psnr"]) == 8
    argv = [
        "dream",
        "--worldmodel",
        str(wm),
        "--driver",
        "constant_velocity",
        "--scenario",
        "cut_in",
        "--seeds",
        "0:2",
        "--max-steps",
        "3",
        "--json",
        "--inject",
        "cut_in",
        "--ego",
        "vehicle",
    ]
    assert main(argv) == 0
    out = json.loads(capsys.readouterr().out)
    assert len(out["episodes"]) == 2 and out["mode"] == "agent_conditioned"
    assert main(["dream", "--worldmodel", str(wm), "--driver", "expert"]) == 2
    assert "privileged" in capsys.readouterr().err
