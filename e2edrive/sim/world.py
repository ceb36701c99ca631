"""`World`: B driving environments stepped together as tensors, each with its own (scenario, seed).

One step: validate and apply the ego's action (kinematic bicycle, sim.dynamics), advance the
lights and every actor (sim.actors), detect collisions (SAT, sim.collision) of the ego with the
actors and the barriers, measure the infractions (sim.metrics) and the scenario's record, and
decide termination. Everything runs on the world's device with no per-actor Python loop; the
only host sync in `step` is one flag per step while a batch holds a spin-out car (to skip its
rigid-body physics when it is not moving). Host work (drawing episodes, packing tensors) happens
only at reset. Ego collisions use exact SAT on oriented boxes; actor-actor contacts use
road-aligned bounding boxes (sim.actors.step.actor_collisions) and stop both actors.

Termination: the route is complete, the ego collided (the episode ends at the first collision:
what follows a crash is not driving data), or it left the road by more than OFF_ROAD_END m.
Truncation: the scenario's time limit. Finished environments keep being stepped (cheaply) but
their metrics freeze until `reset_envs`.

Reward (for RL users of the gymnasium view, `step_reward`): progress along the route in units of
10 m, minus 5 per collision, 3 per red-light run, 0.5 per step with a wheel off road, plus 1 on
completing the route (the REWARD_* constants).
"""

from __future__ import annotations

from dataclasses import dataclass, fields, is_dataclass

import torch

from e2edrive.core.constants import (
    DT,
    EGO_BOX_CENTER_X,
    EGO_LENGTH,
    EGO_REAR_OVERHANG,
    EGO_WIDTH,
    LightState,
    ObjectClass,
)
from e2edrive.core.device import as_device
from e2edrive.core.env import StepInfractions, StepOutput
from e2edrive.core.geometry import se2_relative, wrap_angle
from e2edrive.core.rig import CameraRig, make_rig
from e2edrive.core.types import Action, Observation
from e2edrive.sim.actors import (
    Behavior,
    EgoFrenet,
    SpinState,
    actor_capacity,
    actor_collisions,
    actor_world_poses,
    pack_actors,
    pad_actors,
    step_actors,
)
from e2edrive.sim.collision import box_corners, obb_overlap, segment_box_overlap, time_to_collision
from e2edrive.sim.dynamics import EgoState, step_ego
from e2edrive.sim.expert.planner import initial_memory, reset_memory
from e2edrive.sim.expert.privileged import PrivilegedView
from e2edrive.sim.expert.style import DrivingStyle, episode_keys
from e2edrive.sim.junction import conflict_zones, gap_violation
from e2edrive.sim.map import (
    build_roadmap,
    drivable_frenet,
    drivable_world,
    frenet_to_world,
    light_state,
    on_arms,
    world_to_frenet,
)
from e2edrive.sim.map.features import barrier_segments, lane_polylines
from e2edrive.sim.map.nav import light_poses, nav_goal
from e2edrive.sim.map.spec import STOP_LINE_SETBACK
from e2edrive.sim.metrics import EpisodeResult, MetricsAccumulator
from e2edrive.sim.scenarios import EpisodeSpec, get_scenario, signals
from e2edrive.sim.scenarios.record import RecordAccumulator
from e2edrive.sim.scene import GroundRaster, Scene

OFF_ROAD_END = 2.5  # m beyond the road edge (past the barrier line) that ends the episode
EGO_FRONT = EGO_LENGTH - EGO_REAR_OVERHANG  # m, rear axle to front bumper
SPIN_BRAKE = -2.0  # m/s^2, the braking the spinout pass rule asks for


def _assign(dst, src, idx: torch.Tensor) -> None:
    """dst.field[idx] = src.field for every tensor field, recursing into dataclasses."""
    for f in fields(dst):
        a, b = getattr(dst, f.name), getattr(src, f.name)
        if isinstance(a, torch.Tensor) and a.dim() > 0:
            a[idx] = b.to(a.dtype)
        elif is_dataclass(a):
            _assign(a, b, idx)


