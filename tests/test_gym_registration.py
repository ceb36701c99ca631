"""The gymnasium registration: make / make_vec by id, render, step info, RecordVideo, check_env."""

import subprocess
import sys

import gymnasium
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

import e2edrive  # noqa: F401  (registers the environments)
from e2edrive.sim.env import DrivingEnv, DrivingVectorEnv

ENV_ID = "e2edrive/Drive-v0"
STOP = np.array([0.0, 0.0], np.float32)  # hold speed, wheel straight


def test_registration_is_lazy():
    # the CLI imports the package for every verb: registering must not pull in torch
    code = (
        "import sys, gymnasium, e2edrive; "
        f"assert {ENV_ID!r} in gymnasium.registry; "
        "assert 'torch' not in sys.modules, 'torch imported'; "
        "assert 'e2edrive.sim' not in sys.modules"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr


def test_make_render_views_and_check_env():
    env = gymnasium.make(ENV_ID, scenario="cut_in", render_mode="rgb_array")
    assert isinstance(env.unwrapped, DrivingEnv) and env.unwrapped.scenario == "cut_in"
    check_env(env.unwrapped)  # render check included: it remakes the env from its spec
    env.reset(seed=2)
    top = env.render()
    assert top.shape == (320, 320, 3) and top.dtype == np.uint8 and top.std() > 0
    cams = gymnasium.make(ENV_ID, scenario="cut_in", render_mode="rgb_array", render_view="cameras")
    cams.reset(seed=2)
    mosaic = cams.render()
    assert mosaic.shape == (2 * 64 * 2, 4 * 128 * 2, 3)  # 2 x 4 tiles of 64 x 128 shown at 2x
    both = gymnasium.make(ENV_ID, scenario="cut_in", render_mode="rgb_array", render_view="both")
    both.reset(seed=2)
    frame = both.render()
    assert frame.shape == (320, 4 * 128 * 2 + 320, 3)
    assert np.array_equal(frame[:, -320:], top)  # the top-down view sits right of the cameras
    plain = gymnasium.make(ENV_ID)
    plain.reset(seed=0)
    assert plain.render() is None  # no render_mode, no frame


def test_bad_render_arguments():
    with pytest.raises(ValueError, match="render_mode"):
        DrivingEnv(render_mode="human")
    with pytest.raises(ValueError, match="render_view must be one of topdown, cameras, both"):
        DrivingEnv(render_view="lidar")


def test_step_info_infractions_then_episode_result():
    env = gymnasium.make(ENV_ID, scenario="unknown_object")
    env.reset(seed=0)
    for _ in range(400):
        _, _, term, trunc, info = env.step(STOP)
        assert set(info["infractions"]) >= {"collision_static", "off_road", "red_light_run", "ttc"}
        if term or trunc:
            break
        assert "episode_result" not in info
    assert term and info["infractions"]["collision_static"] and info["collision"]
    result = info["episode_result"]  # driving straight at the debris ends in a collision
    assert result["scenario"] == "unknown_object" and result["seed"] == 0 and not result["passed"]
    assert result["collisions"]["static"] == 1 and result["steps"] > 0


def test_make_vec_gives_the_batched_env_with_masked_results():
    envs = gymnasium.make_vec(
        ENV_ID, num_envs=2, vectorization_mode="vector_entry_point", scenario="unknown_object,lane_follow"
    )
    assert isinstance(envs, DrivingVectorEnv) and envs.num_envs == 2
    assert envs.names == ["unknown_object", "lane_follow"]
    _, info = envs.reset(seed=0)
    for _ in range(400):
        _, _, term, trunc, info = envs.step(np.zeros((2, 2), np.float32))
        assert info["infractions"]["ttc"].shape == (2,)
        if term[0] or trunc[0]:
            break
    assert list(info["_episode_result"]) == [True, False]
    assert info["episode_result"][0]["scenario"] == "unknown_object" and info["episode_result"][1] is None
    # the next step is env 0's autoreset: its infractions are masked out and no result repeats
    _, _, _, _, info = envs.step(np.zeros((2, 2), np.float32))
    assert list(info["_infractions"]) == [False, True] and "episode_result" not in info


def test_record_video_writes_the_episode(tmp_path):
    pytest.importorskip("moviepy", reason="RecordVideo needs moviepy: pip install 'e2edrive[viz]'")
    av = pytest.importorskip("av")
    env = gymnasium.make(ENV_ID, scenario="unknown_object", render_mode="rgb_array")
    env = gymnasium.wrappers.RecordVideo(
        env, str(tmp_path), episode_trigger=lambda e: True, name_prefix="drive"
    )
    env.reset(seed=0)
    steps = 0
    while True:
        _, _, term, trunc, _ = env.step(STOP)
        steps += 1
        if term or trunc:
            break
    env.close()
    path = tmp_path / "drive-episode-0.mp4"
    with av.open(str(path)) as f:
        frames = list(f.decode(video=0))
    # the reset frame and one per step; moviepy's duration rounding may drop the last one
    assert steps <= len(frames) <= steps + 1
    assert (frames[0].height, frames[0].width) == (320, 320)
