"""Road maps: specs drawn per episode (spec.py), batched tensors and Frenet queries (roadmap.py),
scene geometry (features.py), the ground raster (raster.py) and the navigation goal (nav.py)."""

from e2edrive.sim.map.roadmap import (
    RoadMap,
    build_roadmap,
    drivable_frenet,
    drivable_world,
    frenet_to_world,
    lane_of,
    light_state,
    on_arms,
    sample_ref,
    world_to_frenet,
)
from e2edrive.sim.map.spec import (
    LANE_WIDTH,
    IntersectionSpec,
    PuddleSpec,
    RoadSpec,
    lane_center_d,
    random_curvature,
)

__all__ = [
    "LANE_WIDTH",
    "IntersectionSpec",
    "PuddleSpec",
    "RoadMap",
    "RoadSpec",
    "build_roadmap",
    "drivable_frenet",
    "drivable_world",
    "frenet_to_world",
    "lane_center_d",
    "lane_of",
    "light_state",
    "on_arms",
    "random_curvature",
    "sample_ref",
    "world_to_frenet",
]
