"""Typed structures that cross room boundaries. Every tensor has a leading batch dimension B
(environments or samples) and may live on any device; shapes are in the field comments.

`Observation` is the only contract between the simulator (or a log, or the world model) and a
driving policy: it holds what a car's computer sees, never privileged state. `Labels` are the
simulator's ground truth for training the heads; the policy never receives them.
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace

import torch

from e2edrive.core.constants import MAX_ACCEL, MAX_STEER, MIN_ACCEL
from e2edrive.core.rig import CameraRig


def _map_tensors(obj, fn):
    """Apply fn to every tensor field of a dataclass (recursively), keep the rest."""
    changes = {}
    for f in fields(obj):
        v = getattr(obj, f.name)
        if isinstance(v, torch.Tensor):
            changes[f.name] = fn(v)
        elif hasattr(v, "__dataclass_fields__") and not isinstance(v, CameraRig):
            changes[f.name] = _map_tensors(v, fn)
    return replace(obj, **changes)


@dataclass
class NavGoal:
    """Navigation goal in the ego frame, as a car's navigation system would give it.

    route_points: (B, 10, 2) next points of the route centreline every 5 m from the ego, ego frame
    dist_to_turn: (B,) m along the route to the next turn (capped at 200 m)
    turn_command: (B,) long, core.constants.TurnCommand at the next intersection
    speed_limit:  (B,) m/s of the current road
    """

    route_points: torch.Tensor
    dist_to_turn: torch.Tensor
    turn_command: torch.Tensor
    speed_limit: torch.Tensor

    def to(self, device) -> NavGoal:
        return _map_tensors(self, lambda t: t.to(device))


@dataclass
class Observation:
    """What the policy sees at one control step.

    images:      (B, N_cam, 3, H, W) uint8 RGB, cameras in rig.names order
    rig:         calibration shared by the batch
    speed:       (B,) m/s, ego longitudinal speed (>= 0: no reverse)
    accel:       (B,) m/s^2, executed longitudinal acceleration at the previous step
    yaw_rate:    (B,) rad/s
    steer:       (B,) rad, current front-wheel angle
    odom:        (B, 3) (dx, dy, dyaw): the current ego pose in the previous ego frame (odometry)
    nav:         navigation goal
    first:       (B,) bool, True on the first step of an episode (streaming state must reset)
    camera_valid:(B, N_cam) bool, False where a camera frame is missing (dropped or failed)
    """

    images: torch.Tensor
    rig: CameraRig
    speed: torch.Tensor
    accel: torch.Tensor
    yaw_rate: torch.Tensor
    steer: torch.Tensor
    odom: torch.Tensor
    nav: NavGoal
    first: torch.Tensor
    camera_valid: torch.Tensor

    @property
    def batch_size(self) -> int:
        return self.speed.shape[0]

    def to(self, device) -> Observation:
        obs = _map_tensors(self, lambda t: t.to(device))
        return replace(obs, rig=self.rig.to(device))

    def ego_status(self) -> torch.Tensor:
        """(B, 4) speed, accel, yaw_rate, steer: the ego-status vector of AD-MLP-style baselines."""
        return torch.stack([self.speed, self.accel, self.yaw_rate, self.steer], -1)


@dataclass
class Action:
    """Controls for one step.

    steer: (B,) rad, front-wheel angle command, in [-MAX_STEER, MAX_STEER] (positive turns left)
    accel: (B,) m/s^2 in [MIN_ACCEL, MAX_ACCEL]; negative brakes. The car does not reverse:
           braking at standstill holds it still.
    """

    steer: torch.Tensor
    accel: torch.Tensor

    def as_tensor(self) -> torch.Tensor:
        """(B, 2) [steer, accel]."""
        return torch.stack([self.steer, self.accel], -1)

    @staticmethod
    def from_tensor(a: torch.Tensor) -> Action:
        return Action(a[..., 0], a[..., 1])

    def validated(self, clip: bool = True) -> Action:
        """Reject NaN/inf with a clear error; clip to the actuator range (clip=True, documented
        behaviour of the simulator) or raise on out-of-range values (clip=False)."""
        a = self.as_tensor()
        # torch.export cannot branch on tensor values, so an exported graph (ONNX) only clips; its
        # runtime must check for NaN itself (see e2edrive.model.export).
        if not torch.compiler.is_exporting() and not torch.isfinite(a).all():
            bad = (~torch.isfinite(a)).any(-1).nonzero().flatten().tolist()
            raise ValueError(f"action has NaN or inf in environments {bad[:10]}")
        lo = torch.tensor([-MAX_STEER, MIN_ACCEL], device=a.device, dtype=a.dtype)
        hi = torch.tensor([MAX_STEER, MAX_ACCEL], device=a.device, dtype=a.dtype)
        if not clip and ((a < lo) | (a > hi)).any():
            raise ValueError(
                f"action out of range: steer must be in [{-MAX_STEER}, {MAX_STEER}] rad, "
                f"accel in [{MIN_ACCEL}, {MAX_ACCEL}] m/s^2"
            )
        return Action.from_tensor(torch.maximum(torch.minimum(a, hi), lo))


@dataclass
class Plan:
    """Future ego poses at fixed times.

    poses: (B, PLAN_STEPS, 3) (x, y, yaw) in the current ego frame at t = PLAN_DT, 2 PLAN_DT, ...
    speed: (B,) m/s target speed
    """

    poses: torch.Tensor
    speed: torch.Tensor


@dataclass
class Labels:
    """Ground truth for one frame, ego frame at the frame's time (core.constants.LABEL_GRID).

    occupancy:      (B, nz, nx, ny) uint8 {0,1} 3D voxels around the ego
    flow:           (B, 2, nx, ny) float32 m/s (vx, vy) ego frame. Every actor moves rigidly in the
                    plane, so the flow of all occupied voxels of a column is the column's flow.
    boxes:          (B, MAX_BOXES, 9) float32 [x, y, z_center, length, width, height, yaw, vx, vy]
    box_class:      (B, MAX_BOXES) long, core.constants.ObjectClass
    box_valid:      (B, MAX_BOXES) bool
    lanes:          (B, 2, nx, ny) uint8 {0,1}: channel 0 lane lines (incl. centre line), 1 road edges
    lane_polylines: (B, MAX_LANE_POLYLINES, LANE_POLYLINE_POINTS, 2) float32 ego-frame xy
    lane_polyline_type: (B, MAX_LANE_POLYLINES) long: 0 lane line, 1 centre line, 2 road edge
    lane_polyline_valid: (B, MAX_LANE_POLYLINES) bool
    drivable:       (B, nx, ny) uint8 {0,1}
    traffic_light:  (B,) long, core.constants.LightState of the light governing the route
    depth:          (B, N_cam, H, W) float32 metres along the optical axis (inf-free: sky = max range)
    semantics:      (B, N_cam, H, W) uint8, core.constants.Semantic
    expert_plan:    (B, PLAN_STEPS, 3) expert's future poses, ego frame
    expert_speed:   (B,) m/s the expert's target speed
    expert_action:  (B, 2) [steer, accel] the expert's (corrective) action
    reason:         (B,) long, core.reasons.Reason
    oncoming_gap:   (B,) float32 m to the nearest oncoming vehicle ahead along the route (inf: none;
                    NaN: not recorded), from the expert's view; a dataset keeps it in its index
                    (column `oncoming_gap`), not in the shards. None: not given
    """

    occupancy: torch.Tensor
    flow: torch.Tensor
    boxes: torch.Tensor
    box_class: torch.Tensor
    box_valid: torch.Tensor
    lanes: torch.Tensor
    lane_polylines: torch.Tensor
    lane_polyline_type: torch.Tensor
    lane_polyline_valid: torch.Tensor
    drivable: torch.Tensor
    traffic_light: torch.Tensor
    depth: torch.Tensor
    semantics: torch.Tensor
    expert_plan: torch.Tensor
    expert_speed: torch.Tensor
    expert_action: torch.Tensor
    reason: torch.Tensor
    oncoming_gap: torch.Tensor | None = None

    def to(self, device) -> Labels:
        return _map_tensors(self, lambda t: t.to(device))


@dataclass
class Clip:
    """A training sample: T frames of history ending at the labelled frame (temporal fusion needs
    the past). Batched clips stack along B.

    obs:    Observation whose tensors are (B, T, ...) — frames oldest first, obs[:, -1] is the
            labelled frame; `first` marks an episode start inside the clip (history before it is
            padding that repeats the first frame). rig is shared.
    labels: Labels of the last frame, (B, ...)
    meta:   (B, 3) long (episode index, frame index t, seed) for tracing a sample back to its drive
    """

    obs: Observation
    labels: Labels
    meta: torch.Tensor

    def to(self, device) -> Clip:
        return Clip(self.obs.to(device), self.labels.to(device), self.meta.to(device))

    def frame(self, t: int) -> Observation:
        """Observation (B, ...) of frame t of the clip."""
        obs = _map_tensors(self.obs, lambda x: x[:, t])
        return replace(obs, rig=self.obs.rig)
