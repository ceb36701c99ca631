"""`DreamEnv`: the learned world model behind core.env's BatchedEnv protocol.

It starts from a real context (K frames of a live World or of a recorded episode, see
worldmodel.context), then every `step(action)` asks the dynamics model for the next latents of
the 8 cameras, the ego's motion, the agents' boxes and the events, and the observation's images
are the decoded latents. Any non-privileged driver that drives the World drives the dream (the
observation always carries the decoded images, so camera drivers need no renderer; note that
eval.runner.run_closed_loop builds its own World and renders through `world.scene()`, so it takes
a dream only through a hook it does not have yet). Differences, each an approximation to know:

- Ego state (`ego="learned"`): odometry and speed are the model's prediction; accel = speed change
  / DT, yaw rate = dyaw / DT, and the front-wheel angle follows the command under the actuator's
  rate limit (MAX_STEER_RATE), as in the simulator but without its sub-stepped dynamics. With
  `ego="vehicle"` the ego moves by the car's own vehicle model instead (sim.dynamics.step_ego: the
  kinematic bicycle with the steering rate limit, exact arcs): a fleet knows its car's dynamics,
  and the learned ego head, integrated, drifts (run 3 on an H200: 1-3 m sideways after 3 s under
  the expert's actions), which in agent_conditioned mode puts the ego into the replayed agents'
  lanes. The dynamics still predicts the images, agents and events; only the pose is the model's.
  Here the vehicle model is the simulator's exactly, a shortcut a real fleet has only up to its
  calibration.
- Navigation: the route points are carried along as a polyline, moved by the predicted ego
  motion and resampled every 5 m ahead of the ego's projection on it (extrapolated straight
  beyond the last known point); dist_to_turn shrinks by the progress; the turn command and the
  speed limit hold. A route that bends beyond the context's 50 m is not known to the dream.
- Agents: `free` mode moves the nearest `max_agents` boxes by the model's predicted motion and
  drops those it predicts leave the labels; `agent_conditioned` mode takes them every step from
  an agent source (a World stepped beside the dream with the same actions, or a recording),
  expressed in the dream's own ego frame.
- Events: collision when the model's collision probability is > 0.5 or the ego box overlaps a box
  of the dream (typed by the box's class; a predicted collision no box explains is counted as
  static), or, in agent_conditioned mode from a source that knows the map (a World beside the
  dream), one of the map's road-edge barriers (static, exact SAT as in the simulator: the agents
  and the map are what that mode is given); off road when the off-road probability is > 0.5.
  There is no traffic-light state, so red-light runs are never counted, and TTC is not computed.
- Episode results: sim.metrics' EpisodeResult from these infractions and the progress along the
  route polyline; the route is what was left at the context's end. `passed` is "no collision
  and never off road", not the scenario's own pass rule (the dream has no scenario record).
- Images: decoded in full from the newest latents (`decode="full"`), or residually
  (`decode="residual"`, worldmodel.residual): the context's last real frame plus the decoded
  change since it, so static background keeps its real pixels instead of the tokenizer's blur.
- No privileged view: `privileged()` raises, so the expert (and any `needs_privileged` driver)
  cannot drive in a dream.
"""

from __future__ import annotations

from typing import Literal

import torch

from e2edrive.core.constants import DT, EGO_BOX_CENTER_X, EGO_LENGTH, EGO_WIDTH, MAX_STEER_RATE, ObjectClass
from e2edrive.core.env import StepInfractions, StepOutput
from e2edrive.core.geometry import se2_compose
from e2edrive.core.types import Action, NavGoal, Observation
from e2edrive.sim.collision import obb_overlap
from e2edrive.sim.map.nav import MAX_DIST_TO_TURN
from e2edrive.sim.metrics import EpisodeResult, MetricsAccumulator
from e2edrive.sim.world import step_reward
from e2edrive.worldmodel.config import check_rig
from e2edrive.worldmodel.context import AgentSource, Context, world_to_ego
from e2edrive.worldmodel.dynamics import advance_boxes
from e2edrive.worldmodel.model import WorldModel
from e2edrive.worldmodel.residual import DECODES, Decode, RgbAnchor

ROUTE_SPACING = 5.0  # m between navigation route points (sim.map.nav)
Mode = Literal["free", "agent_conditioned"]
Ego = Literal["learned", "vehicle"]


