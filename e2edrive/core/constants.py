"""Named constants shared by the simulator, the labels and the network.

Everything here is a convention of the whole project (ARCHITECTURE.md): change it and every
dataset recorded before becomes incompatible, so datasets store these values and check them.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

DT = 0.1  # s, control period (10 Hz)
PLAN_STEPS = 10  # future poses in a plan
PLAN_DT = 0.2  # s between plan poses (5 Hz): the plan covers 2 s

# Ego vehicle (a mid-size sedan). The ego frame's origin is the rear-axle centre on the ground.
EGO_LENGTH = 4.7  # m
EGO_WIDTH = 1.9  # m
EGO_HEIGHT = 1.5  # m
EGO_WHEELBASE = 2.9  # m
EGO_REAR_OVERHANG = 0.9  # m, rear bumper to rear axle
EGO_BOX_CENTER_X = EGO_LENGTH / 2 - EGO_REAR_OVERHANG  # m, box centre ahead of the rear axle
MAX_STEER = 0.6  # rad, front-wheel angle limit (turning radius 2.9 / tan 0.6 = 4.2 m)
MAX_STEER_RATE = 0.7  # rad/s, steering actuator rate limit
MAX_ACCEL = 3.0  # m/s^2
MIN_ACCEL = -8.0  # m/s^2 (hard braking on dry asphalt)


class ObjectClass(enum.IntEnum):
    """Class of a labelled object. UNKNOWN is debris of a shape no class describes."""

    VEHICLE = 0
    PEDESTRIAN = 1
    CHICKEN = 2
    GOOSE = 3
    UNKNOWN = 4


NUM_OBJECT_CLASSES = len(ObjectClass)


class Semantic(enum.IntEnum):
    """Per-pixel semantic class of the renderer and of the ground-material raster."""

    SKY = 0
    ROAD = 1
    LANE_MARKING = 2  # white dashed and solid lines
    CENTER_LINE = 3  # yellow line between the two directions
    CROSSWALK = 4
    KERB = 5  # sidewalk and kerb stone
    GRASS = 6
    PUDDLE = 7
    VEHICLE = 8
    PEDESTRIAN = 9
    CHICKEN = 10
    GOOSE = 11
    TRAFFIC_LIGHT = 12
    BARRIER = 13
    DEBRIS = 14
    STOP_LINE = 15


NUM_SEMANTIC_CLASSES = len(Semantic)
# Ground materials that a vehicle may drive on (drivable space).
DRIVABLE_MATERIALS = (
    Semantic.ROAD,
    Semantic.LANE_MARKING,
    Semantic.CENTER_LINE,
    Semantic.CROSSWALK,
    Semantic.PUDDLE,
    Semantic.STOP_LINE,
)


class LightState(enum.IntEnum):
    """State of the traffic light that governs the ego's route (NONE: no light ahead within range)."""

    NONE = 0
    RED = 1
    YELLOW = 2
    GREEN = 3


class TurnCommand(enum.IntEnum):
    """Navigation command at the next intersection of the route."""

    STRAIGHT = 0
    LEFT = 1
    RIGHT = 2


@dataclass(frozen=True)
class BevGrid:
    """A bird's-eye-view grid in the ego frame: cell (i, j) covers x in [x_min + i res, ...), y likewise.

    Index order is (X, Y): axis 0 runs forward, axis 1 runs left. The default sees 48 m ahead,
    16 m behind and 24 m to each side at 0.5 m, a compromise between a chicken (0.4 m) and memory.
    """

    x_min: float = -16.0  # m
    x_max: float = 48.0  # m
    y_min: float = -24.0  # m
    y_max: float = 24.0  # m
    z_min: float = 0.0  # m
    z_max: float = 4.0  # m
    res: float = 0.5  # m per cell, horizontally
    z_res: float = 0.5  # m per voxel, vertically

    @property
    def nx(self) -> int:
        return round((self.x_max - self.x_min) / self.res)

    @property
    def ny(self) -> int:
        return round((self.y_max - self.y_min) / self.res)

    @property
    def nz(self) -> int:
        return round((self.z_max - self.z_min) / self.z_res)


LABEL_GRID = BevGrid()  # (nz, nx, ny) = (8, 128, 96)
MAX_BOXES = 32  # labelled objects per frame, nearest first
MAX_LANE_POLYLINES = 16
LANE_POLYLINE_POINTS = 20
