"""Where a dream starts, and where its other agents come from.

    Context         the last K real frames of B episodes (images) and the state at the last one
                    (ego status, navigation goal, boxes, world pose, route left, time left)
    world_context   a live `World`: the privileged expert drives K-1 steps while the renderer
                    records K frames; the World is returned too, to run beside the dream
    episode_context a recorded episode of a dataset, from frame `start` (K frames)
    WorldStart, LogStart   `DreamEnv`'s start callables over live Worlds and over recordings
    WorldAgents     agent boxes from a World stepped beside the dream with the dream's actions
    LogAgents       agent boxes replayed from a recorded episode

Agent sources give boxes in the world frame (x, y, yaw, vx, vy of the per-episode world frame;
z and sizes as in Labels.boxes), so the dream can express them in its own ego frame, which drifts
away from the real ego's as soon as the dream's driver acts otherwise.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np
import torch

from e2edrive.core.rig import CameraRig
from e2edrive.core.types import Action, NavGoal


@dataclass
class AgentBoxes:
    """boxes (B, A, 9) world frame [x, y, z, l, w, h, yaw, vx, vy]; box_class (B, A) long; valid (B, A)."""

    boxes: torch.Tensor
    box_class: torch.Tensor
    valid: torch.Tensor


@dataclass
class Context:
    """K real frames of B episodes; every other field is the state at the last frame."""

    images: torch.Tensor  # (B, K, N, 3, H, W) uint8
    rig: CameraRig
    speed: torch.Tensor  # (B,) m/s
    accel: torch.Tensor  # (B,) m/s^2
    yaw_rate: torch.Tensor  # (B,) rad/s
    steer: torch.Tensor  # (B,) rad
    odom: torch.Tensor  # (B, 3)
    nav: NavGoal  # (B, ...)
    boxes: torch.Tensor  # (B, MAX_BOXES, 9) ego frame
    box_class: torch.Tensor  # (B, MAX_BOXES) long
    box_valid: torch.Tensor  # (B, MAX_BOXES) bool
    ego_pose: torch.Tensor  # (B, 3) world frame
    route_left: torch.Tensor  # (B,) m of route still to drive
    steps_left: torch.Tensor  # (B,) long, control steps before the scenario's time limit


class AgentSource(Protocol):
    def next_boxes(self, action: Action) -> AgentBoxes:
        """The agents after one more step, the ego having taken `action` (B,)."""
        ...

    def barriers(self) -> tuple[torch.Tensor, torch.Tensor] | None:
        """The map's road-edge barrier segments (B, M, 4) world frame and their (B, M) validity,
        or None for a source that does not know the map."""
        ...


def ego_to_world(boxes: torch.Tensor, ego_pose: torch.Tensor) -> torch.Tensor:
    """Boxes (B, A, 9) in the ego frame of pose (B, 3) -> world frame."""
    c, s = torch.cos(ego_pose[:, 2])[:, None], torch.sin(ego_pose[:, 2])[:, None]
    out = boxes.clone()
    x, y, vx, vy = boxes[..., 0], boxes[..., 1], boxes[..., 7], boxes[..., 8]
    out[..., 0] = ego_pose[:, :1] + c * x - s * y
    out[..., 1] = ego_pose[:, 1:2] + s * x + c * y
    out[..., 6] = boxes[..., 6] + ego_pose[:, 2:]
    out[..., 7], out[..., 8] = c * vx - s * vy, s * vx + c * vy
    return out


def world_to_ego(boxes: torch.Tensor, ego_pose: torch.Tensor) -> torch.Tensor:
    """Inverse of ego_to_world."""
    c, s = torch.cos(ego_pose[:, 2])[:, None], torch.sin(ego_pose[:, 2])[:, None]
    out = boxes.clone()
    x, y = boxes[..., 0] - ego_pose[:, :1], boxes[..., 1] - ego_pose[:, 1:2]
    vx, vy = boxes[..., 7], boxes[..., 8]
    out[..., 0], out[..., 1] = c * x + s * y, -s * x + c * y
    out[..., 6] = boxes[..., 6] - ego_pose[:, 2:]
    out[..., 7], out[..., 8] = c * vx + s * vy, -s * vx + c * vy
    return out


def world_boxes(world) -> AgentBoxes:
    """The labelled boxes of a World's current state (sim.labels.object_boxes), world frame."""
    from e2edrive.sim.labels import object_boxes
    from e2edrive.sim.render.boxes import scene_boxes

    scene = world.scene()
    boxes, cls, valid = object_boxes(scene, scene_boxes(scene))
    return AgentBoxes(ego_to_world(boxes, world.ego.pose()), cls, valid)


