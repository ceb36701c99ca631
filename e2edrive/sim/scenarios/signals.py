"""Per-step signals of the pass rules, measured on the World's state (all (B,) bool or float,
no host sync): the gap to the car ahead, wheels in a puddle, chickens that still have to cross,
passing a pedestrian too close and too fast."""

from __future__ import annotations

import torch

from e2edrive.core.constants import EGO_WHEELBASE, EGO_WIDTH, ObjectClass
from e2edrive.sim.actors import Behavior
from e2edrive.sim.actors.state import walk_light_green
from e2edrive.sim.scenarios.obstacles import PED_CLEARANCE, PED_SLOW

PARKED_LEAD = 5.0  # m before a parked car from which the ego counts as passing it
CROSSER_LOOKAHEAD = 1.5  # s: a pedestrian about to step off the kerb this soon counts as crossing

WHEEL_X = (0.0, 0.0, EGO_WHEELBASE, EGO_WHEELBASE)  # m ahead of the rear axle
WHEEL_Y = (0.8, -0.8, 0.8, -0.8)  # m to the left (half the track)


def gap_ahead(world, ego_f) -> torch.Tensor:
    """Bumper gap (B,) to the nearest same-direction vehicle overlapping the ego's lane; inf if none."""
    a = world.actors
    vehicle = a.valid & (a.cls == int(ObjectClass.VEHICLE)) & (a.direction > 0)
    if world.has_lines:
        vehicle = vehicle & ~a.on_line
    in_lane = (a.d - world.ego_d[:, None]).abs() < (a.size[..., 1] + EGO_WIDTH) / 2
    gap = a.s - a.size[..., 0] / 2 - ego_f.front_s[:, None]
    ok = vehicle & in_lane & (gap > -1.0)
    return torch.where(ok, gap, torch.full_like(gap, float("inf"))).amin(-1)


def wheel_in_puddle(world) -> torch.Tensor:
    """(B,) a tyre contact point lies inside a puddle's ellipse (wheels, not the body, get wet)."""
    c, s = torch.cos(world.ego_dpsi)[:, None], torch.sin(world.ego_dpsi)[:, None]
    lx = torch.tensor(WHEEL_X, device=world.device)
    ly = torch.tensor(WHEEL_Y, device=world.device)
    ws = world.ego_s[:, None] + c * lx - s * ly  # (B, 4) wheel Frenet coordinates
    wd = world.ego_d[:, None] + s * lx + c * ly
    p = world.rmap.puddle  # (B, Q, 4)
    u = (ws[:, :, None] - p[:, None, :, 0]) / p[:, None, :, 2]
    v = (wd[:, :, None] - p[:, None, :, 1]) / p[:, None, :, 3]
    return ((u**2 + v**2 <= 1.0) & world.rmap.puddle_valid[:, None]).flatten(1).any(-1)


def pending_chickens(world) -> torch.Tensor:
    """(B, N) chickens that have not yet crossed the ego's lanes, including those still waiting at
    the kerb: the flock intends to cross."""
    a = world.actors
    chicken = a.valid & (a.cls == int(ObjectClass.CHICKEN)) & (a.vd != 0) & ~a.walk_done
    wr = world.rmap.width_right[:, None]
    not_past = torch.where(a.vd > 0, a.d - a.size[..., 1] / 2 < 0.3, a.d + a.size[..., 1] / 2 > -wr - 0.3)
    return chicken & not_past


def chicken_violation(world, ego_f) -> torch.Tensor:
    """(B,) the ego's body spans a crossing line while a chicken still has to cross."""
    a = world.actors
    spans = (ego_f.front_s[:, None] > a.s - 0.5) & (ego_f.rear_s[:, None] < a.s + 0.5)
    return (pending_chickens(world) & spans).any(-1)


def ped_violation(world, ego_f) -> torch.Tensor:
    """(B,) alongside a pedestrian with less than PED_CLEARANCE lateral clearance above PED_SLOW."""
    a = world.actors
    ped = a.valid & (a.cls == int(ObjectClass.PEDESTRIAN)) & (a.vd == 0)
    half_len = a.size[..., 0] / 2
    along = (ego_f.front_s[:, None] > a.s - half_len) & (ego_f.rear_s[:, None] < a.s + half_len)
    clearance = (a.d - world.ego_d[:, None]).abs() - EGO_WIDTH / 2 - a.size[..., 1] / 2
    close = ped & along & (clearance < PED_CLEARANCE)
    return (close & (world.ego.speed[:, None] > PED_SLOW)).any(-1)


def pending_crossers(world) -> torch.Tensor:
    """(B, N) pedestrians crossing the route (on a crosswalk, or stepping out) who have set off, or
    will within CROSSER_LOOKAHEAD s (their walk light green), and have not yet cleared the ego's
    lanes."""
    a = world.actors
    ped = (
        a.valid
        & (a.cls == int(ObjectClass.PEDESTRIAN))
        & (a.vd != 0)
        & ~a.walk_done
        & ~a.on_line
        & ~a.crashed
    )
    started = world.t[:, None] >= a.trigger_t + a.start_delay - CROSSER_LOOKAHEAD
    # waiting at the kerb for its walk light: not crossing yet (one already crossing is)
    on_way = walk_light_green(a, world.route_light[:, 0], world.cross_light[:, 0]) | (a.d != a.d_home)
    started = started & on_way
    wr = world.rmap.width_right[:, None]
    not_past = torch.where(a.vd > 0, a.d - a.size[..., 1] / 2 < 0.3, a.d + a.size[..., 1] / 2 > -wr - 0.3)
    return ped & started & not_past


def crosswalk_violation(world, ego_f) -> torch.Tensor:
    """(B,) the ego's body is on a pedestrian's crossing line while that pedestrian, having
    stepped off the kerb, still has to cross the ego's lanes."""
    a = world.actors
    reach = a.size[..., 0] / 2 + 0.5
    spans = (ego_f.front_s[:, None] > a.s - reach) & (ego_f.rear_s[:, None] < a.s + reach)
    set_off = a.d != a.d_home
    return (pending_crossers(world) & set_off & spans).any(-1)


def parked_speed(world, ego_f) -> torch.Tensor:
    """(B,) the ego's speed while its front is alongside, or within PARKED_LEAD m before, a parked
    car at the edge of its lanes; 0 elsewhere."""
    a = world.actors
    parked = (
        a.valid
        & (a.cls == int(ObjectClass.VEHICLE))
        & (a.behavior == int(Behavior.STATIC))
        & (a.d + a.size[..., 1] / 2 > -world.rmap.width_right[:, None] - 0.5)
    )
    half = a.size[..., 0] / 2
    near = (ego_f.front_s[:, None] > a.s - half - PARKED_LEAD) & (ego_f.rear_s[:, None] < a.s + half)
    return torch.where((parked & near).any(-1), world.ego.speed, torch.zeros_like(world.ego.speed))
