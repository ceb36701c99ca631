"""Configuration of the driving network and its presets `tiny`, `base`, `large`.

`tiny` is the default: it trains at a useful speed on a 2-core laptop CPU (the quickstart must
collect, train and evaluate in 30 minutes). `base` uses torchvision's regnet_y_400mf trunk (so
ImageNet weights can be loaded), `large` a regnet_y_800mf-sized trunk with a finer BEV grid: both
are meant for a GPU and for a rig rendered at a higher resolution (`make_config("base",
rig=make_rig(256, 512))`): their trunk has stride 32, so at the default 64 x 128 the camera
features are only 4 x 8 per camera.

Measured (tiny, default rig, one thread of a shared 2-core CPU, process time): forward + backward
of 8 clips x 2 frames x 8 cameras ~0.6 s; one `act` step at batch 1 ~20 ms.

    python -c "from e2edrive.model.driving_model import describe; print(describe('tiny'))"
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field, replace
from typing import ClassVar

from e2edrive.core.constants import LABEL_GRID, BevGrid
from e2edrive.core.rig import CameraRig, make_rig
from e2edrive.model.base import DrivingLossWeights
from e2edrive.model.planner import EGO_NAMES


@dataclass
class HeadLossWeights:
    """Weights of the auxiliary heads' losses (the driving terms are in `driving`)."""

    # Added after checkpoints were written (a checkpoint without the head trained it with weight 0)
    ADDED_FIELDS: ClassVar[dict] = {"far_traffic": 0.0, "semantics": 0.0}

    occupancy: float = 1.0
    """sigmoid focal loss on 3D occupancy voxels"""
    flow: float = 0.1
    """L1 on BEV flow (m/s) in occupied columns"""
    heatmap: float = 1.0
    """CenterNet focal loss on object-centre heatmaps"""
    box: float = 0.2
    """L1 on box regression at object centres"""
    velocity: float = 0.1
    """L1 on object velocity (m/s) at object centres"""
    lanes: float = 1.0
    """BCE on lane lines and road edges"""
    drivable: float = 1.0
    """BCE on drivable space"""
    traffic_light: float = 0.5
    """cross-entropy over LightState"""
    depth: float = 0.5
    """L1 on log depth per camera (relative error: 1 m matters at 5 m, not at 80 m)"""
    reason: float = 0.5
    """cross-entropy over Reason"""
    sentence: float = 0.2
    """token cross-entropy of the teacher-forced explanation"""
    far_traffic: float = 0.5
    """binary cross-entropy of the oncoming-gap read (model.far_traffic), on samples that have it"""
    semantics: float = 0.5
    """focal loss of the per-camera semantic presence (model.semantic_head), per class"""
    driving: DrivingLossWeights = field(default_factory=DrivingLossWeights)
    """plan, action and target-speed imitation terms"""


LIGHT_EYE_CAMERAS = ("front_main", "front_wide")  # the default rig's forward cameras: lights ahead


