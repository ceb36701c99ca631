"""Gymnasium views of the batched World.

`DrivingVectorEnv` is a `gymnasium.vector.VectorEnv` over one World of num_envs environments,
with NEXT_STEP autoreset: the step after an environment ends returns the first observation of its
next episode (reward 0, not terminated). `DrivingEnv` is the single-environment `gymnasium.Env`.
Both are registered as "e2edrive/Drive-v0" when the package is imported (e2edrive/__init__.py):

    env = gymnasium.make("e2edrive/Drive-v0", scenario="cut_in", render_mode="rgb_array")
    envs = gymnasium.make_vec("e2edrive/Drive-v0", num_envs=8, vectorization_mode="vector_entry_point")

Observation: a Dict of the state fields of `core.types.Observation` (speed, accel, yaw_rate,
steer, odometry, navigation goal) as float32 arrays, plus `images` (N_cam, 3, H, W) uint8 with
`cameras=True` (or a renderer: anything with `.render(scene).rgb`, e.g. `sim.render.Renderer`).
Action: Box([-MAX_STEER, MIN_ACCEL], [MAX_STEER, MAX_ACCEL]) = [steer rad, accel m/s^2];
out-of-range actions are clipped, NaN raises (World.step). Reward: see sim.world (progress in
units of 10 m minus infraction penalties).

Step info: `infractions` (the collisions, off road and red-light run of this step as bools, `ttc`
in s and `progress` in m) and, on the step an episode ends, `episode_result`
(`sim.metrics.EpisodeResult.to_dict()`: pass rule, route completion, driving score, ...). It is not
called `episode`, which `gymnasium.wrappers.RecordEpisodeStatistics` writes. The vector env gives
each key as a (num_envs,) array with gymnasium's `_key` mask.

render(): with render_mode="rgb_array", the top-down view (H, W, 3) uint8; `render_view="cameras"`
gives the 8-camera mosaic instead and "both" the two side by side (the frame of `drive --video`).

Episodes: environment i drives scenarios[i % len(scenarios)]; its k-th episode uses seed
base_seed + i + k * num_envs, so every episode is a function of (reset seed, i, k).
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
import torch
from gymnasium import spaces
from gymnasium.vector import AutoresetMode, VectorEnv

from e2edrive.core.constants import DT, MAX_ACCEL, MAX_STEER, MIN_ACCEL, TurnCommand
from e2edrive.core.env import StepOutput
from e2edrive.core.types import Action, Observation
from e2edrive.sim.map.nav import ROUTE_POINTS
from e2edrive.sim.scenarios import resolve_scenarios
from e2edrive.sim.world import World

RENDER_VIEWS = ("topdown", "cameras", "both")
INFRACTIONS = (
    "collision_vehicle",
    "collision_pedestrian_animal",
    "collision_static",
    "off_road",
    "red_light_run",
)


def observation_space(renderer=None, rig=None) -> spaces.Dict:
    f = np.float32
    inf = np.inf
    fields: dict[str, spaces.Space] = {
        "speed": spaces.Box(0.0, inf, (1,), f),
        "accel": spaces.Box(-inf, inf, (1,), f),
        "yaw_rate": spaces.Box(-inf, inf, (1,), f),
        "steer": spaces.Box(-MAX_STEER, MAX_STEER, (1,), f),
        "odom": spaces.Box(-inf, inf, (3,), f),
        "route_points": spaces.Box(-inf, inf, (ROUTE_POINTS, 2), f),
        "dist_to_turn": spaces.Box(0.0, inf, (1,), f),
        "turn_command": spaces.Discrete(len(TurnCommand)),
        "speed_limit": spaces.Box(0.0, inf, (1,), f),
    }
    if renderer is not None:
        fields["images"] = spaces.Box(0, 255, (rig.num_cameras, 3, rig.height, rig.width), np.uint8)
    return spaces.Dict(fields)


ACTION_LOW = np.array([-MAX_STEER, MIN_ACCEL], np.float32)
ACTION_HIGH = np.array([MAX_STEER, MAX_ACCEL], np.float32)


def observation_arrays(obs: Observation, with_images: bool) -> dict[str, np.ndarray]:
    """Batched numpy dict (leading num_envs) of an Observation."""

    def col(x):
        return x.detach().float().cpu().numpy().reshape(x.shape[0], -1).astype(np.float32)

    out = {
        "speed": col(obs.speed),
        "accel": col(obs.accel),
        "yaw_rate": col(obs.yaw_rate),
        "steer": col(obs.steer).clip(-MAX_STEER, MAX_STEER),
        "odom": col(obs.odom),
        "route_points": obs.nav.route_points.detach().float().cpu().numpy().astype(np.float32),
        "dist_to_turn": col(obs.nav.dist_to_turn),
        "turn_command": obs.nav.turn_command.cpu().numpy().astype(np.int64),
        "speed_limit": col(obs.nav.speed_limit),
    }
    if with_images:
        out["images"] = obs.images.cpu().numpy()
    return out


def infraction_arrays(out: StepOutput) -> dict[str, np.ndarray]:
    """(B,) numpy arrays of one step's infractions: bools, ttc (s, inf if none), progress (m)."""
    inf = out.infractions
    d = {name: getattr(inf, name).cpu().numpy().astype(bool) for name in INFRACTIONS}
    d["ttc"] = inf.ttc.float().cpu().numpy().astype(np.float64)
    d["progress"] = inf.progress.float().cpu().numpy().astype(np.float64)
    return d


