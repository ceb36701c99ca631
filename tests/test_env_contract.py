"""The environment contract (core.env): World conforms to BatchedEnv, drivers see Observations,
and only drivers that declare `needs_privileged` get the world's privileged view."""

from __future__ import annotations

import pytest
import torch

from e2edrive.core.env import BatchedEnv, Driver, StepInfractions, StepOutput
from e2edrive.core.types import Action, Observation
from e2edrive.eval.runner import run_closed_loop
from e2edrive.sim.expert.driver import ExpertDriver
from e2edrive.sim.expert.privileged import PrivilegedView
from e2edrive.sim.world import World


def _drive_one_step(env: BatchedEnv) -> StepOutput:
    """Written against the protocol only: whatever conforms (World, a world model) runs here."""
    obs = env.observation()
    zero = torch.zeros(env.num_envs, device=env.device)
    out = env.step(Action(zero, zero))
    assert obs.batch_size == env.num_envs and out.done.shape == (env.num_envs,)
    return out


def test_world_conforms_to_the_batched_env_protocol():
    world = World(["lane_follow", "follow_lead"], [0, 1])
    assert isinstance(world, BatchedEnv)
    out = _drive_one_step(world)
    assert isinstance(out.infractions, StepInfractions)
    assert len(world.episode_results()) == 2
    world.reset_envs([1], [("cut_in", 2)])
    assert isinstance(world.reset(), Observation)


def test_old_import_paths_still_name_the_core_types():
    from e2edrive.eval.drivers import Driver as EvalDriver
    from e2edrive.sim.metrics import StepInfractions as MetricsInfractions
    from e2edrive.sim.world import StepOutput as WorldStepOutput

    assert EvalDriver is Driver and MetricsInfractions is StepInfractions and WorldStepOutput is StepOutput


class _Spy(Driver):
    """Records what the runner hands it; drives straight at constant speed."""

    def __init__(self, needs_privileged: bool):
        self.needs_privileged = needs_privileged
        self.seen: list = []

    def act(self, obs, privileged=None):
        self.seen.append((type(obs), privileged))
        zero = torch.zeros(obs.batch_size)
        return Action(zero, zero), None, None


@pytest.mark.parametrize("privileged", [False, True])
def test_runner_hands_the_privileged_view_only_to_drivers_that_declare_it(privileged):
    spy = _Spy(privileged)
    run_closed_loop(spy, [("lane_follow", 0)], num_envs=1, progress=False, max_steps=3)
    assert spy.seen and all(t is Observation for t, _ in spy.seen)
    views = [p for _, p in spy.seen]
    if privileged:
        assert all(isinstance(p, PrivilegedView) for p in views)
    else:
        assert all(p is None for p in views)


def test_the_expert_refuses_to_drive_without_the_privileged_view():
    world = World(["lane_follow"], [0])
    with pytest.raises(ValueError, match="privileged"):
        ExpertDriver().act(world.observation())
    action, plan, reasons = ExpertDriver().act(world.observation(), world.privileged())
    assert action.steer.shape == (1,) and plan.shape[-1] == 2 and len(reasons) == 1