@dataclass
class DrivingConfig:
    """Everything that defines a DrivingModel; checkpoints store it as JSON beside the weights."""

    # Fields added after checkpoints were written, with the value that computes what those
    # checkpoints computed: a checkpoint lacking one still loads (model.checkpoint.config_from_dict).
    ADDED_FIELDS: ClassVar[dict] = {
        "planner_corridor": False,
        "corridor_teacher": 0.0,
        "control_dropout": 0.0,
        "planner_far": False,
        "light_eye": (),
        "light_eye_width": 16,
        "semantic_head": False,
        "history_grad": True,
    }

    preset: str = "tiny"
    """name of the preset this config was made from (informational)"""
    rig: CameraRig = field(default_factory=make_rig)
    """camera rig and image size the model is built for; inputs with another rig are rejected"""
    stem_width: int = 8
    """channels of the encoder's stride-2 stem"""
    widths: tuple[int, ...] = (16, 48, 96)
    """RegNet stage widths; each stage halves the resolution"""
    depths: tuple[int, ...] = (1, 1, 2)
    """Y-blocks per stage"""
    group_width: int = 8
    """channels per group of the grouped 3x3 convolutions"""
    pretrained: str | None = None
    """path of torchvision RegNet weights for the trunk (only for a matching trunk, e.g. base)"""
    channels: int = 64
    """feature width of the camera features, BEV, temporal state and planner"""
    bev_grid: BevGrid = field(default_factory=lambda: replace(LABEL_GRID, res=2.0))
    """model BEV grid: the label grid's extent x in [-16, 48), y in [-24, 24) at 2 m -> 32 x 24 cells,
    8 voxel layers of 0.5 m for occupancy (labels are pooled 4x4 onto it)"""
    bev_heights: tuple[float, ...] = (0.5, 1.5, 2.5, 3.5)
    """reference heights (m) per BEV pillar projected into the cameras"""
    bev_layers: int = 1
    """spatial cross-attention layers"""
    bev_heads: int = 4
    """attention heads of the spatial cross-attention"""
    bev_points: int = 1
    """learned sampling offsets per head and reference height"""
    bev_convs: int = 1
    """residual 3x3 conv blocks on the BEV after the cross-attention (spatial context)"""
    planner_queries: int = 4
    """learned plan queries attending to the BEV"""
    planner_layers: int = 1
    """transformer decoder layers of the planner"""
    planner_summary: int = 16
    """channels of the planner's position-specific BEV read (conv stride 2, flatten, linear); 0: off"""
    planner_cameras: tuple[str, ...] = ("front_main",)
    """cameras whose feature maps the planner also reads directly, position by position (1x1 conv
    to 8 channels, flatten, linear): how big and where the car ahead is in the image is a depth cue
    the BEV lift (geometry only) blurs at 64 x 128; () turns it off"""
    planner_light: bool = True
    """the traffic-light head's probabilities condition the planner's goal (perception feeding
    planning, as in UniAD); gradients of the driving loss reach the light head through them"""
    planner_corridor: bool = False
    """the planner's goal also reads the predicted occupancy and object heatmap at points along the
    route, in the ego's lane and the next one left (model.corridor): perception feeding planning
    where the hard cases are decided; gradients reach both heads through it"""
    planner_far: bool = False
    """a head reads the forward camera (the planner's camera read) for the nearest oncoming vehicle
    up to 125 m ahead, beyond the BEV, and its probabilities condition the planner's goal
    (model.far_traffic): when the oncoming lane is free to pass geese or debris. Needs
    planner_cameras. Opt-in since session 10: it sees (93 % of oncoming cars < 100 m called, 2 %
    false alarms on the expert's frames) but no policy passed the geese with it, and its false
    alarms where the policy itself stands became a "wait" cue on empty roads. Paired from scratch
    (2,300 steps, the same data and seeds), without it: `basic` 80.5 against 77.0, `corner` 16/56
    against 9/56 (BENCHMARKS.md)"""
    light_eye: tuple[str, ...] | None = None
    """cameras a small full-resolution CNN reads for the traffic light's colour (model.light_eye):
    its logits add to the light head's, which reads only the stride-16 encoder features where a
    lamp is a fraction of a cell. None: those of LIGHT_EYE_CAMERAS the rig has; () turns it off"""
    light_eye_width: int = 16
    """channels of the light eye's first convolutions"""
    semantic_head: bool = False
    """a per-camera head predicting which semantic classes appear in each feature cell
    (model.semantic_head), trained on the renderer's pixel labels: dense supervision that makes the
    shared encoder represent small hazards (debris, a puddle) the BEV labels barely touch. Off by
    default: from scratch it made the BEV see debris and geese 2-3x more often, but the driving did
    not measurably change and the imitation losses ended higher (action +13 %; BENCHMARKS.md,
    session 9)"""
    corridor_teacher: float = 0.0
    """training only, with planner_corridor: share of the samples whose corridor reads the ground
    truth instead of the heads' outputs (teacher forcing, model.corridor); 0: off"""
    reason_hidden: int = 64
    """hidden size of the explanation GRU"""
    ego_inputs: tuple[str, ...] = ("speed", "accel", "yaw_rate", "steer")
    """ego-status fields the planner reads, of planner.EGO_NAMES. Leaving out the previous controls
    (accel, steer) is the classic remedy for the "copycat" problem of behaviour cloning (Wen et al.
    2020), but our expert has a reaction lag (its next acceleration depends on its last), so the
    last acceleration is real information: without it the quickstart policy scored lower
    (BENCHMARKS.md, "what we tried"). ("speed", "yaw_rate") hides them"""
    control_dropout: float = 0.0
    """training only: probability that a sample's previous controls (the ego status's accel and
    steer) are hidden from the planner (zeroed after normalisation), so it must also decide from
    what it sees: the middle way between reading them (the expert's reaction lag makes them
    informative) and leaving them out (ego_inputs), as ChauffeurNet's past-motion dropout; 0: off"""
    history_grad: bool = True
    """training only: back-propagate through the encoder on the clip's earlier frames too. Off:
    they are encoded without gradients (truncated back-propagation; the temporal GRU still learns
    from every step) and a training step of `tiny` is 1.2-1.3x faster (bench.train_speed: 0.186 /
    0.200 s against 0.245 / 0.242). Off was the default in session 11, with the `quick` recipe's
    steps raised to 3,080 + 1,340 to spend the speed; the whole quickstart then drove `basic` at 71-75
    (three seed sets) and, from the same light-eye network, data and seeds, on with 2,300 + 1,000 steps
    at 83.7 against 75.1 (`corner` 9 against 16 of 56: it stops less, and collides more): back on
    (BENCHMARKS.md, session 12)"""
    camera_dropout: float = 0.0
    """training only: probability that a camera frame is dropped from the BEV attention (robustness
    to a failed camera); dropped cameras are treated exactly like camera_valid=False"""
    loss: HeadLossWeights = field(default_factory=HeadLossWeights)
    """per-task loss weights"""

    def __post_init__(self) -> None:
        if len(self.widths) != len(self.depths) or len(self.widths) < 2:
            raise ValueError(f"widths {self.widths} and depths {self.depths} need equal length >= 2")
        if self.channels % self.bev_heads:
            raise ValueError(f"channels {self.channels} must be divisible by bev_heads {self.bev_heads}")
        if not 0.0 <= self.corridor_teacher <= 1.0:
            raise ValueError(f"corridor_teacher must be in [0, 1], got {self.corridor_teacher}")
        if self.corridor_teacher > 0 and not self.planner_corridor:
            raise ValueError("corridor_teacher needs planner_corridor=True")
        if self.planner_far and not self.planner_cameras:
            raise ValueError("planner_far reads the forward camera: it needs planner_cameras")
        if not 0.0 <= self.control_dropout <= 1.0:
            raise ValueError(f"control_dropout must be in [0, 1], got {self.control_dropout}")
        if not 0.0 <= self.camera_dropout < 1.0:
            raise ValueError(f"camera_dropout must be in [0, 1), got {self.camera_dropout}")
        self.widths, self.depths = tuple(self.widths), tuple(self.depths)
        self.bev_heights = tuple(float(h) for h in self.bev_heights)
        self.ego_inputs = tuple(self.ego_inputs)
        self.planner_cameras = tuple(self.planner_cameras)
        if self.light_eye is None:
            self.light_eye = tuple(n for n in LIGHT_EYE_CAMERAS if n in self.rig.names)
        self.light_eye = tuple(self.light_eye)
        for what, names in (("planner_cameras", self.planner_cameras), ("light_eye", self.light_eye)):
            missing = [n for n in names if n not in self.rig.names]
            if missing:
                raise ValueError(f"{what} {missing} are not in the rig {list(self.rig.names)}")
        unknown = [n for n in self.ego_inputs if n not in EGO_NAMES]
        if unknown:
            raise ValueError(f"ego_inputs {unknown} unknown; choose from {EGO_NAMES}")


