"""Sensor and actuator faults (sim.faults): deterministic, each doing what its name says, stronger at
severity 3 than at 1, and wired into the closed-loop runner and `e2edrive eval --corrupt`."""

from __future__ import annotations

from dataclasses import replace

import pytest
import torch

from e2edrive.core.env import Driver
from e2edrive.core.types import Action
from e2edrive.eval.runner import run_closed_loop
from e2edrive.sim.faults import FAULTS, FaultInjector, LatencyDriver, fault_grid, parse_fault, parse_faults
from e2edrive.sim.faults.camera import FOG_AIRLIGHT, FREEZE_AFTER

EPISODES = [("lane_follow", 1_000_000), ("follow_lead", 1_000_001)]


@pytest.fixture(scope="module")
def frame():
    """A rendered observation of two episodes and its depth: obs.images (2, 8, 3, 64, 128)."""
    from e2edrive.sim.render import Renderer
    from e2edrive.sim.world import World

    world = World([p[0] for p in EPISODES], [p[1] for p in EPISODES])
    out = Renderer(world.rig, world.device).render(world.scene())
    return world.observation(images=out.rgb), out.depth


def corrupt(spec, obs, depth, step=0):
    steps = torch.full((obs.batch_size,), step, dtype=torch.long)
    return FaultInjector([parse_fault(spec)]).apply(obs, EPISODES, steps, depth)


def black(images):  # (B, N, 3, H, W) -> (B, N) bool: the whole frame is 0
    return (images == 0).flatten(2).all(-1)


@pytest.mark.parametrize("spec", fault_grid("all", (1, 3)))
def test_same_key_same_frames(frame, spec):
    obs, depth = frame
    a, b = corrupt(spec, obs, depth, step=7), corrupt(spec, obs, depth, step=7)
    assert torch.equal(a.images, b.images) and torch.equal(a.speed, b.speed)
    assert torch.equal(a.camera_valid, b.camera_valid)
    if spec.split(":")[0] not in ("camera_crash",):
        assert a.camera_valid.all()  # a fault is not announced: the monitor has to find it


def test_parser():
    assert parse_fault("fog:2").severity == 2 and parse_fault("rain:3").name == "rain"
    assert len(fault_grid("all")) == 3 * len(FAULTS) and len(fault_grid("all:2")) == len(FAULTS)
    assert fault_grid("fog,rain", (1,)) == ["fog:1", "rain:1"]
    for bad, msg in (("smoke:1", "unknown fault"), ("fog:4", "severity"), ("fog", "NAME:SEVERITY")):
        with pytest.raises(ValueError, match=msg):
            parse_fault(bad)
    with pytest.raises(ValueError, match="grid"):
        parse_faults(["all"])


def test_camera_crash_blacks_1_to_4_cameras_and_flags_them(frame):
    obs, depth = frame
    for sev, n in ((1, 1), (3, 4)):
        out = corrupt(f"camera_crash:{sev}", obs, depth)
        assert (black(out.images).sum(1) == n).all()
        assert torch.equal(~out.camera_valid, black(out.images))
        later = corrupt(f"camera_crash:{sev}", obs, depth, step=50)
        assert torch.equal(black(later.images), black(out.images))  # the same cameras all episode


def test_frame_lost_rate_grows_with_severity(frame):
    obs, depth = frame
    rate = {}
    for sev in (1, 3):
        lost = [
            black(corrupt(f"frame_lost:{sev}", obs, depth, step=t).images).float().mean() for t in range(60)
        ]
        rate[sev] = float(torch.stack(lost).mean())
    assert 0.03 < rate[1] < 0.2 and 0.35 < rate[3] < 0.65


def test_frozen_camera_repeats_an_old_frame(frame):
    obs, depth = frame
    inj = FaultInjector([parse_fault("frozen:1")])
    g = torch.Generator().manual_seed(0)
    outs, ins = [], []
    for t in range(FREEZE_AFTER[1] + 3):  # a new random frame every step
        img = torch.randint(0, 256, obs.images.shape, dtype=torch.uint8, generator=g)
        ins.append(img)
        outs.append(inj.apply(replace(obs, images=img), EPISODES, torch.full((2,), t), depth).images)
    last, prev = outs[-1], outs[-2]
    stuck = (last == prev).flatten(2).all(-1)  # (B, N) cameras whose frame did not change
    assert (stuck.sum(1) == 1).all()
    for b in range(2):
        cam = int(stuck[b].nonzero())
        # The frozen frame is a frame the camera really saw, at a step in [5, 15).
        seen = [t for t in range(len(ins)) if torch.equal(ins[t][b, cam], last[b, cam])]
        assert len(seen) == 1 and FREEZE_AFTER[0] <= seen[0] < FREEZE_AFTER[1]
        others = [c for c in range(8) if c != cam]
        assert torch.equal(last[b, others], ins[-1][b, others])


def _sharpness(images):  # mean absolute horizontal gradient
    x = images.float()
    return float((x[..., 1:] - x[..., :-1]).abs().mean())