def resample_route(points: torch.Tensor, n: int = 10) -> tuple[torch.Tensor, torch.Tensor]:
    """Route points (B, P, 2) in the new ego frame -> (n points every ROUTE_SPACING m ahead of the
    ego's projection on the polyline (B, n, 2), the projection's arc length along it (B,)).
    The polyline starts at a point extrapolated one spacing behind the first and is extended
    straight past the last."""
    back = 2 * points[:, :1] - points[:, 1:2]
    ext = [points[:, -1:] + (k + 1) * (points[:, -1:] - points[:, -2:-1]) for k in range(n)]
    poly = torch.cat([back, points, *ext], 1)  # (B, M, 2)
    a, b = poly[:, :-1], poly[:, 1:]
    seg = b - a
    seg_len = torch.linalg.vector_norm(seg, dim=-1).clamp(min=1e-6)  # (B, M-1)
    u = (-(a * seg).sum(-1) / seg_len**2).clamp(0, 1)  # projection of the origin on each segment
    dist = torch.linalg.vector_norm(a + u[..., None] * seg, dim=-1)
    k = dist.argmin(-1, keepdim=True)  # (B, 1) nearest segment
    cum = torch.cat([torch.zeros_like(seg_len[:, :1]), seg_len.cumsum(-1)], -1)  # (B, M)
    s_ego = (cum.gather(1, k) + u.gather(1, k) * seg_len.gather(1, k))[:, 0]
    s_query = s_ego[:, None] + ROUTE_SPACING * torch.arange(1, n + 1, device=points.device)  # (B, n)
    j = (torch.searchsorted(cum.contiguous(), s_query.contiguous()) - 1).clamp(0, seg.shape[1] - 1)
    frac = ((s_query - cum.gather(1, j)) / seg_len.gather(1, j))[..., None]
    out = a.gather(1, j[..., None].expand(-1, -1, 2)) + frac * seg.gather(1, j[..., None].expand(-1, -1, 2))
    return out, s_ego  # the polyline starts one spacing behind the first point: at the ego


