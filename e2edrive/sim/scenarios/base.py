"""What a scenario is: a named generator of episodes (a pure function of the seed) with tags, a
description, an episode length and a pass rule evaluated on the episode's record.

`EpisodeSpec` is the host-side description the World packs into tensors; `EpisodeRecord` is what
the World measured over the episode, handed to `Scenario.passed`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from e2edrive.core.constants import ObjectClass
from e2edrive.core.seeding import episode_rng
from e2edrive.sim.actors import ActorSpec, Behavior
from e2edrive.sim.map import LANE_WIDTH, RoadSpec, lane_center_d, random_curvature

EGO_START_S = 30.0  # m, the ego starts this far along the road (road behind it for the cameras)
CAR_SIZE = (4.6, 1.9, 1.5)


@dataclass
class EpisodeSpec:
    """One episode of one scenario, host side (numbers only).

    ego_lane: forward lane index of the ego (0 next to the centre line); the route follows it.
    route_end_s: arc length where the route is complete (the ego's rear axle passes it).
    steps: episode length in control steps (truncation).
    spin_slot: index in `actors` of the car that will spin out, -1 if none.
    sun_dir, ambient, fog: time of day and weather for the renderer.
    info: scenario parameters the pass rule needs (e.g. whether avoiding the puddle was safe).
    """

    road: RoadSpec
    actors: list[ActorSpec]
    ego_lane: int
    ego_speed: float
    route_end_s: float
    steps: int
    ego_s: float = EGO_START_S
    spin_slot: int = -1
    sun_dir: tuple[float, float, float] = (0.3, 0.2, 0.93)
    ambient: float = 1.0
    fog: float = 0.0
    info: dict = field(default_factory=dict)

    @property
    def ego_d(self) -> float:
        return float(lane_center_d(self.ego_lane))

    @property
    def route_length(self) -> float:
        return self.route_end_s - self.ego_s


@dataclass
class EpisodeRecord:
    """What happened in one episode (host side), measured by the World.

    collided: any collision of the ego; at_fault: a collision the ego caused (not rear-ended by a
    vehicle from behind); route_done: the ego reached route_end_s; off_road: any box corner left
    the drivable area; red_light_runs; min_gap: m, smallest bumper gap to a vehicle ahead in its
    lane; spin_braked: the ego commanded <= -2 m/s^2 between loss of traction and the first
    barrier impact (or during the whole spin if no impact); spin_impact: an impact happened;
    puddle_touched / puddle_max_speed (m/s while over it); chicken_violation: the ego's front
    reached the crossing while a chicken still had to cross its lanes; ped_violation: passed the
    pedestrian with < 1 m lateral clearance above 3 m/s; steps; seconds.
    Junctions: gap_violation: the ego's front entered a conflict zone with cross traffic that
    would reach it in under sim.junction.SAFE_GAP s; crosswalk_violation: the ego's body was on
    a crossing while a pedestrian still had to cross its lane; parked_max_speed: m/s, the
    fastest the ego drove alongside (or just before) parked cars at its lane's edge.
    """

    collided: bool
    at_fault: bool
    route_done: bool
    route_completion: float
    off_road: bool
    red_light_runs: int
    min_gap: float
    spin_braked: bool
    spin_impact: bool
    puddle_touched: bool
    puddle_max_speed: float
    chicken_violation: bool
    ped_violation: bool
    steps: int
    gap_violation: bool = False
    crosswalk_violation: bool = False
    parked_max_speed: float = 0.0


class Scenario:
    """Base class. Subclasses set name/tags/description/seconds and implement `build(rng)`; the
    default pass rule is: no collision and the route completed."""

    name: str = ""
    tags: tuple[str, ...] = ()
    description: str = ""
    seconds: float = 40.0  # episode length

    def sample(self, seed: int) -> EpisodeSpec:
        """The episode of this seed: a pure function of (name, seed)."""
        rng = episode_rng(self.name, seed)
        spec = self.build(rng)
        spec.steps = int(round(self.seconds * 10))
        return spec

    def build(self, rng: np.random.Generator) -> EpisodeSpec:
        raise NotImplementedError

    def passed(self, spec: EpisodeSpec, rec: EpisodeRecord) -> bool:
        return not rec.collided and rec.route_done


# ---- shared randomisation helpers -------------------------------------------------------------


def time_of_day(rng: np.random.Generator) -> dict:
    """Sun direction, ambient light and fog: day mostly, some dusk and night, some fog."""
    hour = rng.choice([rng.uniform(8, 17), rng.uniform(17, 20), rng.uniform(20, 23)], p=[0.7, 0.2, 0.1])
    elev = max(math.sin(math.pi * (hour - 6) / 14), -0.2)  # crude solar elevation, negative at night
    az = rng.uniform(0, 2 * math.pi)
    z = max(elev, 0.05)
    h = math.sqrt(max(1 - z * z, 0.0))
    ambient = float(np.clip(0.25 + 0.75 * max(elev, 0.0) ** 0.5, 0.25, 1.0))
    fog = float(rng.choice([0.0, rng.uniform(0.005, 0.03)], p=[0.85, 0.15]))
    return dict(sun_dir=(h * math.cos(az), h * math.sin(az), z), ambient=ambient, fog=fog)


def car_color(rng: np.random.Generator) -> tuple[int, int, int]:
    palette = [
        (200, 30, 30),
        (30, 60, 180),
        (230, 230, 230),
        (30, 30, 30),
        (120, 120, 130),
        (20, 120, 60),
        (220, 180, 40),
    ]
    return palette[int(rng.integers(len(palette)))]


def vehicle(rng, s, d, speed, v_desired=None, direction=1.0, **kw) -> ActorSpec:
    length = float(rng.uniform(4.2, 5.0))
    return ActorSpec(
        ObjectClass.VEHICLE,
        Behavior.VEHICLE,
        s=s,
        d=d,
        size=(length, 1.85, 1.5),
        color=car_color(rng),
        speed=speed,
        direction=direction,
        v_desired=speed if v_desired is None else v_desired,
        psi=0.0 if direction > 0 else math.pi,
        **kw,
    )


def road(rng, curviness, lanes_fwd=1, lanes_back=1, straight=(), speed_limit=None, **kw) -> RoadSpec:
    return RoadSpec(
        kappa=random_curvature(rng, curviness, list(straight)),
        lanes_fwd=lanes_fwd,
        lanes_back=lanes_back,
        speed_limit=float(speed_limit if speed_limit is not None else rng.uniform(11.0, 16.0)),
        **kw,
    )


def oncoming_traffic(
    rng, rd: RoadSpec, s0: float, s1: float, gap=(35.0, 80.0), p_lane=0.8
) -> list[ActorSpec]:
    """Oncoming vehicles in each oncoming lane, spaced `gap` m apart between s0 and s1."""
    out = []
    for lane in range(rd.lanes_back):
        if rng.uniform() > p_lane:
            continue
        s = s0 + rng.uniform(0, gap[1])
        while s < s1:
            v = rng.uniform(0.7, 1.0) * rd.speed_limit
            out.append(vehicle(rng, s, float(lane_center_d(lane, forward=False)), v, direction=-1.0))
            s += rng.uniform(*gap)
    return out


def side_lane_traffic(
    rng, rd: RoadSpec, ego_lane: int, s0: float, s1: float, gap=(30.0, 70.0)
) -> list[ActorSpec]:
    """Same-direction vehicles in the forward lanes other than the ego's."""
    out = []
    for lane in range(rd.lanes_fwd):
        if lane == ego_lane:
            continue
        s = s0 + rng.uniform(0, gap[1])
        while s < s1:
            v = rng.uniform(0.75, 1.0) * rd.speed_limit
            out.append(vehicle(rng, s, float(lane_center_d(lane)), v))
            s += rng.uniform(*gap)
    return out


def lane_d(lane: int) -> float:
    return -(lane + 0.5) * LANE_WIDTH


def fill_parked(spec: EpisodeSpec, n: int) -> list[ActorSpec]:
    """n parked cars on the verge beyond the right barrier, every 9 m from the start (benchmark
    load: they take part in every actor computation but never in the traffic)."""
    d = -spec.road.width_right - 3.0
    return [
        ActorSpec(
            ObjectClass.VEHICLE, Behavior.STATIC, s=5.0 + 9.0 * k, d=d, size=CAR_SIZE, color=(90, 90, 90)
        )
        for k in range(n)
    ]
