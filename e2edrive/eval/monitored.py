"""`MonitoredDriver`: any camera driver behind the camera health monitor (model.health).

    driver = MonitoredDriver(PolicyDriver(model))      # e2edrive eval --monitor

Each step the monitor checks the frames; the cameras it flags are masked through `camera_valid`
before the inner driver sees them, and once the required front cameras are lost it takes the
longitudinal control: a smooth in-lane stop (model.health.minimal_risk_accel), with the network's
steering kept. What it decided is appended to the reason text of every environment, so videos and
reports show it: "... | cams: side_left frozen" or "stopping: front cameras lost (...)".
"""

from __future__ import annotations

from dataclasses import replace

import torch

from e2edrive.core.env import Driver
from e2edrive.core.types import Action
from e2edrive.model.health import CameraHealth, HealthConfig, HealthMonitor, minimal_risk_accel


class MonitoredDriver(Driver):
    """Wraps `inner`; `last` holds the latest CameraHealth (for tests and reports)."""

    def __init__(self, inner: Driver, config: HealthConfig | None = None):
        self.inner = inner
        self.monitor = HealthMonitor(config)
        self.name = inner.name
        self.needs_images = True  # the monitor reads the cameras even when the inner driver does not
        self.needs_privileged = inner.needs_privileged
        self.last: CameraHealth | None = None

    @property
    def model(self):  # open-loop evaluation reads the inner network
        return getattr(self.inner, "model", None)

    def reset(self, batch: int, device: torch.device) -> None:
        self.inner.reset(batch, device)
        self.monitor.reset()
        self.last = None

    def act(self, obs, privileged=None):
        health = self.monitor.check(obs)
        self.last = health
        seen = replace(obs, camera_valid=obs.camera_valid & health.ok)
        if not self.inner.needs_images:  # a state driver gets the frames it expects: none
            seen = replace(seen, images=obs.images[:, :0], camera_valid=obs.camera_valid[:, :0])
        action, plan, reasons = self.inner.act(seen, privileged)
        cfg = self.monitor.config
        stop_accel = minimal_risk_accel(action.accel, obs.accel.to(action.accel.dtype), obs.speed, cfg)
        accel = torch.where(health.stop, stop_accel, action.accel)
        texts = health.describe(tuple(obs.rig.names))
        inner = reasons or [""] * obs.batch_size
        merged = []
        for b, (r, h) in enumerate(zip(inner, texts)):
            if bool(health.stop[b]):
                merged.append(h)  # the stop overrides whatever the network meant to do
            elif h:
                merged.append(f"{r} | cams: {h}" if r else f"cams: {h}")
            else:
                merged.append(r)
        return Action(action.steer, accel), plan, merged

    def observe(self, step_output) -> None:
        self.inner.observe(step_output)

    def episode_end(self, env, scenario, seed, result) -> None:
        self.inner.episode_end(env, scenario, seed, result)
