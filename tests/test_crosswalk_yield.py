"""Vehicles yield to pedestrians on a crosswalk (sim/actors/yielding.py), on the route and on
world lines alike, on worked examples: a straight road along +x (y = 0 its centre line, no
junction), a crosswalk at x = 80 and a pedestrian who has stepped off the right kerb (y = -5)
walking left at 1 m/s; a car in the oncoming lane (y = +1.75) comes towards -x at 10 m/s."""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pytest
import torch

from e2edrive.core.constants import LightState, ObjectClass
from e2edrive.sim.actors import (
    ActorSpec,
    Behavior,
    EgoFrenet,
    SpinState,
    actor_world_poses,
    pack_actors,
    step_actors,
)
from e2edrive.sim.actors.yielding import STOP_BEFORE, crosswalk_stop_gap
from e2edrive.sim.map import RoadSpec, build_roadmap
from e2edrive.sim.map.spec import N_REF

CAR = (4.6, 1.85, 1.5)
PED = (0.5, 0.6, 1.75)
CLEAR = (CAR[1] + PED[1]) / 2 + 0.5  # 1.725 m: how far beyond the car's lane centre it is past


def pedestrian(y: float = -5.0, walk_light: int = 0, vd: float = 1.0) -> ActorSpec:
    return ActorSpec(
        ObjectClass.PEDESTRIAN,
        Behavior.WALKER,
        s=80.0,
        d=y,
        size=PED,
        psi=math.pi / 2,
        vd=vd,
        d_end=6.0,
        walk_light=walk_light,
    )


def route_car(x: float) -> ActorSpec:
    """On the route's oncoming lane, in the route's frame."""
    return ActorSpec(
        ObjectClass.VEHICLE,
        Behavior.VEHICLE,
        s=x,
        d=1.75,
        size=CAR,
        psi=math.pi,
        speed=10.0,
        direction=-1.0,
        v_desired=10.0,
    )


def line_car(x: float) -> ActorSpec:
    """Cross traffic on a world line along -x at y = 1.75: the same lane, in its own frame
    (it does not see the route's pedestrians as leaders)."""
    return ActorSpec(
        ObjectClass.VEHICLE,
        Behavior.VEHICLE,
        s=0.0,
        d=0.0,
        size=CAR,
        speed=10.0,
        v_desired=10.0,
        line=(x, 1.75, math.pi),
    )


CARS = pytest.mark.parametrize("make", [route_car, line_car], ids=["route", "line"])


def setup(car: ActorSpec, ped: ActorSpec, set_off: bool = True):
    rm = build_roadmap([RoadSpec(kappa=np.zeros(N_REF))])
    a = pack_actors([[car, ped]], "cpu", 8)
    if set_off:  # it stepped off the kerb: its home (the kerb) is half a metre to its right
        a = replace(a, d_home=a.d_home - 0.5 * (torch.arange(8) == 1))
    return rm, a


def poses(rm, a) -> torch.Tensor:
    spin = SpinState.empty(torch.full((1,), -1))
    return actor_world_poses(a, rm, spin, has_lines=bool(a.on_line.any()))[0]


@CARS
def test_stop_gap_is_hand_computed(make):
    """Car front at x = 120 - 2.3; the pedestrian's near edge at x = 80.25; the car stops
    STOP_BEFORE = 1.5 m before it: gap = 117.7 - 80.25 - 1.5 = 35.95 m."""
    rm, a = setup(make(120.0), pedestrian())
    gap = crosswalk_stop_gap(a, poses(rm, a))
    assert gap[0, 0].item() == pytest.approx(35.95, abs=1e-3)
    assert bool(torch.isinf(gap[0, 1:]).all())  # the pedestrian and the empty slots stop for nobody


@CARS
@pytest.mark.parametrize(
    "y, set_off, walk_light, waits",
    [
        (1.75 + CLEAR - 0.05, True, 0, True),  # in the car's lane's margin: not past yet
        (1.75 + CLEAR + 0.05, True, 0, False),  # past the car's lane: the car goes
        (-5.0, False, 0, False),  # waiting at the kerb (for its green, or for the car)
        (-5.0, True, -1, False),  # not a crosswalk pedestrian (one stepping out: the leader rule)
    ],
)
def test_who_the_car_waits_for(make, y, set_off, walk_light, waits):
    rm, a = setup(make(120.0), pedestrian(y, walk_light), set_off)
    gap = crosswalk_stop_gap(a, poses(rm, a))[0, 0].item()
    assert math.isfinite(gap) == waits


def test_a_car_already_on_the_crosswalk_drives_off_it():
    rm, a = setup(line_car(80.0 + 2.3 - STOP_BEFORE - 0.3), pedestrian())  # front 1.8 m past its stop point
    assert math.isinf(crosswalk_stop_gap(a, poses(rm, a))[0, 0].item())


@CARS
def test_car_stops_before_the_crosswalk_until_the_pedestrian_has_crossed(make):
    """A slow pedestrian (0.6 m/s) clears the car's lane when y > 1.75 + CLEAR, at
    t = (3.475 + 5) / 0.6 = 14.1 s; the car (at 10 m/s, 40 m from the crosswalk) stops before it,
    waits until then, then drives on."""
    rm, a = setup(make(120.0), pedestrian(vd=0.6))
    B = 1
    ego = EgoFrenet(
        s=torch.tensor([-100.0]),
        d=torch.tensor([-1.75]),
        s_dot=torch.zeros(B),
        front_s=torch.tensor([-97.7]),
        rear_s=torch.tensor([-102.3]),
        box=torch.tensor([[-100.0, -1.75, 0.0]]),
    )
    green = torch.full((B, rm.inter_s.shape[1]), int(LightState.GREEN))
    spin = SpinState.empty(torch.full((B,), -1))
    t = torch.zeros(B)
    stopped_at, passed_at, closest = None, None, float("inf")
    for k in range(220):
        pose = poses(rm, a)
        a, spin = step_actors(
            a, spin, rm, ego, t, green, torch.zeros(B, 0, 4), torch.zeros(B, 0, dtype=torch.bool),
            False, 0.1, green, bool(a.on_line.any()), pose,
        )  # fmt: skip
        t = t + 0.1
        pose = poses(rm, a)
        front_x = pose[0, 0, 0].item() - CAR[0] / 2
        ped_y = pose[0, 1, 1].item()
        if ped_y < 1.75 + CLEAR:  # not yet past the car's lane
            closest = min(closest, front_x - (80.0 + PED[0] / 2))
        if stopped_at is None and a.speed[0, 0].item() < 0.05:
            stopped_at = k * 0.1
        if passed_at is None and front_x < 80.0:
            passed_at = k * 0.1
    assert stopped_at is not None and stopped_at < 14.1
    assert closest > 0.5  # it never came within half a metre of the pedestrian's box
    assert passed_at is not None and 14.1 < passed_at < 22.0  # and went once they had crossed
    assert not bool(a.crashed.any())