def world_context(
    pairs: list[tuple[str, int]], rig: CameraRig, frames: int, device="cpu"
) -> tuple[Context, object]:
    """Start a World on `pairs`, let the expert drive frames-1 steps while rendering `frames`
    frames, and return the context with the World (at the context's last frame)."""
    from e2edrive.sim.expert.driver import ExpertDriver
    from e2edrive.sim.render import Renderer
    from e2edrive.sim.world import World

    world = World([p[0] for p in pairs], [p[1] for p in pairs], device=device, rig=rig)
    renderer, expert = Renderer(rig, world.device), ExpertDriver()
    expert.reset(world.num_envs, world.device)
    images = []
    for k in range(frames):
        obs = world.observation(renderer.render(world.scene()).rgb)
        images.append(obs.images)
        if k < frames - 1:
            world.step(expert.act(obs, world.privileged())[0])
    agents = world_boxes(world)
    pose = world.ego.pose()
    return (
        Context(
            images=torch.stack(images, 1),
            rig=rig,
            speed=obs.speed,
            accel=obs.accel,
            yaw_rate=obs.yaw_rate,
            steer=obs.steer,
            odom=obs.odom,
            nav=obs.nav,
            boxes=world_to_ego(agents.boxes, pose),
            box_class=agents.box_class,
            box_valid=agents.valid,
            ego_pose=pose,
            route_left=(world.route_end_s - world.ego_s).clamp(min=1.0),
            steps_left=(world.max_steps - world.steps).clamp(min=1),
        ),
        world,
    )


class WorldAgents:
    """A World stepped beside the dream with the dream's actions: its actors react to its own ego,
    which follows the same actions (so the same path only while the dream's ego motion matches
    the simulator's)."""

    def __init__(self, world):
        self.world = world

    def next_boxes(self, action: Action) -> AgentBoxes:
        self.world.step(action)
        return world_boxes(self.world)

    def barriers(self) -> tuple[torch.Tensor, torch.Tensor]:
        return self.world.barriers, self.world.barrier_valid


def episode_context(dataset, episode: int, start: int, frames: int) -> tuple[Context, LogAgents]:
    """K = `frames` recorded frames of `episode` from `start`, and its later boxes as a source.
    dataset: a data.DrivingDataset (history is ignored: frames are read directly)."""
    sh = dataset.shard(episode)
    n = sh.length
    if start < 0 or start + frames > n:
        raise ValueError(f"episode {episode} has {n} frames: no context of {frames} frames at {start}")
    rows, last = np.arange(start, start + frames), np.array([start + frames - 1])

    def read(name: str, r=last) -> torch.Tensor:
        return torch.from_numpy(sh.read(name, r))

    info = dataset.episode_info.get(episode, {})
    route_length = float(info.get("route_length_m", 0.0)) or 1e3  # unknown: the dream never completes it
    done_m = float(read("speed", np.arange(0, start + frames)).sum()) * 0.1  # metres driven so far, approx.
    ctx = Context(
        images=read("images", rows)[None],
        rig=dataset.rig,
        speed=read("speed"),
        accel=read("accel"),
        yaw_rate=read("yaw_rate"),
        steer=read("steer"),
        odom=read("odom"),
        nav=NavGoal(
            read("nav_route_points"),
            read("nav_dist_to_turn"),
            read("nav_turn_command"),
            read("nav_speed_limit"),
        ),
        boxes=read("boxes"),
        box_class=read("box_class").long(),
        box_valid=read("box_valid"),
        ego_pose=read("ego_pose"),
        route_left=torch.tensor([max(1.0, route_length - done_m)]),
        steps_left=torch.tensor([max(1, n - start - frames)]),
    )
    return ctx, LogAgents(sh, start + frames - 1)