# Reward of one step (RL users of the gymnasium view): route progress plus the route's completion,
# minus what each infraction costs. Weights per event; an off-road wheel costs per step.
REWARD_PROGRESS_UNIT = 10.0  # m of route progress worth 1
REWARD_COLLISION = 5.0  # per step with a new or ongoing collision (the episode ends at the first)
REWARD_RED_LIGHT = 3.0  # per stop line crossed on red
REWARD_OFF_ROAD = 0.5  # per step with a corner of the ego box off the drivable area
REWARD_ROUTE_DONE = 1.0  # on the step the route is complete


@dataclass
class EgoHits:
    """The ego's contacts at one step. actors (B, N) bool: ego box overlaps actor n; vehicle,
    vru (pedestrian, chicken, goose), static (barrier, debris, anything else), any, at_fault (B,)."""

    actors: torch.Tensor
    vehicle: torch.Tensor
    vru: torch.Tensor
    static: torch.Tensor
    any: torch.Tensor
    at_fault: torch.Tensor


def ego_collisions(world: World, box: torch.Tensor, size: torch.Tensor) -> EgoHits:
    """Exact SAT overlap of the ego box (B, 3), (B, 2) with every actor and barrier segment.
    Not at fault: only vehicles that ran into the ego from behind (faster, behind its rear)."""
    a = world.actors
    hit = obb_overlap(box[:, None], size[:, None], world.actor_pose, a.size) & a.valid  # (B, N)
    is_vehicle = a.cls == int(ObjectClass.VEHICLE)
    is_vru = (
        (a.cls == int(ObjectClass.PEDESTRIAN))
        | (a.cls == int(ObjectClass.CHICKEN))
        | (a.cls == int(ObjectClass.GOOSE))
    )
    hit_barrier = (
        segment_box_overlap(world.barriers, box[:, None], size[:, None]) & world.barrier_valid
    ).any(-1)
    vehicle = (hit & is_vehicle).any(-1)
    vru = (hit & is_vru).any(-1)
    static = (hit & ~is_vehicle & ~is_vru).any(-1) | hit_barrier
    rel = se2_relative(world.ego.pose()[:, None], world.actor_pose)  # (B, N, 3)
    from_behind = is_vehicle & (rel[..., 0] < -EGO_REAR_OVERHANG) & (a.speed > world.ego.speed[:, None])
    at_fault = (hit & ~from_behind).any(-1) | hit_barrier
    return EgoHits(hit, vehicle, vru, static, vehicle | vru | static, at_fault)


