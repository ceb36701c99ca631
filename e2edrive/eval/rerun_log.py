"""Log a drive to a Rerun recording (.rrd): what the car saw, where everything was, what it decided.

    e2edrive drive --checkpoint runs/tiny --scenario cut_in --seeds 0:1 --rerun cut_in.rrd
    rerun cut_in.rrd                      # the viewer: pip install 'e2edrive[viz]'

Entities (3D in the episode's world frame, z up; Rerun's `RIGHT_HAND_Z_UP`):

    world/lanes               line strips: lane lines, centre lines, road edges (per episode)
    world/actors              3D boxes of vehicles, pedestrians, animals, debris, coloured by class
    world/ego                 the ego pose (transform, every step) and its box
    world/ego/plan            the driver's planned positions (ego frame), a line strip
    world/ego/cam/NAME        each rig camera: extrinsics T_ego_from_cam and a pinhole from K
                              (OpenCV axes, RDF), with rgb, depth (m) and semantics images below
    ego/speed, ego/accel, ego/steer, ego/yaw_rate      time series (m/s, m/s^2, rad, rad/s)
    driver/reason             the driver's reason for its action (text log), scenario changes

Timelines: `step` (frames logged, across episodes) and `sim_time` (s since the episode began).
One `log_step` per control step; the static rig is logged once.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch

from e2edrive.core.constants import EGO_BOX_CENTER_X, EGO_HEIGHT, EGO_LENGTH, EGO_WIDTH, ObjectClass

INSTALL_HINT = "Rerun is not installed: pip install 'e2edrive[viz]'"
LANE_COLORS = ((235, 235, 235), (235, 200, 40), (175, 175, 170))  # lane line, centre line, road edge
EGO_COLOR = (220, 30, 30)
PLAN_COLOR = (0, 235, 255)


def import_rerun():
    """The rerun module, or an ImportError whose message says how to install it."""
    try:
        import rerun
    except ImportError:
        raise ImportError(INSTALL_HINT) from None
    return rerun


def _np(x: torch.Tensor) -> np.ndarray:
    return x.detach().float().cpu().numpy()


class RerunLogger:
    """Streams one environment of a World to `path` as it drives; `close()` flushes the file."""

    def __init__(self, path: str | os.PathLike, application: str = "e2edrive", per_episode: bool = False):
        self.rr = import_rerun()
        self.path = Path(path)
        if not self.path.parent.is_dir():
            raise FileNotFoundError(f"directory {self.path.parent} does not exist")
        self.rec = self.rr.RecordingStream(application_id="e2edrive", recording_id=application)
        self.rec.save(str(self.path))
        self.per_episode = per_episode  # True: every episode under its own root episodes/SCENARIO_SEED/
        self.root = ""
        self.step = 0
        self._episode: tuple[str, int] | None = None
        self._roots: set[str] = set()  # roots whose static entities (view, rig, ego box) are logged

    def _set_episode(self, scenario: str, seed: int, rig) -> None:
        """Entities below go to this episode's root (per_episode) with its static rig logged once."""
        self.root = f"episodes/{scenario}_{seed}/" if self.per_episode else ""
        if self.root not in self._roots:
            self._roots.add(self.root)
            self.rec.log(f"{self.root}world", self.rr.ViewCoordinates.RIGHT_HAND_Z_UP, static=True)
            self._log_rig(rig)

    def _log_rig(self, rig) -> None:
        rr = self.rr
        for name, K, T in zip(rig.names, _np(rig.K), _np(rig.T_ego_from_cam)):
            path = f"{self.root}world/ego/cam/{name}"
            self.rec.log(path, rr.Transform3D(translation=T[:3, 3], mat3x3=T[:3, :3]), static=True)
            self.rec.log(
                path,
                rr.Pinhole(
                    image_from_camera=K, resolution=[rig.width, rig.height], camera_xyz=rr.ViewCoordinates.RDF
                ),
                static=True,
            )
        ego_box = rr.Boxes3D(
            centers=[[EGO_BOX_CENTER_X, 0.0, EGO_HEIGHT / 2]],
            half_sizes=[[EGO_LENGTH / 2, EGO_WIDTH / 2, EGO_HEIGHT / 2]],
            colors=[EGO_COLOR],
            labels=["ego"],
        )
        self.rec.log(f"{self.root}world/ego/box", ego_box, static=True)

    def _log_lanes(self, scene) -> None:
        valid = scene.lane_line_valid[0].cpu().numpy()
        lines = _np(scene.lane_lines[0])[valid]  # (L, P, 2)
        kinds = scene.lane_line_type[0].cpu().numpy()[valid]
        strips = [np.concatenate([line, np.zeros((len(line), 1))], 1) for line in lines]
        colors = [LANE_COLORS[min(int(k), len(LANE_COLORS) - 1)] for k in kinds]
        self.rec.log(f"{self.root}world/lanes", self.rr.LineStrips3D(strips, colors=colors, radii=0.08))

    def _log_actors(self, scene) -> None:
        valid = scene.obj_valid[0].cpu().numpy()
        pose, size = _np(scene.obj_pose[0])[valid], _np(scene.obj_size[0])[valid]  # (n, 3) each
        cls = scene.obj_class[0].cpu().numpy()[valid]
        centers = np.stack([pose[:, 0], pose[:, 1], size[:, 2] / 2], 1)  # boxes stand on the ground
        rot = [self.rr.RotationAxisAngle(axis=[0.0, 0.0, 1.0], radians=float(y)) for y in pose[:, 2]]
        from e2edrive.sim.topdown import CLASS_COLORS

        self.rec.log(
            f"{self.root}world/actors",
            self.rr.Boxes3D(
                centers=centers,
                half_sizes=size / 2,
                rotation_axis_angles=rot,
                colors=CLASS_COLORS[torch.as_tensor(cls, dtype=torch.long)].numpy(),
                labels=[ObjectClass(int(c)).name.lower() for c in cls],
            ),
        )

    def log_step(self, world, env: int, renderer=None, plan_xy=None, reason: str | None = None) -> None:
        """Environment `env` of `world` now: poses, boxes, cameras (with `renderer`), the driver's
        plan (P, 2) ego frame and reason, ego time series."""
        rr, rec = self.rr, self.rec
        rec.set_time("step", sequence=self.step)
        rec.set_time("sim_time", duration=float(world.t[env]))
        scene = world.scene([env])
        episode = (world.scenarios[env], int(world.seeds[env]))
        if episode != self._episode:  # the map changes with the episode: lanes once per episode
            self._episode = episode
            self._set_episode(*episode, world.rig)
            self._log_lanes(scene)
            rec.log(
                f"{self.root}driver/reason",
                rr.TextLog(f"episode {episode[0]} seed {episode[1]}", level="INFO"),
            )
        root = self.root
        x, y, yaw = _np(scene.ego_pose[0]).tolist()
        rec.log(
            f"{root}world/ego",
            rr.Transform3D(
                translation=[x, y, 0.0], rotation=rr.RotationAxisAngle(axis=[0, 0, 1], radians=yaw)
            ),
        )
        self._log_actors(scene)
        if plan_xy is not None:
            plan = _np(plan_xy).reshape(-1, 2)
            strip = np.concatenate([np.zeros((1, 2)), plan], 0)  # from the rear axle
            strip = np.concatenate([strip, np.full((len(strip), 1), 0.1)], 1)  # just above the road
            rec.log(f"{root}world/ego/plan", rr.LineStrips3D([strip], colors=[PLAN_COLOR], radii=0.1))
        if renderer is not None:
            out = renderer.render(scene)
            for i, name in enumerate(world.rig.names):
                path = f"{root}world/ego/cam/{name}"
                rec.log(f"{path}/rgb", rr.Image(out.rgb[0, i].permute(1, 2, 0).cpu().numpy()))
                rec.log(f"{path}/depth", rr.DepthImage(_np(out.depth[0, i]), meter=1.0))
                rec.log(f"{path}/semantics", rr.SegmentationImage(out.semantics[0, i].cpu().numpy()))
        ego = world.ego
        for key, value in (
            ("speed", ego.speed),
            ("accel", ego.accel),
            ("steer", ego.steer),
            ("yaw_rate", ego.yaw_rate),
        ):
            rec.log(f"{root}ego/{key}", rr.Scalars(float(value[env])))
        if reason:
            rec.log(f"{root}driver/reason", rr.TextLog(reason))
        self.step += 1

    def log_dream_step(self, env, obs) -> None:
        """Every running environment of a DreamEnv (worldmodel.dream_env) at its Observation `obs`,
        each under episodes/SCENARIO_SEED/ (per_episode): the dreamed pose, the decoded cameras, the
        model's agent boxes (ego frame, under world/ego/agents) and the ego time series. A dream
        has no scene: no lanes, no ground-truth actors, no depth or semantics."""
        from e2edrive.core.constants import DT
        from e2edrive.sim.topdown import CLASS_COLORS

        rr, rec = self.rr, self.rec
        rec.set_time("step", sequence=self.step)
        done, steps = env.done.tolist(), env.steps.tolist()
        poses, boxes = _np(env.ego_pose), _np(env.boxes)
        valid, classes = env.box_valid.cpu().numpy(), env.box_class.cpu().numpy()
        for b in range(env.num_envs):
            if done[b]:
                continue
            rec.set_time("sim_time", duration=steps[b] * DT)
            self._set_episode(env.scenarios[b], int(env.seeds[b]), env.rig)
            root = self.root
            x, y, yaw = poses[b].tolist()
            rec.log(
                f"{root}world/ego",
                rr.Transform3D(
                    translation=[x, y, 0.0], rotation=rr.RotationAxisAngle(axis=[0, 0, 1], radians=yaw)
                ),
            )
            box, cls = boxes[b][valid[b]], classes[b][valid[b]]  # (n, 9) [x, y, z, l, w, h, yaw, vx, vy]
            rec.log(
                f"{root}world/ego/agents",
                rr.Boxes3D(
                    centers=box[:, :3],
                    half_sizes=box[:, 3:6] / 2,
                    rotation_axis_angles=[
                        rr.RotationAxisAngle(axis=[0.0, 0.0, 1.0], radians=float(a)) for a in box[:, 6]
                    ],
                    colors=CLASS_COLORS[torch.as_tensor(cls, dtype=torch.long)].numpy(),
                    labels=[ObjectClass(int(c)).name.lower() for c in cls],
                ),
            )
            for i, name in enumerate(env.rig.names):
                rgb = obs.images[b, i].permute(1, 2, 0).cpu().numpy()
                rec.log(f"{root}world/ego/cam/{name}/rgb", rr.Image(rgb))
            for key in ("speed", "accel", "steer", "yaw_rate"):
                rec.log(f"{root}ego/{key}", rr.Scalars(float(getattr(obs, key)[b])))
        self.step += 1

    def close(self) -> Path:
        self.rec.flush()
        self.rec.disconnect()
        return self.path


def log_episodes(
    logger: RerunLogger,
    driver,
    pairs: list[tuple[str, int]],
    device="cpu",
    rig=None,
    max_steps: int = 0,
    faults: list | None = None,
) -> None:
    """Drive `pairs` again, one environment, one episode after the other, and log every step to
    `logger` (open it with per_episode=True for one root per episode), as eval.runner's
    `record_videos` does for MP4s. Cameras are rendered clean (faults corrupt what the driver sees)."""
    from e2edrive.eval.runner import run_closed_loop
    from e2edrive.sim.render import Renderer

    renderer = None

    def on_frame(world, obs, action, plan, reasons, slot_job):
        nonlocal renderer
        if slot_job[0] < 0 or bool(world.done[0]):
            return
        if renderer is None:
            renderer = Renderer(world.rig, world.device)
        plan0 = None if plan is None else plan[0]
        logger.log_step(world, 0, renderer, plan0, reasons[0] if reasons else None)

    run_closed_loop(
        driver,
        pairs,
        num_envs=1,
        device=device,
        rig=rig,
        progress=False,
        on_frame=on_frame,
        max_steps=max_steps,
        faults=faults,
    )