def _check_view(render_mode: str | None, render_view: str) -> None:
    if render_mode not in (None, "rgb_array"):
        raise ValueError(f"render_mode must be None or 'rgb_array', got {render_mode!r}")
    if render_view not in RENDER_VIEWS:
        raise ValueError(f"render_view must be one of {', '.join(RENDER_VIEWS)}, got {render_view!r}")


def drive_frame(
    world: World,
    env: int,
    view: str = "both",
    renderer=None,
    plan_xy: torch.Tensor | None = None,
    reason_text: str | None = None,
) -> np.ndarray:
    """(H, W, 3) uint8 picture of environment `env`: the top-down view (320 x 320: map, actors, the
    plan as dots, the reason burned in), the 8-camera mosaic (cameras in rig order, shown at 2x:
    64 x 128 cameras are small on screen; needs `renderer`), or both side by side."""
    from e2edrive.sim.render.mosaic import camera_mosaic
    from e2edrive.sim.topdown import render_topdown

    scene = world.scene([env])
    parts = []
    if view in ("cameras", "both"):
        cams = camera_mosaic(renderer.render(scene).rgb[0], world.rig.names)  # (2 H, 4 W, 3)
        parts.append(cams.repeat(2, axis=0).repeat(2, axis=1))
    if view in ("topdown", "both"):
        top = render_topdown(
            scene, 0, plan_xy, reason_text, size=(320, 320), t=float(world.t[env]), ego_row=0.65
        )
        parts.append(top.cpu().numpy())
    h = max(p.shape[0] for p in parts)
    return np.concatenate([np.pad(p, ((0, h - p.shape[0]), (0, 0), (0, 0))) for p in parts], axis=1)


class _Rendering:
    """What both views share: the camera renderer for observations and the render() frames."""

    world: World
    device: str
    renderer: Any
    render_mode: str | None
    render_view: str
    _frame_renderer: Any = None

    def _attach(self, cameras: bool, renderer) -> None:
        if cameras and renderer is None:
            from e2edrive.sim.render import Renderer

            renderer = Renderer(self.world.rig, device=self.device)
        self.renderer = renderer

    def _frame(self, env: int) -> np.ndarray:
        renderer = self.renderer
        if renderer is None and self.render_view != "topdown":
            if self._frame_renderer is None:  # built on first use: a top-down view needs none
                from e2edrive.sim.render import Renderer

                self._frame_renderer = Renderer(self.world.rig, device=self.device)
            renderer = self._frame_renderer
        label = f"{self.world.scenarios[env]} {self.world.seeds[env]}"
        return drive_frame(self.world, env, self.render_view, renderer, reason_text=label)