def ego_off_road(world: World, box: torch.Tensor, size: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(off_road, far_off) (B,) bool: a corner of the ego box is off the drivable area; the ego's
    reference point is more than OFF_ROAD_END m beyond it (ends the episode). The corners are
    mapped to Frenet about the ego (a local rotation, exact enough over a car's length)."""
    corners = box_corners(box, size)  # (B, 4, 2)
    local = corners - torch.stack([world.ego.x, world.ego.y], -1)[:, None]
    ref_yaw = world.ego.yaw - world.ego_dpsi
    c, sn = torch.cos(ref_yaw), torch.sin(ref_yaw)
    cs = world.ego_s[:, None] + c[:, None] * local[..., 0] + sn[:, None] * local[..., 1]
    cd = world.ego_d[:, None] - sn[:, None] * local[..., 0] + c[:, None] * local[..., 1]
    off_road = ~drivable_frenet(world.rmap, cs, cd).all(-1)
    far_off = ~drivable_frenet(world.rmap, world.ego_s, world.ego_d, margin=OFF_ROAD_END)
    if world.has_arms:
        # junction arms are world rectangles, and a turn's arc is too tight for the local
        # rotation above: project the corners exactly (only maps with arms pay for it)
        rm = world.rmap
        exact_off = ~drivable_world(rm, corners, world.ego_s[:, None].expand(-1, 4)).all(-1)
        ego_xy = torch.stack([world.ego.x, world.ego.y], -1)[:, None]
        exact_far = far_off & ~on_arms(rm, ego_xy, margin=OFF_ROAD_END)[:, 0]
        arms = rm.arm_valid.any(-1)
        off_road = torch.where(arms, exact_off, off_road)
        far_off = torch.where(arms, exact_far, far_off)
    return off_road, far_off


def red_light_run(world: World, front_before: torch.Tensor, front_after: torch.Tensor) -> torch.Tensor:
    """(B,) bool: the front bumper crossed the route's stop line during this step, in the ego's
    lane, while the light was red. front_*: (B,) m, Frenet s of the front bumper."""
    rm = world.rmap
    stop_s = rm.inter_s[:, 0] - rm.inter_entry[:, 0] - STOP_LINE_SETBACK
    crossed = (front_before < stop_s) & (front_after >= stop_s) & rm.inter_valid[:, 0] & (world.ego_d < 0)
    return crossed & (world.route_light[:, 0] == int(LightState.RED))


def ego_ttc(world: World, box: torch.Tensor, size: torch.Tensor, horizon: float = 5.0) -> torch.Tensor:
    """(B,) s, time to collision with the nearest actor at constant velocities; inf if none
    within `horizon` s."""
    a = world.actors
    ttc = time_to_collision(
        box[:, None],
        size[:, None],
        world.ego.box_velocity()[:, None],
        world.actor_pose,
        a.size,
        world.actor_vel,
        horizon=horizon,
    )
    return torch.where(a.valid, ttc, torch.full_like(ttc, float("inf"))).amin(-1)


def step_reward(
    progress: torch.Tensor,
    collided: torch.Tensor,
    red_run: torch.Tensor,
    off_road: torch.Tensor,
    done_route: torch.Tensor,
) -> torch.Tensor:
    """(B,) reward of one step from its progress (m) and its events (bool), REWARD_* weights."""
    return (
        progress / REWARD_PROGRESS_UNIT
        - REWARD_COLLISION * collided.float()
        - REWARD_RED_LIGHT * red_run.float()
        - REWARD_OFF_ROAD * off_road.float()
        + REWARD_ROUTE_DONE * done_route.float()
    )


class World:
    """B environments; env b drives scenario scenarios[b] with seed seeds[b].

    min_actors pads every episode with parked cars on the far shoulder up to that many actors
    (benchmark load; it changes the episodes, so leave 0 for evaluation).
    """

    def __init__(
        self,
        scenarios: list[str],
        seeds: list[int],
        device: torch.device | str = "cpu",
        rig: CameraRig | None = None,
        min_actors: int = 0,
        substeps: int = 4,
    ):
        if len(scenarios) != len(seeds) or not scenarios:
            raise ValueError(
                f"need one scenario per seed, got {len(scenarios)} scenarios and {len(seeds)} seeds"
            )
        self.device = as_device(device)
        self.rig = rig or make_rig()
        self.min_actors, self.substeps = min_actors, substeps
        self.B = len(seeds)
        self.reset(scenarios, seeds)

    # ---------------------------------------------------------------- episodes
    def _specs(self, scenarios: list[str], seeds: list[int]) -> list[EpisodeSpec]:
        specs = []
        for name, seed in zip(scenarios, seeds):
            spec = get_scenario(name).sample(int(seed))
            if self.min_actors > len(spec.actors):
                from e2edrive.sim.scenarios.base import fill_parked

                spec.actors = spec.actors + fill_parked(spec, self.min_actors - len(spec.actors))
            specs.append(spec)
        return specs

    def _build(self, specs: list[EpisodeSpec]) -> dict:
        dev = self.device
        rmap = build_roadmap([s.road for s in specs], dev)
        barriers, barrier_valid = barrier_segments(rmap)
        f32 = dict(device=dev, dtype=torch.float32)
        ego_s = torch.tensor([s.ego_s for s in specs], **f32)
        route_d = torch.tensor([s.ego_d for s in specs], **f32)
        xy, yaw = frenet_to_world(rmap, ego_s, route_d)
        pose = torch.cat([xy, yaw[:, None]], -1)
        ego = EgoState.from_pose(pose, torch.tensor([s.ego_speed for s in specs], **f32))
        slot = torch.tensor([s.spin_slot for s in specs], device=dev, dtype=torch.long)
        return dict(
            rmap=rmap,
            barriers=barriers,
            barrier_valid=barrier_valid,
            ego=ego,
            ego_s=ego_s,
            ego_d=route_d.clone(),
            route_d=route_d,
            actors=pack_actors([s.actors for s in specs], dev, self.n_actors),
            spin=SpinState.empty(slot),
            start_s=ego_s.clone(),
            route_end_s=torch.tensor([s.route_end_s for s in specs], **f32),
            max_steps=torch.tensor([s.steps for s in specs], device=dev, dtype=torch.long),
        )

    def reset(self, scenarios: list[str] | None = None, seeds: list[int] | None = None) -> Observation:
        """Start new episodes in every environment (defaults: the same scenarios and seeds again)."""
        self.scenarios = list(scenarios if scenarios is not None else self.scenarios)
        self.seeds = [int(s) for s in (seeds if seeds is not None else self.seeds)]
        if len(self.scenarios) != self.B or len(self.seeds) != self.B:
            raise ValueError(f"reset needs {self.B} scenarios and seeds")
        self.specs = self._specs(self.scenarios, self.seeds)
        self.n_actors = actor_capacity([len(s.actors) for s in self.specs])
        for k, v in self._build(self.specs).items():
            setattr(self, k, v)
        self._scene_flags()
        dev, B = self.device, self.B
        self.t = torch.zeros(B, device=dev)
        self.steps = torch.zeros(B, dtype=torch.long, device=dev)
        self.done = torch.zeros(B, dtype=torch.bool, device=dev)
        self.first = torch.ones(B, dtype=torch.bool, device=dev)
        self.prev_pose = self.ego.pose().clone()
        self.last_action = torch.zeros(B, 2, device=dev)
        self.metrics = MetricsAccumulator(B, dev, route_length=self.route_end_s - self.start_s)
        self.record = RecordAccumulator(B, dev)
        self.has_spin = any(s.spin_slot >= 0 for s in self.specs)
        self.style = DrivingStyle.sample(self.scenarios, self.seeds, dev)
        self.episode_keys = episode_keys(self.scenarios, self.seeds, dev)
        self.expert_memory = initial_memory(self)
        self._raster: dict[int, GroundRaster] = {}  # per-environment cache, built on demand
        self._lines = None
        self._refresh_derived()
        return self.observation()

    def reset_envs(self, mask: torch.Tensor | list[int], pairs: list[tuple[str, int]]) -> None:
        """Start new episodes (scenario, seed) in the environments of mask (B,) bool or an index
        list, in order; the other environments are untouched (streams of episodes, autoreset)."""
        idx = torch.as_tensor(mask, device=self.device)
        idx = idx.nonzero().flatten() if idx.dtype == torch.bool else idx.long()
        if idx.numel() != len(pairs):
            raise ValueError(f"{idx.numel()} environments to reset but {len(pairs)} (scenario, seed) pairs")
        if idx.numel() == 0:
            return
        names, seeds = [p[0] for p in pairs], [int(p[1]) for p in pairs]
        new_specs = self._specs(names, seeds)
        need = actor_capacity([len(s.actors) for s in new_specs])
        if need > self.n_actors:
            self.n_actors = need
            self.actors = pad_actors(self.actors, need)
        built = self._build(new_specs)
        for k, v in built.items():
            cur = getattr(self, k)
            if isinstance(cur, torch.Tensor):
                cur[idx] = v
            else:
                _assign(cur, v, idx)
        for j, b in enumerate(idx.tolist()):
            self.scenarios[b], self.seeds[b], self.specs[b] = names[j], seeds[j], new_specs[j]
        self._scene_flags()
        m = torch.zeros(self.B, dtype=torch.bool, device=self.device)
        m[idx] = True
        self.t.masked_fill_(m, 0.0)
        self.steps.masked_fill_(m, 0)
        self.done.masked_fill_(m, False)
        self.first |= m
        self.prev_pose[idx] = self.ego.pose()[idx]
        self.last_action[idx] = 0.0
        self.metrics.reset(m, self.route_end_s - self.start_s)
        self.record.reset(m)
        self.has_spin = any(s.spin_slot >= 0 for s in self.specs)
        new_style = DrivingStyle.sample(names, seeds, self.device)
        for f in ("speed_factor", "headway", "reaction", "steer_noise"):
            getattr(self.style, f)[idx] = getattr(new_style, f)
        self.episode_keys[idx] = episode_keys(names, seeds, self.device)
        reset_memory(self, m)
        for b in idx.tolist():
            self._raster.pop(b, None)
        self._lines = None
        self._refresh_derived()

    def _any_lines(self) -> bool:
        return any(a.line is not None for spec in self.specs for a in spec.actors)

    def _scene_flags(self) -> None:
        """Host flags of what the batch holds, so that the step and the expert skip what no
        episode needs (and the existing scenarios run exactly as before): junction arms, cross
        traffic on lines (turning cars among it), pedestrians crossing the route, cars parked at the
        lane's edge."""
        self.has_arms = bool(self.rmap.arm_valid.any())
        self.has_lines = self._any_lines()
        self.conflict = conflict_zones(self.rmap, self.route_d, self.actors)
        actors = [(spec, a) for spec in self.specs for a in spec.actors]
        self.has_crossers = any(a.cls == ObjectClass.PEDESTRIAN and a.vd != 0 for _, a in actors)
        self.has_turns = any(a.turn_s0 != float("inf") for _, a in actors)  # cross traffic that turns
        self.has_parked = any(
            a.cls == ObjectClass.VEHICLE
            and a.behavior == Behavior.STATIC
            and a.d + a.size[1] / 2 > -spec.road.width_right - 0.5
            for spec, a in actors
        )

    # ---------------------------------------------------------------- state helpers
    def _refresh_derived(self) -> None:
        """Quantities derived from the state that the step, the expert and the scene share."""
        self.route_light, self.cross_light = light_state(self.rmap, self.t)
        self.actor_pose, self.actor_vel = actor_world_poses(
            self.actors, self.rmap, self.spin, self.has_lines, self.has_turns
        )
        ref_yaw = frenet_to_world(self.rmap, self.ego_s, self.ego_d)[1]
        self.ego_dpsi = wrap_angle(self.ego.yaw - ref_yaw)

    def ego_frenet(self) -> EgoFrenet:
        c = torch.cos(self.ego_dpsi)
        return EgoFrenet(
            s=self.ego_s + EGO_BOX_CENTER_X * c,
            d=self.ego_d,
            s_dot=self.ego.speed * c,
            front_s=self.ego_s + EGO_FRONT * c,
            rear_s=self.ego_s - EGO_REAR_OVERHANG * c,
            box=self.ego.box_pose() if self.has_lines else None,
        )

    def ego_box(self) -> tuple[torch.Tensor, torch.Tensor]:
        """(B, 3) box pose and (B, 2) size of the ego."""
        size = torch.tensor([EGO_LENGTH, EGO_WIDTH], device=self.device).expand(self.B, 2)
        return self.ego.box_pose(), size

    # ---------------------------------------------------------------- step
    def step(self, action: Action) -> StepOutput:
        """Advance every environment by DT. NaN/inf actions raise ValueError naming the
        environments; out-of-range actions are clipped to the actuator limits (documented)."""
        act = action.validated(clip=True)
        act = Action(act.steer.to(self.device).float(), act.accel.to(self.device).float())
        active = ~self.done
        spin_active_before = self.spin.active.clone()
        no_impact_before = torch.isinf(self.spin.first_impact_t)
        front_before = self.ego_frenet().front_s
        s_before = self.ego_s

        t_prev = self.t
        self._move_ego(act)
        ego_f = self.ego_frenet()
        self.actors, self.spin = step_actors(
            self.actors,
            self.spin,
            self.rmap,
            ego_f,
            t_prev,
            self.route_light,
            self.barriers,
            self.barrier_valid,
            self.has_spin,
            DT,
            self.cross_light,
            self.has_lines,
            self.actor_pose if self.has_crossers or self.has_turns else None,
            self.has_turns,
        )
        self._refresh_derived()

        box, size = self.ego_box()
        hits = ego_collisions(self, box, size)
        self.actors.crashed |= (
            actor_collisions(self.actors, self.actor_pose, self.has_lines) | hits.actors
        ) & self.actors.valid
        off_road, far_off = ego_off_road(self, box, size)
        red_run = red_light_run(self, front_before, ego_f.front_s)
        progress = self.ego_s - s_before
        done_route = self.ego_s >= self.route_end_s
        completion = ((self.ego_s - self.start_s) / (self.route_end_s - self.start_s)).clamp(0, 1)
        inf = StepInfractions(
            hits.vehicle,
            hits.vru,
            hits.static,
            off_road,
            red_run,
            ego_ttc(self, box, size),
            progress,
            self.ego.accel,
            self.ego.speed * self.ego.yaw_rate,  # lateral acceleration
            self.ego.yaw_rate,
        )
        self.metrics.update(inf, active)
        self.record.update(
            active,
            collided=hits.any,
            at_fault=hits.at_fault,
            route_done=done_route,
            route_completion=completion,
            off_road=off_road,
            red_light_run=red_run,
            gap_ahead=signals.gap_ahead(self, ego_f),
            spin_braked=spin_active_before & no_impact_before & (act.accel <= SPIN_BRAKE),
            spin_impact=self.spin.impacts > 0,
            puddle_wheel=signals.wheel_in_puddle(self),
            speed=self.ego.speed,
            chicken_violation=signals.chicken_violation(self, ego_f),
            ped_violation=signals.ped_violation(self, ego_f),
            gap_violation=gap_violation(self, s_before, self.ego_s) if self.has_lines else None,
            crosswalk_violation=signals.crosswalk_violation(self, ego_f) if self.has_crossers else None,
            parked_speed=signals.parked_speed(self, ego_f) if self.has_parked else None,
        )

        terminated = active & (done_route | hits.any | far_off)
        truncated = active & ~terminated & (self.steps >= self.max_steps)
        reward = step_reward(progress, hits.any, red_run, off_road, done_route) * active.float()
        self.done = self.done | terminated | truncated
        return StepOutput(reward, terminated, truncated, self.done.clone(), inf)

    def _move_ego(self, act: Action) -> None:
        """The ego's dynamics over DT, its Frenet coordinates, and the clock."""
        self.prev_pose = self.ego.pose()
        self.ego = step_ego(self.ego, act, DT, self.substeps)
        xy = torch.stack([self.ego.x, self.ego.y], -1)[:, None]
        s, d, _ = world_to_frenet(self.rmap, xy, self.ego_s[:, None])
        self.ego_s, self.ego_d = s[:, 0], d[:, 0]
        self.t = self.t + DT
        self.steps = self.steps + 1
        self.last_action = act.as_tensor()
        self.first = torch.zeros_like(self.first)

    def pending_chickens(self) -> torch.Tensor:
        """(B, N) chickens that still have to cross the ego's lanes (those at the kerb too)."""
        return signals.pending_chickens(self)

    # ---------------------------------------------------------------- views
    def observation(self, images: torch.Tensor | None = None) -> Observation:
        """What the policy sees. Without images (state-only use, benchmarks) `images` is an empty
        (B, 0, 3, H, W) uint8 tensor and `camera_valid` is (B, 0): a camera policy must be given
        a renderer's images, a state policy reads speed, odometry and the navigation goal."""
        B, dev = self.B, self.device
        if images is None:
            images = torch.zeros(B, 0, 3, self.rig.height, self.rig.width, dtype=torch.uint8, device=dev)
            cam_valid = torch.zeros(B, 0, dtype=torch.bool, device=dev)
        else:
            cam_valid = torch.ones(B, images.shape[1], dtype=torch.bool, device=dev)
        odom = se2_relative(self.prev_pose, self.ego.pose())
        return Observation(
            images=images,
            rig=self.rig,
            speed=self.ego.speed.clone(),
            accel=self.ego.accel.clone(),
            yaw_rate=self.ego.yaw_rate.clone(),
            steer=self.ego.steer.clone(),
            odom=odom,
            nav=nav_goal(self.rmap, self.ego.pose(), self.ego_s, self.route_d),
            first=self.first.clone(),
            camera_valid=cam_valid,
        )

    def ground_raster(self, envs: list[int] | None = None) -> GroundRaster:
        """Material raster of the given environments (all by default), built on first use per
        episode and cached; rasters of different maps are padded with GRASS to a common size."""
        from e2edrive.core.constants import Semantic
        from e2edrive.sim.map.raster import build_ground_raster, single_map

        envs = list(range(self.B)) if envs is None else list(envs)
        for b in envs:
            if b not in self._raster:
                self._raster[b] = build_ground_raster(single_map(self.rmap, b))
        rs = [self._raster[b] for b in envs]
        H = max(r.material.shape[1] for r in rs)
        W = max(r.material.shape[2] for r in rs)
        mat = torch.full((len(rs), H, W), int(Semantic.GRASS), dtype=torch.uint8, device=self.device)
        for i, r in enumerate(rs):
            mat[i, : r.material.shape[1], : r.material.shape[2]] = r.material[0]
        return GroundRaster(mat, torch.cat([r.origin for r in rs]), rs[0].res)

    def scene(self, envs: list[int] | None = None) -> Scene:
        """The renderer's and label maker's view of the current instant (world frame), of the
        given environments (all by default, in that order)."""
        envs = list(range(self.B)) if envs is None else list(envs)
        idx = torch.tensor(envs, device=self.device, dtype=torch.long)
        if self._lines is None:
            self._lines = lane_polylines(self.rmap)
        lines, ltype, lvalid = self._lines
        pos, yaw, approach, light_valid = light_poses(self.rmap)
        route = self.route_light.repeat_interleave(4, 1)
        cross = self.cross_light.repeat_interleave(4, 1)
        state = torch.where((approach < 2)[None], route, cross)
        ego_f = self.ego_frenet()
        stop_s = self.rmap.inter_s[:, 0] - self.rmap.inter_entry[:, 0] - STOP_LINE_SETBACK
        to_stop = stop_s - ego_f.front_s
        ahead = self.rmap.inter_valid[:, 0] & (to_stop > -0.5) & (to_stop < 80.0)
        ego_light = torch.where(ahead, self.route_light[:, 0], torch.zeros_like(self.route_light[:, 0]))
        ego_idx = torch.where(ahead, torch.zeros_like(ego_light), torch.full_like(ego_light, -1))
        f32 = dict(device=self.device, dtype=torch.float32)
        return Scene(
            ground=self.ground_raster(envs),
            ego_pose=self.ego.pose()[idx],
            ego_velocity=self.ego.velocity()[idx],
            obj_pose=self.actor_pose[idx],
            obj_size=self.actors.size[idx],
            obj_velocity=self.actor_vel[idx],
            obj_class=self.actors.cls[idx],
            obj_color=self.actors.color[idx],
            obj_valid=self.actors.valid[idx],
            obj_braking=self.actors.braking[idx],
            barriers=self.barriers[idx],
            barrier_valid=self.barrier_valid[idx],
            light_pos=pos[idx],
            light_yaw=yaw[idx],
            light_state=state[idx],
            light_valid=light_valid[idx],
            ego_light=ego_light[idx],
            ego_light_index=ego_idx[idx],
            lane_lines=lines[idx],
            lane_line_type=ltype[idx],
            lane_line_valid=lvalid[idx],
            sun_dir=torch.tensor([self.specs[b].sun_dir for b in envs], **f32),
            ambient=torch.tensor([self.specs[b].ambient for b in envs], **f32),
            fog=torch.tensor([self.specs[b].fog for b in envs], **f32),
        )

    def expert(self, style=None):
        """The privileged expert's output for the current state (sim.expert)."""
        from e2edrive.sim.expert import expert_drive

        return expert_drive(self, style)

    def privileged(self) -> PrivilegedView:
        """The ground-truth view handed to drivers that declare `needs_privileged` (the expert):
        they read it, never the world."""
        return PrivilegedView(self)

    def episode_result(self, b: int) -> EpisodeResult:
        """EpisodeResult of environment b's current episode, with its scenario's pass rule."""
        rec = self.record.record(b)
        passed = bool(get_scenario(self.scenarios[b]).passed(self.specs[b], rec))
        return self.metrics.episode_result(b, self.scenarios[b], self.seeds[b], passed)

    def episode_results(self) -> list[EpisodeResult]:
        """EpisodeResult of every environment's current episode."""
        return [self.episode_result(b) for b in range(self.B)]

    def episode_records(self) -> list:
        """The scenario records (what the pass rules read) of every environment."""
        return [self.record.record(b) for b in range(self.B)]

    def labels_extra(self, out=None) -> dict[str, torch.Tensor]:
        """The expert's fields of core.types.Labels for the current state: expert_plan (B, 10, 3),
        expert_speed (B,), expert_action (B, 2), reason (B,), oncoming_gap (B,). Pass the
        ExpertOutput of this step if it was already computed (the expert is stateful: call it once
        per step)."""
        out = out if out is not None else self.expert()
        return {
            "expert_plan": out.plan,
            "expert_speed": out.target_speed,
            "expert_action": out.action.as_tensor(),
            "reason": out.reason,
            "oncoming_gap": out.oncoming_gap,
        }

    @property
    def num_envs(self) -> int:
        return self.B
