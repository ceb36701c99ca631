import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env
from gymnasium.vector import AutoresetMode

from e2edrive.sim.env import DrivingEnv, DrivingVectorEnv


def test_single_env_passes_gymnasium_check_env():
    env = DrivingEnv("lane_follow")
    check_env(env, skip_render_check=True)
    obs, info = env.reset(seed=3)
    assert env.observation_space.contains(obs) and info["seed"] == 3
    obs, r, term, trunc, _ = env.step(np.array([0.0, 1.0], np.float32))
    assert env.observation_space.contains(obs) and isinstance(r, float) and not term


def test_unknown_scenario_lists_valid_ones():
    with pytest.raises(KeyError, match="valid scenarios: lane_follow"):
        DrivingEnv("flying_cars")


def test_vector_env_next_step_autoreset():
    env = DrivingVectorEnv(["unknown_object", "lane_follow"], num_envs=2)
    assert env.metadata["autoreset_mode"] == AutoresetMode.NEXT_STEP
    obs, info = env.reset(seed=0)
    assert env.observation_space.contains(obs)
    assert list(info["seed"]) == [0, 1]
    # env 0 drives straight into its debris and ends
    ended_at = None
    for k in range(400):
        obs, rew, term, trunc, _ = env.step(np.array([[0.0, 0.0], [0.0, 0.0]], np.float32))
        if term[0] or trunc[0]:
            ended_at = k
            break
    assert ended_at is not None and rew[0] < 0  # the collision penalty
    obs, rew, term, trunc, _ = env.step(np.zeros((2, 2), np.float32))
    # next step: env 0 starts its second episode (seed 0 + 0 + 1 * 2), reward 0, not done
    assert env.world.seeds[0] == 2 and rew[0] == 0.0 and not term[0] and not trunc[0]
    assert obs["speed"][0, 0] == pytest.approx(env.world.specs[0].ego_speed, rel=1e-5)
    assert env.episode[0] == 1 and env.world.steps[0].item() == 1