class DrivingVectorEnv(_Rendering, VectorEnv):
    """num_envs driving environments stepped as one batch (NEXT_STEP autoreset)."""

    metadata = {"autoreset_mode": AutoresetMode.NEXT_STEP, "render_modes": ["rgb_array"], "render_fps": 10}

    def __init__(
        self,
        scenario: str | list[str] = "all",
        num_envs: int = 8,
        device: str = "cpu",
        renderer=None,
        base_seed: int = 0,
        cameras: bool = False,
        render_mode: str | None = None,
        render_view: str = "topdown",
    ):
        """scenario: a name, comma-separated names, 'all', a suite, or a list of names (the same
        keyword as DrivingEnv's, so gymnasium.make_vec passes one set of kwargs to either)."""
        names = resolve_scenarios(scenario) if isinstance(scenario, str) else list(scenario)
        for n in names:
            resolve_scenarios(n)
        _check_view(render_mode, render_view)
        self.names, self.num_envs, self.device = names, num_envs, device
        self.render_mode, self.render_view = render_mode, render_view
        self.base_seed = base_seed
        self.episode = np.zeros(num_envs, np.int64)
        self.world = World(self._scenarios(), self._seeds(), device=device)
        self._attach(cameras, renderer)
        self.single_observation_space = observation_space(self.renderer, self.world.rig)
        self.single_action_space = spaces.Box(ACTION_LOW, ACTION_HIGH, (2,), np.float32)
        self.observation_space = gym.vector.utils.batch_space(self.single_observation_space, num_envs)
        self.action_space = gym.vector.utils.batch_space(self.single_action_space, num_envs)
        self._autoreset = np.zeros(num_envs, bool)

    def _scenarios(self) -> list[str]:
        return [self.names[i % len(self.names)] for i in range(self.num_envs)]

    def _seeds(self, envs=None) -> list[int]:
        envs = range(self.num_envs) if envs is None else envs
        return [int(self.base_seed + i + self.episode[i] * self.num_envs) for i in envs]

    def _obs(self) -> dict[str, np.ndarray]:
        images = None
        if self.renderer is not None:
            images = self.renderer.render(self.world.scene()).rgb
        return observation_arrays(self.world.observation(images), self.renderer is not None)

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        if seed is not None:
            self.base_seed = int(seed)
        self.episode[:] = 0
        self.world.reset(self._scenarios(), self._seeds())
        self._autoreset[:] = False
        return self._obs(), {"scenario": np.array(self.world.scenarios), "seed": np.array(self.world.seeds)}

    def step(self, actions):
        a = torch.as_tensor(np.asarray(actions, dtype=np.float32), device=self.world.device)
        if a.shape != (self.num_envs, 2):
            raise ValueError(f"actions must be ({self.num_envs}, 2) [steer, accel], got {tuple(a.shape)}")
        restart = np.flatnonzero(self._autoreset)
        if restart.size:
            self.episode[restart] += 1
            self.world.reset_envs(
                restart.tolist(), list(zip([self._scenarios()[i] for i in restart], self._seeds(restart)))
            )
        out = self.world.step(Action.from_tensor(a))
        reward = out.reward.cpu().numpy().astype(np.float64)
        term = out.terminated.cpu().numpy().copy()
        trunc = out.truncated.cpu().numpy().copy()
        # environments just reset report their first observation and nothing else this step
        reward[restart] = 0.0
        term[restart] = False
        trunc[restart] = False
        self._autoreset = term | trunc
        return self._obs(), reward, term, trunc, self._info(out, restart)

    def _info(self, out: StepOutput, restart: np.ndarray) -> dict[str, Any]:
        live = np.ones(self.num_envs, bool)
        live[restart] = False
        info: dict[str, Any] = {"infractions": infraction_arrays(out), "_infractions": live}
        ended = np.flatnonzero(self._autoreset)
        if ended.size:
            results = np.full(self.num_envs, None, dtype=object)
            for i in ended.tolist():
                results[i] = self.world.episode_result(i).to_dict()
            info["episode_result"], info["_episode_result"] = results, self._autoreset.copy()
        return info

    def render(self) -> tuple[np.ndarray, ...] | None:
        """One frame per environment (as gymnasium's SyncVectorEnv), or None without render_mode."""
        if self.render_mode is None:
            return None
        return tuple(self._frame(i) for i in range(self.num_envs))


class DrivingEnv(_Rendering, gym.Env):
    """One driving environment; reset(seed=k) drives episode k of the scenario (options may name
    another scenario: {"scenario": "cut_in"})."""

    metadata = {"render_modes": ["rgb_array"], "render_fps": round(1 / DT)}

    def __init__(
        self,
        scenario: str = "lane_follow",
        device: str = "cpu",
        renderer=None,
        cameras: bool = False,
        render_mode: str | None = None,
        render_view: str = "topdown",
    ):
        resolve_scenarios(scenario)
        _check_view(render_mode, render_view)
        self.scenario, self.device = scenario, device
        self.render_mode, self.render_view = render_mode, render_view
        self._next_seed = 0
        self._ended = False
        self.world = World([scenario], [0], device=device)
        self._attach(cameras, renderer)
        self.observation_space = observation_space(self.renderer, self.world.rig)
        self.action_space = spaces.Box(ACTION_LOW, ACTION_HIGH, (2,), np.float32)

    def _obs(self) -> dict[str, np.ndarray]:
        images = None if self.renderer is None else self.renderer.render(self.world.scene()).rgb
        arrays = observation_arrays(self.world.observation(images), self.renderer is not None)
        return {k: (v[0] if k != "turn_command" else np.int64(v[0])) for k, v in arrays.items()}

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        super().reset(seed=seed)
        if options and "scenario" in options:
            resolve_scenarios(options["scenario"])
            self.scenario = options["scenario"]
        if seed is None:
            seed = self._next_seed
        self._next_seed = int(seed) + 1
        self._ended = False
        self.world.reset([self.scenario], [int(seed)])
        return self._obs(), {"scenario": self.scenario, "seed": int(seed)}

    def step(self, action):
        a = torch.as_tensor(np.asarray(action, dtype=np.float32).reshape(1, 2), device=self.world.device)
        out = self.world.step(Action.from_tensor(a))
        term, trunc = bool(out.terminated[0]), bool(out.truncated[0])
        infractions = {k: v[0].item() for k, v in infraction_arrays(out).items()}
        info: dict[str, Any] = {
            "infractions": infractions,
            "collision": any(infractions[k] for k in INFRACTIONS[:3]),
        }
        if (term or trunc) and not self._ended:  # a finished episode's metrics are frozen: report once
            info["episode_result"] = self.world.episode_result(0).to_dict()
            self._ended = True
        return self._obs(), float(out.reward[0]), term, trunc, info

    def render(self) -> np.ndarray | None:
        if self.render_mode is None:
            return None
        return self._frame(0)