class DreamEnv:
    """B dreamed environments (see the module docstring for what is approximate).

    start(pairs) -> (Context, AgentSource | None) makes the real context of (scenario, seed)
    episodes: `worldmodel.context.world_context` for a live World, or a recorded episode.
    mode "agent_conditioned" needs a source of agent boxes from `start`; `decode` picks how the
    observation's images are decoded (full, or residual against the context's last real frame).
    """

    def __init__(
        self,
        model: WorldModel,
        start,
        pairs: list[tuple[str, int]],
        mode: Mode = "free",
        decode: Decode = "full",
        ego: Ego = "learned",
    ):
        if mode not in ("free", "agent_conditioned"):
            raise ValueError(f"mode must be 'free' or 'agent_conditioned', got {mode!r}")
        if decode not in DECODES:
            raise ValueError(f"decode must be one of {DECODES}, got {decode!r}")
        if ego not in ("learned", "vehicle"):
            raise ValueError(f"ego must be 'learned' or 'vehicle', got {ego!r}")
        self.model, self.start, self.mode, self.decode, self.ego = model.eval(), start, mode, decode, ego
        self.cfg = model.cfg
        self.rig = self.cfg.camera_rig
        self.device = next(model.parameters()).device
        self.B = len(pairs)
        self.reset([p[0] for p in pairs], [p[1] for p in pairs])

    @property
    def num_envs(self) -> int:
        return self.B

    # ---------------------------------------------------------------- episodes
    def reset(self, scenarios: list[str] | None = None, seeds: list[int] | None = None) -> Observation:
        scenarios = list(scenarios if scenarios is not None else self.scenarios)
        seeds = [int(s) for s in (seeds if seeds is not None else self.seeds)]
        if len(scenarios) != self.B or len(seeds) != self.B:
            raise ValueError(f"reset needs {self.B} scenarios and seeds")
        self.scenarios, self.seeds = scenarios, seeds
        ctx, source = self._context(list(zip(scenarios, seeds)))
        self.sources: list[tuple[AgentSource, list[int]]] = [(source, list(range(self.B)))] if source else []
        self._load(ctx, torch.arange(self.B, device=self.device), fresh=True)
        return self.observation()

    def reset_envs(self, mask: torch.Tensor | list[int], pairs: list[tuple[str, int]]) -> None:
        idx = torch.as_tensor(mask, device=self.device)
        idx = idx.nonzero().flatten() if idx.dtype == torch.bool else idx.long()
        if idx.numel() != len(pairs):
            raise ValueError(f"{idx.numel()} environments to reset but {len(pairs)} (scenario, seed) pairs")
        if idx.numel() == 0:
            return
        ctx, source = self._context(pairs)
        slots = idx.tolist()
        for _, served in self.sources:  # the old sources stop serving these slots
            served[:] = [-1 if b in slots else b for b in served]
        self.sources = [(s, served) for s, served in self.sources if any(b >= 0 for b in served)]
        if source is not None:
            self.sources.append((source, slots))
        for j, b in enumerate(slots):
            self.scenarios[b], self.seeds[b] = pairs[j][0], int(pairs[j][1])
        self._load(ctx, idx, fresh=False)

    def _context(self, pairs) -> tuple[Context, AgentSource | None]:
        ctx, source = self.start(pairs)
        check_rig(self.cfg, ctx.rig, "the context")
        K = self.cfg.context
        if ctx.images.shape[1] < K:
            raise ValueError(f"the world model needs a context of {K} frames, got {ctx.images.shape[1]}")
        if self.mode == "agent_conditioned" and source is None:
            raise ValueError("agent_conditioned mode needs an agent source (a World beside or a recording)")
        return ctx, source

    @torch.no_grad()
    def _load(self, ctx: Context, idx: torch.Tensor, fresh: bool) -> None:
        """Write the context of the environments idx into the state (fresh: allocate it)."""
        dev, K, n = self.device, self.cfg.context, idx.numel()
        latents = self.model.encode(ctx.images[:, -K:].to(dev))  # (n, K, N, C, h, w)
        A = self.cfg.max_agents if self.mode == "free" else ctx.boxes.shape[1]  # free mode moves A agents
        state = {
            "latents": latents,
            "speed": ctx.speed,
            "accel": ctx.accel,
            "yaw_rate": ctx.yaw_rate,
            "steer": ctx.steer,
            "odom": ctx.odom,
            "route": ctx.nav.route_points,
            "dist_to_turn": ctx.nav.dist_to_turn,
            "turn_command": ctx.nav.turn_command,
            "speed_limit": ctx.nav.speed_limit,
            "boxes": ctx.boxes[:, :A],
            "box_class": ctx.box_class[:, :A],
            "box_valid": ctx.box_valid[:, :A],
            "ego_pose": ctx.ego_pose,
            "steps_left": ctx.steps_left,
            "steps": torch.zeros(n, dtype=torch.long),
            "done": torch.zeros(n, dtype=torch.bool),
            "first": torch.ones(n, dtype=torch.bool),
            "progress": torch.zeros(n),
        }
        if self.decode == "residual":  # the anchor: the last real frame, (n, N, 3, H, W) each
            anchor = self.model.rgb_anchor(ctx.images[:, -1].to(dev), latents[:, -1])
            state["anchor_real"], state["anchor_decoded"] = anchor
        for name, value in state.items():
            value = value.to(dev)
            if fresh:
                setattr(self, name, value.clone())
            else:
                getattr(self, name)[idx] = value.to(getattr(self, name).dtype)
        if fresh:
            self.metrics = MetricsAccumulator(self.B, dev, route_length=ctx.route_left.to(dev))
        else:
            mask = torch.zeros(self.B, dtype=torch.bool, device=dev)
            mask[idx] = True
            route_length = self.metrics.route_length.clone()
            route_length[idx] = ctx.route_left.to(dev).float()
            self.metrics.reset(mask, route_length)
        self._images = None

    # ---------------------------------------------------------------- step
    @torch.no_grad()
    def step(self, action: Action) -> StepOutput:
        """One dreamed control step (DT). NaN actions raise; out-of-range ones are clipped."""
        act = action.validated(clip=True)
        a = act.as_tensor().to(self.device).float()  # (B, 2)
        active = ~self.done
        out = self.model.dynamics(
            self.latents, a, self.odom, self.speed, self.boxes, self.box_class, self.box_valid
        )
        if self.ego == "vehicle":
            odom, speed, steer = self._vehicle_motion(act)
        else:
            odom, speed = out.ego_motion[:, :3], out.ego_motion[:, 3]
            steer = self.steer + (a[:, 0] - self.steer).clamp(-MAX_STEER_RATE * DT, MAX_STEER_RATE * DT)
        self.accel = (speed - self.speed) / DT
        self.yaw_rate = odom[:, 2] / DT
        self.steer = steer
        self.speed, self.odom = speed, odom
        self.ego_pose = se2_compose(self.ego_pose, odom)
        self.latents = torch.cat([self.latents[:, 1:], out.latent[:, None]], 1)
        self._images = None
        self._move_agents(out, Action(a[:, 0], a[:, 1]))
        progress = self._move_route(odom)

        event_p = torch.sigmoid(out.event_logits)  # (B, 2) collision, off road
        hit_v, hit_vru, hit_static = self._box_hits()
        predicted = (event_p[:, 0] > 0.5) & ~(hit_v | hit_vru | hit_static)
        collided = hit_v | hit_vru | hit_static | predicted
        off_road = event_p[:, 1] > 0.5
        zero = torch.zeros(self.B, dtype=torch.bool, device=self.device)
        inf = StepInfractions(
            hit_v,
            hit_vru,
            hit_static | predicted,
            off_road,
            zero,
            torch.full((self.B,), float("inf"), device=self.device),
            progress,
            self.accel,
            self.speed * self.yaw_rate,
            self.yaw_rate,
        )
        self.metrics.update(inf, active)
        self.progress = self.progress + progress * active
        self.steps = self.steps + 1
        self.first = torch.zeros_like(self.first)
        route_done = self.progress >= self.metrics.route_length
        terminated = active & (collided | off_road | route_done)
        truncated = active & ~terminated & (self.steps >= self.steps_left)
        reward = step_reward(progress, collided, zero, off_road, route_done) * active.float()
        self.done = self.done | terminated | truncated
        return StepOutput(reward, terminated, truncated, self.done.clone(), inf)

    def _vehicle_motion(self, act: Action) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(odom (B, 3), speed (B,), steer (B,)) of one step of the car's vehicle model from the
        current ego state: odometry is the new pose in the current ego frame."""
        from e2edrive.sim.dynamics import EgoState, step_ego

        zeros = torch.zeros(self.B, 3, device=self.device)
        state = EgoState.from_pose(zeros, self.speed.clamp(min=0.0), self.steer.float())
        new = step_ego(state, Action(act.steer.to(self.device).float(), act.accel.to(self.device).float()))
        return new.pose(), new.speed, new.steer

    def _move_agents(self, out, action: Action) -> None:
        A = self.cfg.max_agents
        if self.mode == "free":
            keep = torch.sigmoid(out.box_keep_logit) > 0.5
            self.boxes = advance_boxes(self.boxes[:, :A], out.box_motion, self.odom)
            self.box_valid = self.box_valid[:, :A] & keep
            self.box_class = self.box_class[:, :A]
            self.boxes = self.boxes * self.box_valid[..., None]
            return
        for source, served in self.sources:
            rows, src_rows = _served_rows(served)
            # rows the source no longer serves are stepped with zeros (their boxes are ignored)
            src_action = torch.zeros(len(served), 2, device=self.device)
            src_action[src_rows] = action.as_tensor()[rows]
            got = source.next_boxes(Action(src_action[:, 0], src_action[:, 1]))
            pose = self.ego_pose[rows]
            boxes = world_to_ego(got.boxes[src_rows].to(self.device), pose)
            dist = torch.linalg.vector_norm(boxes[..., :2], dim=-1)
            valid = got.valid[src_rows].to(self.device)
            order = torch.where(valid, dist, torch.full_like(dist, float("inf"))).argsort(-1)  # nearest first
            self.boxes[rows] = boxes.gather(1, order[..., None].expand_as(boxes)) * 1.0
            self.box_class[rows] = got.box_class[src_rows].to(self.device).gather(1, order)
            self.box_valid[rows] = valid.gather(1, order)

    def _move_route(self, odom: torch.Tensor) -> torch.Tensor:
        """Move the route into the new ego frame and resample it; (B,) m of progress along it."""
        c, s = torch.cos(odom[:, 2])[:, None], torch.sin(odom[:, 2])[:, None]
        x, y = self.route[..., 0] - odom[:, :1], self.route[..., 1] - odom[:, 1:2]
        moved = torch.stack([c * x + s * y, -s * x + c * y], -1)
        self.route, progress = resample_route(moved, self.route.shape[1])
        # the navigation caps the distance at MAX_DIST_TO_TURN, meaning "no turn known": it stays
        far = self.dist_to_turn >= MAX_DIST_TO_TURN
        self.dist_to_turn = torch.where(far, self.dist_to_turn, (self.dist_to_turn - progress).clamp(min=0.0))
        return progress

    def _box_hits(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(B,) bool each: the ego box overlaps a vehicle / pedestrian or animal / other box."""
        ego = torch.zeros(self.B, 1, 3, device=self.device)
        ego[..., 0] = EGO_BOX_CENTER_X
        size = torch.tensor([EGO_LENGTH, EGO_WIDTH], device=self.device)
        poses = self.boxes[..., [0, 1, 6]]
        hit = obb_overlap(ego, size, poses, self.boxes[..., 3:5]) & self.box_valid  # (B, A)
        barrier = self._barrier_hits(size)
        cls = self.box_class
        vehicle = cls == int(ObjectClass.VEHICLE)
        vru = (
            (cls == int(ObjectClass.PEDESTRIAN))
            | (cls == int(ObjectClass.CHICKEN))
            | (cls == int(ObjectClass.GOOSE))
        )
        return (hit & vehicle).any(-1), (hit & vru).any(-1), (hit & ~vehicle & ~vru).any(-1) | barrier

    def _barrier_hits(self, size: torch.Tensor) -> torch.Tensor:
        """(B,) bool: the ego box touches a road-edge barrier of a source that gives the map."""
        from e2edrive.sim.collision import segment_box_overlap

        hit = torch.zeros(self.B, dtype=torch.bool, device=self.device)
        if self.mode != "agent_conditioned":
            return hit
        centre = torch.tensor([EGO_BOX_CENTER_X, 0.0, 0.0], device=self.device).expand(self.B, 3)
        box = se2_compose(self.ego_pose, centre)  # (B, 3) the ego box's pose, world frame
        for source, served in self.sources:
            barriers = source.barriers()
            if barriers is None:
                continue
            rows, src_rows = _served_rows(served)
            segs, valid = (t[src_rows].to(self.device) for t in barriers)
            touch = segment_box_overlap(segs, box[rows][:, None], size.expand(len(rows), 1, 2)) & valid
            hit[rows] = touch.any(-1)
        return hit

    # ---------------------------------------------------------------- views
    @torch.no_grad()
    def observation(self, images: torch.Tensor | None = None) -> Observation:
        """The dreamed Observation: images are the decoded latents of the newest frame, in full or
        residually (a dream has no renderer, so `images` must be None)."""
        if images is not None:
            raise ValueError("a dream renders its own images: call observation() without images")
        if self._images is None:
            anchor = RgbAnchor(self.anchor_real, self.anchor_decoded) if self.decode == "residual" else None
            self._images = self.model.decode_rgb(self.latents[:, -1], anchor)  # (B, N, 3, H, W)
        return Observation(
            images=self._images,
            rig=self.rig,
            speed=self.speed.clone(),
            accel=self.accel.clone(),
            yaw_rate=self.yaw_rate.clone(),
            steer=self.steer.clone(),
            odom=self.odom.clone(),
            nav=NavGoal(
                self.route.clone(),
                self.dist_to_turn.clone(),
                self.turn_command.clone(),
                self.speed_limit.clone(),
            ),
            first=self.first.clone(),
            camera_valid=torch.ones(self.B, self.rig.num_cameras, dtype=torch.bool, device=self.device),
        )

    def privileged(self):
        raise RuntimeError(
            "a dream has no privileged view (no ground truth behind the decoded images): drivers that "
            "need it, such as the expert, cannot drive in the world model"
        )

    def episode_results(self) -> list[EpisodeResult]:
        """EpisodeResult of every environment from the dreamed infractions and progress
        (module docstring: passed = no collision and never off road)."""
        raw = self.metrics.results(self.scenarios, self.seeds)
        return [_with_passed(r) for r in raw]


def _served_rows(served: list[int]) -> tuple[list[int], list[int]]:
    """A source's slot -> environment list (-1: no longer served) -> (the environments it serves,
    their slots in the source)."""
    return [b for b in served if b >= 0], [i for i, b in enumerate(served) if b >= 0]


def _with_passed(r: EpisodeResult) -> EpisodeResult:
    r.passed = r.n_collisions == 0 and not r.off_road
    return r
