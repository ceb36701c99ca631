"""Online imitation and DAgger, straight from the batched simulator.

Each round:
  1. roll out  the current policy in the World, mixed with the expert (Ross et al. 2011, DAgger):
               in every env and step the expert's action is executed with probability beta_i
               (beta_i = beta * beta_decay^i), the policy's otherwise. The expert labels every
               visited state on the fly (plan, speed, corrective action, reason), whoever drives.
  2. take over when the policy's state becomes unsafe, like a safety driver:
                 time to collision < ttc_takeover (1.5 s)
                 lateral offset from the expert's target line > lane_takeover (1 m); with
                 OnlineConfig.lateral_takeover="left_lane" also from the ego's own lane (a policy
                 that keeps its lane where the expert pulls out drives on, its stall recorded)
                 a red light ahead (the expert is stopping for it) and the policy brakes at least
                 1 m/s^2 less than the expert
               the expert's action is executed; the frame is an intervention: recorded with
               intervention=True, and the expert_takeover trigger fires (flags, priority), as a
               fleet would upload it; every frame also carries its StepRecord (shadow disagreement
               of policy and expert, TTC, hazards: data.triggers).
  3. aggregate the frames into one dataset (D <- D u D_i, through data.Recorder), and
  4. train    the policy on the aggregate for `train_steps` more steps (train.loop.train,
               resumed each round, so optimizer state carries over).

This module holds the safety driver (DaggerDriver) and the takeover rule; the round loop, which
wires the closed-loop runner (eval), the recorder (data) and the trainer together, is
commands/dagger.py (`rollout_round`, `run_dagger`).

beta=1, beta_decay=1 is plain online imitation (the expert always drives: behaviour cloning fed by
the simulator rather than a fixed dataset); beta=0 is pure DAgger with interventions only.
Training seeds come from the training range [0, 100000) and are stored in the checkpoint.
"""

from __future__ import annotations

from dataclasses import replace

import torch

from e2edrive.core.constants import LABEL_GRID
from e2edrive.core.env import Driver
from e2edrive.core.reasons import Reason
from e2edrive.core.types import Action, Observation
from e2edrive.data.shadow import disagreement
from e2edrive.data.step_records import StepRecorder
from e2edrive.train.online_config import OnlineConfig


class DaggerDriver(Driver):
    """Executes the policy or the expert (beta mixture, safety takeovers) and records every frame
    with the expert's labels into `recorder`."""

    needs_images = False  # it renders itself: labels need depth and semantics too
    needs_privileged = True  # the expert labels every frame and takes over when unsafe

    def __init__(
        self, policy, recorder, renderer, beta: float, cfg: OnlineConfig, generator: torch.Generator
    ):
        self.policy, self.recorder, self.renderer = policy.eval(), recorder, renderer
        self.beta, self.cfg, self.gen = beta, cfg, generator
        self.name = "dagger"
        self.stats = {"frames": 0, "expert_frames": 0, "interventions": 0}

    def reset(self, batch: int, device: torch.device) -> None:
        self.policy.to(device)
        self.state = self.policy.init_state(batch, device)
        self.ttc = torch.full((batch,), float("inf"), device=device)
        self.infractions = None  # the previous step's: what led into the state being recorded
        self.records = StepRecorder()

    def observe(self, step_output) -> None:
        self.ttc = step_output.infractions.ttc
        self.infractions = step_output.infractions

    def episode_end(self, env: int, scenario: str, seed: int, result) -> None:
        self.recorder.end_episode(
            env, scenario, seed, tags=["driver=dagger", f"beta={self.beta:g}"], info=result.to_dict()
        )

    @torch.no_grad()
    def act(self, obs: Observation, privileged=None):
        from e2edrive.sim.labels import make_labels

        if privileged is None:
            raise ValueError("the DAgger driver needs the world's privileged view (world.privileged())")
        scene = privileged.scene()
        render = self.renderer.render(scene)
        cams = torch.ones(render.rgb.shape[:2], dtype=torch.bool, device=render.rgb.device)  # (B, N_cam)
        obs = replace(obs, images=render.rgb, camera_valid=cams)
        a_pi, self.state, out = self.policy.act(obs, self.state)
        e = privileged.expert()
        ttc = torch.where(obs.first, torch.full_like(self.ttc, float("inf")), self.ttc)
        ego_d = privileged.lateral_offset()
        lane_d = privileged.lane_offset()
        unsafe = takeover(ttc, ego_d, e.target_d, lane_d, e.reason, a_pi.accel, e.action.accel, self.cfg)
        coin = torch.rand(obs.batch_size, generator=self.gen).to(unsafe.device) < self.beta
        use_expert = coin | unsafe
        action = Action(
            torch.where(use_expert, e.action.steer, a_pi.steer),
            torch.where(use_expert, e.action.accel, a_pi.accel),
        )
        labels = make_labels(
            scene,
            render,
            LABEL_GRID,
            expert_plan=e.plan,
            expert_speed=e.target_speed,
            expert_action=e.action.as_tensor(),
            reason=e.reason,
            oncoming_gap=e.oncoming_gap,
        )
        live = ~privileged.done().cpu()
        # shadow mode the other way round: the policy drives, the expert watches (a safety driver)
        shadow = disagreement(
            a_pi, out.plan[..., :2], out.reason_texts(), e.action, e.plan[..., :2], e.reason_text()
        )
        infractions = self.infractions if not bool(obs.first.all()) else None
        record = self.records.record(obs, labels, action.accel, infractions, unsafe, shadow, out)
        record.ttc = ttc.to(record.ttc.device).float()
        self.recorder.add_step(
            obs, labels, action, privileged.ego_pose(), intervention=unsafe, record=record, active=live
        )
        n = int(live.sum())
        self.stats["frames"] += n
        self.stats["expert_frames"] += int((use_expert.cpu() & live).sum())
        self.stats["interventions"] += int((unsafe.cpu() & live).sum())
        return action, out.plan[..., :2], None


def takeover(
    ttc, ego_d, target_d, lane_d, reason, policy_accel, expert_accel, cfg: OnlineConfig
) -> torch.Tensor:
    """(B,) bool: the policy's state is unsafe and the expert must drive (module docstring).
    ego_d, target_d, lane_d (B,) m: the ego's offset, the expert's target offset and the centre of
    the ego's route lane, in the route's Frenet frame."""
    unsafe = ttc < cfg.ttc_takeover
    if target_d is not None:
        off = (ego_d - target_d).abs() > cfg.lane_takeover
        if cfg.lateral_takeover == "left_lane":
            off &= (ego_d - lane_d).abs() > cfg.lane_takeover
        unsafe |= off
    red = reason == int(Reason.STOP_RED_LIGHT)
    unsafe |= red & (policy_accel > expert_accel + 1.0)
    return unsafe