class LogAgents:
    """Agent boxes replayed from recorded episodes (one per environment), one frame per step; the
    last frame repeats after a recording ends. The recorded agents reacted to the recorded ego,
    not to the dream's."""

    def __init__(self, shard, t: int):
        self.parts = [(shard, t)]

    def barriers(self) -> None:
        return None  # a recording holds the agents' boxes, not the map

    def next_boxes(self, action: Action) -> AgentBoxes:
        self.parts = [(sh, min(t + 1, sh.length - 1)) for sh, t in self.parts]
        rows = []
        for sh, t in self.parts:
            r = np.array([t])
            pose = torch.from_numpy(sh.read("ego_pose", r))
            rows.append(
                AgentBoxes(
                    ego_to_world(torch.from_numpy(sh.read("boxes", r)), pose),
                    torch.from_numpy(sh.read("box_class", r)).long(),
                    torch.from_numpy(sh.read("box_valid", r)),
                )
            )
        return AgentBoxes(
            *(torch.cat([getattr(a, f) for a in rows]) for f in ("boxes", "box_class", "valid"))
        )


def cat_contexts(contexts: list[Context]) -> Context:
    """Contexts of B_i environments each -> one of sum B_i (same rig)."""
    first = contexts[0]
    fields = {}
    for name in Context.__dataclass_fields__:
        values = [getattr(c, name) for c in contexts]
        if name == "rig":
            fields[name] = first.rig
        elif name == "nav":
            fields[name] = NavGoal(
                *(torch.cat([getattr(v, f) for v in values]) for f in NavGoal.__dataclass_fields__)
            )
        else:
            fields[name] = torch.cat(values)
    return Context(**fields)


class LogStart:
    """`DreamEnv`'s start for recordings: (scenario, seed) -> that episode of `dataset` (a
    data.DrivingDataset), context = its frames [start, start + frames). The time limit is the
    recording's length; the agent source replays its boxes (agent_conditioned mode)."""

    def __init__(self, dataset, frames: int, start: int = 0):
        self.dataset, self.frames, self.start = dataset, frames, start
        index = dataset.index
        self.episodes = {
            (sc, int(se)): int(ep)
            for sc, se, ep in zip(
                index["scenario"].to_pylist(), index["seed"].to_pylist(), index["episode"].to_pylist()
            )
        }

    def __call__(self, pairs: list[tuple[str, int]]) -> tuple[Context, LogAgents]:
        missing = [p for p in pairs if (p[0], int(p[1])) not in self.episodes]
        if missing:
            raise ValueError(f"no recorded episode of {missing[0]} in {self.dataset.root}")
        got = [
            episode_context(self.dataset, self.episodes[(p[0], int(p[1]))], self.start, self.frames)
            for p in pairs
        ]
        source = got[0][1]
        source.parts = [part for _, src in got for part in src.parts]
        return cat_contexts([c for c, _ in got]), source


class WorldStart:
    """`DreamEnv`'s start for live Worlds: each call makes a World on the pairs and records the
    context (world_context). agents=True returns a WorldAgents source over it (agent_conditioned
    mode); `wrap(ctx, source)` may replace that source (an injected event). The Worlds made are
    kept in `worlds` (the dream command drives the real one beside the dream for its video)."""

    def __init__(self, rig: CameraRig, frames: int, device="cpu", agents: bool = False, wrap=None):
        self.rig, self.frames, self.device, self.agents, self.wrap = rig, frames, device, agents, wrap
        self.worlds: list = []

    def __call__(self, pairs: list[tuple[str, int]]) -> tuple[Context, AgentSource | None]:
        ctx, world = world_context(pairs, self.rig, self.frames, self.device)
        self.worlds.append(world)
        source = WorldAgents(world) if self.agents else None
        if source is not None and self.wrap is not None:
            source = self.wrap(ctx, source)
        return ctx, source