def test_image_faults_at_severity_1_and_3(frame):
    obs, depth = frame
    clean = obs.images.float()

    def out(spec):
        return corrupt(spec, obs, depth, step=3).images.float()

    # motion blur removes horizontal detail, more at 3
    s0, s1, s3 = _sharpness(clean), _sharpness(out("motion_blur:1")), _sharpness(out("motion_blur:3"))
    assert s3 < s1 < s0
    # low light: mean brightness drops
    assert out("low_light:3").mean() < out("low_light:1").mean() < 0.6 * clean.mean()
    # glare brightens the front cameras only
    names = obs.rig.names
    front = [i for i, n in enumerate(names) if n.startswith("front")]
    rest = [i for i, n in enumerate(names) if not n.startswith("front")]
    g1, g3 = out("glare:1"), out("glare:3")
    assert g3[:, front].mean() > g1[:, front].mean() > clean[:, front].mean() + 5
    assert torch.equal(g3[:, rest], clean[:, rest])
    # quantisation leaves 16 then 4 levels per channel
    assert out("quantize:1").unique().numel() <= 16 and out("quantize:3").unique().numel() <= 4
    # rain: bright streak pixels, more of them at 3
    streaks = [float((out(f"rain:{s}") - 0.85 * clean > 20).float().mean()) for s in (1, 3)]
    assert 0 < streaks[0] < streaks[1]


def test_fog_brightens_far_pixels_more_than_near(frame):
    obs, depth = frame
    clean = obs.images.float()  # (B, N, 3, H, W)
    room = FOG_AIRLIGHT - clean  # how much a pixel can brighten before it is the fog's colour
    d = depth[:, :, None].expand_as(clean)
    dark = room > 30  # pixels the fog can visibly brighten (the bright sky is already near it)
    near, far = dark & (d < 10), dark & (d > 100)
    assert near.any() and far.any()
    share = {}
    for sev in (1, 3):
        lift = corrupt(f"fog:{sev}", obs, depth).images.float() - clean
        assert (lift[dark] > -1).all()  # fog only brightens these
        frac = lift / room  # share of the way to the fog colour: 1 - exp(-density * depth)
        share[sev] = (float(frac[near].mean()), float(frac[far].mean()))
        assert share[sev][1] > share[sev][0] + 0.3
    assert share[3][0] > share[1][0] and share[3][1] > 0.95  # denser fog reaches nearer pixels
    with pytest.raises(ValueError, match="depth"):
        corrupt("fog:1", obs, None)


def test_speed_noise_grows_with_severity(frame):
    obs, depth = frame
    err = [
        float(
            torch.stack(
                [(corrupt(f"speed_noise:{s}", obs, depth, t).speed - obs.speed) for t in range(50)]
            ).std()
        )
        for s in (1, 3)
    ]
    assert 0.1 < err[0] < 0.6 and 1.5 < err[1] < 4


class _Counter(Driver):
    """accel = the number of steps since the episode started, so a delay is readable off it."""

    name = "counter"

    def reset(self, batch, device):
        self.t = torch.zeros(batch)

    def act(self, obs, privileged=None):
        self.t = torch.where(obs.first, torch.zeros_like(self.t), self.t + 1)
        return Action(torch.full_like(self.t, 0.1), self.t.clone()), None, None


@pytest.mark.parametrize("k", [1, 2, 3])
def test_latency_delays_the_action_by_exactly_k_steps(frame, k):
    obs, _ = frame
    d = LatencyDriver(_Counter(), k)
    d.reset(2, torch.device("cpu"))
    steer0 = torch.tensor([0.05, -0.02])
    for t in range(8):
        o = replace(obs, first=torch.full((2,), t == 0), steer=steer0)
        a, _, _ = d.act(o)
        if t < k:  # nothing commanded yet: wheel held, no throttle
            assert torch.equal(a.accel, torch.zeros(2)) and torch.equal(a.steer, steer0)
        else:
            assert torch.equal(a.accel, torch.full((2,), float(t - k)))


class _Recorder(Driver):
    name, needs_images = "recorder", True

    def reset(self, batch, device):
        self.frames = []

    def act(self, obs, privileged=None):
        self.frames.append(obs.images.clone())
        return Action(torch.zeros(obs.batch_size), torch.zeros(obs.batch_size)), None, None


def test_runner_applies_faults_before_the_driver():
    clean, foggy = _Recorder(), _Recorder()
    run_closed_loop(clean, EPISODES, num_envs=2, progress=False, max_steps=2)
    run_closed_loop(foggy, EPISODES, num_envs=2, progress=False, max_steps=2, faults=[parse_fault("fog:3")])
    assert len(foggy.frames) == len(clean.frames) == 2
    assert foggy.frames[0].float().mean() > clean.frames[0].float().mean() + 10  # depth reached the fog


def test_eval_cli_corrupt(capsys):
    from e2edrive.commands.eval import main

    argv = ["--driver", "constant_velocity", "--suite", "lane_follow", "--seeds", "1000000:1000001"]
    assert main([*argv, "--corrupt", "fog:9", "--no-progress"]) == 2
    assert "severity" in capsys.readouterr().err
    assert main([*argv, "--corrupt", "all", "--corrupt", "fog:1", "--no-progress"]) == 2
    capsys.readouterr()
    rc = main(
        [*argv, "--corrupt", "action_latency:2", "--corrupt", "speed_noise:1", "--no-progress", "--json"]
    )
    assert rc == 0
    import json

    payload = json.loads(capsys.readouterr().out)
    assert payload["faults"] == ["action_latency:2", "speed_noise:1"] and payload["episodes"]
