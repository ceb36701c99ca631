"""Gymnasium views of the batched World.

`DrivingVectorEnv` is a `gymnasium.vector.VectorEnv` over one World of num_envs environments,
with NEXT_STEP autoreset: the step after an environment ends returns the first observation of its
next episode (reward 0, not terminated). `DrivingEnv` is the single-environment `gymnasium.Env`.

Observation: a Dict of the state fields of `core.types.Observation` (speed, accel, yaw_rate,
steer, odometry, navigation goal) as float32 arrays, plus `images` (N_cam, 3, H, W) uint8 when a
renderer is attached (anything with `.render(scene).rgb`, e.g. `sim.render.Renderer`).
Action: Box([-MAX_STEER, MIN_ACCEL], [MAX_STEER, MAX_ACCEL]) = [steer rad, accel m/s^2];
out-of-range actions are clipped, NaN raises (World.step). Reward: see sim.world (progress in
units of 10 m minus infraction penalties).

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

from e2edrive.core.constants import MAX_ACCEL, MAX_STEER, MIN_ACCEL, TurnCommand
from e2edrive.core.types import Action, Observation
from e2edrive.sim.map.nav import ROUTE_POINTS
from e2edrive.sim.scenarios import resolve_scenarios
from e2edrive.sim.world import World


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


class DrivingVectorEnv(VectorEnv):
    """num_envs driving environments stepped as one batch (NEXT_STEP autoreset)."""

    metadata = {"autoreset_mode": AutoresetMode.NEXT_STEP, "render_modes": []}

    def __init__(
        self,
        scenarios: str | list[str] = "all",
        num_envs: int = 8,
        device: str = "cpu",
        renderer=None,
        base_seed: int = 0,
    ):
        names = resolve_scenarios(scenarios) if isinstance(scenarios, str) else list(scenarios)
        for n in names:
            resolve_scenarios(n)
        self.names, self.num_envs, self.device, self.renderer = names, num_envs, device, renderer
        self.base_seed = base_seed
        self.episode = np.zeros(num_envs, np.int64)
        self.world = World(self._scenarios(), self._seeds(), device=device)
        self.single_observation_space = observation_space(renderer, self.world.rig)
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
        return self._obs(), reward, term, trunc, {}


class DrivingEnv(gym.Env):
    """One driving environment; reset(seed=k) drives episode k of the scenario (options may name
    another scenario: {"scenario": "cut_in"})."""

    metadata = {"render_modes": []}

    def __init__(self, scenario: str = "lane_follow", device: str = "cpu", renderer=None):
        resolve_scenarios(scenario)
        self.scenario, self.device, self.renderer = scenario, device, renderer
        self._next_seed = 0
        self.world = World([scenario], [0], device=device)
        self.observation_space = observation_space(renderer, self.world.rig)
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
        self.world.reset([self.scenario], [int(seed)])
        return self._obs(), {"scenario": self.scenario, "seed": int(seed)}

    def step(self, action):
        a = torch.as_tensor(np.asarray(action, dtype=np.float32).reshape(1, 2), device=self.world.device)
        out = self.world.step(Action.from_tensor(a))
        return (
            self._obs(),
            float(out.reward[0]),
            bool(out.terminated[0]),
            bool(out.truncated[0]),
            {
                "collision": bool(
                    out.infractions.collision_vehicle[0]
                    | out.infractions.collision_static[0]
                    | out.infractions.collision_pedestrian_animal[0]
                )
            },
        )
