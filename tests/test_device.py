"""The core paths on any torch device: `pytest tests/test_device.py --device cuda` (default cpu).

Each test runs the piece on --device and, where a CPU run is cheap, compares with it: the world and
the expert to float tolerance, the renderer pixel by pixel up to a few boundary pixels, the network
to float tolerance (GPU kernels sum in another order). Skipped, with the reason, where the device
is absent (conftest.py's `device` fixture).
"""

from __future__ import annotations

import math

import torch

from e2edrive.core.rig import make_rig
from e2edrive.eval.drivers import make_driver
from e2edrive.eval.runner import run_closed_loop
from e2edrive.model.config import make_config
from e2edrive.model.driving_model import DrivingModel
from e2edrive.model.synthetic import synthetic_clip
from e2edrive.sim.render.renderer import Renderer
from e2edrive.sim.render.testing import make_test_scene
from e2edrive.sim.world import World
from e2edrive.train.config import TrainConfig
from e2edrive.train.loop import train
from e2edrive.train.synthetic import SyntheticClips

PAIRS = [("lane_follow", 0), ("cut_in", 1), ("follow_lead", 2)]
RIG = make_rig(32, 64)  # small images: the point is the device, not the resolution


def _drive(device, steps: int = 10):
    world = World([p[0] for p in PAIRS], [p[1] for p in PAIRS], device=device, rig=RIG)
    for _ in range(steps):
        out = world.step(world.expert().action)
    return world, out


def test_world_steps_and_scores_on_device(device):
    world, out = _drive(device)
    assert out.done.device.type == device.type and out.reward.device.type == device.type
    assert world.ego.pose().device.type == device.type
    cpu, _ = _drive("cpu")
    torch.testing.assert_close(world.ego.pose().cpu(), cpu.ego.pose(), rtol=1e-4, atol=1e-3)
    for r, c in zip(world.episode_results(), cpu.episode_results()):
        assert (r.scenario, r.seed, r.steps) == (c.scenario, c.seed, c.steps)
        assert math.isfinite(r.progress_m) and abs(r.progress_m - c.progress_m) < 1e-2


def test_renderer_on_device(device):
    out = Renderer(RIG, device).render(make_test_scene(2, device))
    assert out.rgb.device.type == device.type and out.rgb.shape == (2, RIG.num_cameras, 3, 32, 64)
    ref = Renderer(RIG, "cpu").render(make_test_scene(2, "cpu"))
    torch.testing.assert_close(out.depth.cpu(), ref.depth, rtol=1e-4, atol=1e-3)
    # a ray grazing an edge may land on the other side on another device: a handful of pixels
    assert (out.semantics.cpu() != ref.semantics).float().mean() < 1e-3
    assert (out.rgb.cpu().int() - ref.rgb.int()).abs().float().mean() < 0.5


def test_driving_model_forward_backward_on_device(device):
    torch.manual_seed(0)
    model = DrivingModel(make_config("tiny"))
    ref = model(synthetic_clip(batch=2, frames=2, seed=1).obs)
    model = model.to(device)
    out = model(synthetic_clip(batch=2, frames=2, seed=1, device=device).obs)
    assert out.action.device.type == device.type
    torch.testing.assert_close(out.action.cpu(), ref.action, rtol=1e-3, atol=1e-4)
    torch.testing.assert_close(out.plan.cpu(), ref.plan, rtol=1e-3, atol=1e-3)
    (out.action.square().sum() + out.plan.square().sum() + out.occupancy.mean()).backward()
    grads = [p.grad for p in model.parameters() if p.grad is not None]
    assert grads and all(torch.isfinite(g).all() for g in grads)
    assert sum(float(g.abs().sum()) for g in grads) > 0


def test_one_training_step_on_device(device, tmp_path):
    small = make_rig(8, 16)
    cfg = TrainConfig(
        data="synthetic:16",
        out=str(tmp_path / "run"),
        model="probe",
        epochs=1,
        batch_size=4,
        max_steps=2,
        progress=False,
        device=str(device),
        log_every=1,
    )
    state = train(cfg, dataset=SyntheticClips(16, rig=small, label_grids=False))
    assert state.step == 2
    assert (tmp_path / "run/checkpoint/trainer_state.pt").is_file()


def test_expert_closed_loop_on_device(device):
    def run(dev):
        driver = make_driver("expert", device=dev)
        return run_closed_loop(driver, PAIRS, num_envs=2, device=dev, progress=False, max_steps=8)

    results, ref = run(device), run("cpu")
    assert [(r.scenario, r.seed, r.steps) for r in results] == [(r.scenario, r.seed, r.steps) for r in ref]
    for r, c in zip(results, ref):
        assert abs(r.progress_m - c.progress_m) < 1e-2 and r.passed == c.passed