PRESETS: dict[str, DrivingConfig] = {
    "tiny": DrivingConfig(),
    "tiny_corridor": DrivingConfig(preset="tiny_corridor", planner_corridor=True),
    "tiny_teacher": DrivingConfig(preset="tiny_teacher", planner_corridor=True, corridor_teacher=0.5),
    # torchvision regnet_y_400mf trunk (stem 32, widths 48-104-208-440, depths 1-3-6-6), 1 m BEV.
    "base": DrivingConfig(
        preset="base",
        stem_width=32,
        widths=(48, 104, 208, 440),
        depths=(1, 3, 6, 6),
        group_width=8,
        channels=128,
        bev_grid=replace(LABEL_GRID, res=1.0),
        bev_layers=2,
        bev_heads=8,
        bev_points=2,
        planner_queries=8,
        planner_layers=2,
        reason_hidden=128,
    ),
    # regnet_y_800mf-sized trunk, the label grid's own 0.5 m resolution.
    "large": DrivingConfig(
        preset="large",
        stem_width=32,
        widths=(64, 128, 320, 768),
        depths=(1, 3, 8, 2),
        group_width=16,
        channels=256,
        bev_grid=LABEL_GRID,
        bev_layers=3,
        bev_heads=8,
        bev_points=4,
        bev_convs=3,
        planner_queries=16,
        planner_layers=3,
        reason_hidden=256,
    ),
}


def make_config(preset: str = "tiny", rig: CameraRig | None = None, **overrides) -> DrivingConfig:
    """A fresh config from a preset, optionally for another rig and with field overrides."""
    if preset not in PRESETS:
        raise KeyError(f"unknown model preset {preset!r}; known: {sorted(PRESETS)}")
    cfg = replace(copy.deepcopy(PRESETS[preset]), **overrides)  # presets stay untouched
    if rig is None:
        return cfg
    # the preset's light eye was resolved for the default rig: resolve it again for this one
    return replace(cfg, rig=rig, light_eye=cfg.light_eye if "light_eye" in overrides else None)
