"""bench.health_monitor at smoke scale: the three measurements come back with their structure, a
black camera is caught at once, and the crashed-front stop is counted."""

from __future__ import annotations

import json

from bench.health_monitor import FromStep, main
from e2edrive.sim.faults import parse_fault


def test_smoke_scale(tmp_path, capsys):
    out = tmp_path / "health.json"
    assert main(["--smoke", "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert "(a) detection latency" in text and "(c) front cameras crashed" in text
    res = json.loads(out.read_text())
    assert set(res) >= {"scale", "detection", "false_alarms", "stop", "wall_s"}

    conditions = res["detection"]["conditions"]
    assert set(conditions) == {f"{f}:{s}" for f in ("camera_crash", "frozen") for s in (1, 2, 3)}
    for s, cams in ((1, 1), (2, 2), (3, 4)):  # camera_crash kills 1, 2, 4 cameras
        crash = conditions[f"camera_crash:{s}"]
        assert crash["cameras_affected"] == cams and crash["detected"] == cams
        assert crash["latency_max"] <= 2 and crash["wrong_camera_steps"] == 0
    assert res["detection"]["failures"]["faults"] == ["camera_crash", "frozen"]

    clean = res["false_alarms"]
    assert clean["episodes"] == 1 and clean["steps"] == 30 and clean["alarm_steps"] == 0 and clean["met"]
    assert clean["alarms"] == []

    stop = res["stop"]
    assert stop["driver"] == "expert behind the health monitor" and stop["episodes"] == 1
    assert stop["stopped_without_collision"] + stop["not_stopped"] + stop["collided"] >= 1
    assert stop["rate"] == stop["stopped_without_collision"] / stop["episodes"]


def test_fault_starts_at_its_step_and_reports_what_it_changed():
    import torch

    from e2edrive.core.rig import make_rig
    from e2edrive.sim.faults import FaultContext
    from e2edrive.train.synthetic import SyntheticClips, cat_clips

    data = SyntheticClips(2, history=1, rig=make_rig(16, 32), label_grids=False)
    obs = cat_clips([data[0], data[1]]).frame(0)  # (2, ...)
    fault = FromStep(parse_fault("camera_crash:2"), at=5)
    ctx = FaultContext(key=torch.tensor([11, 12]), step=torch.tensor([4, 5]))
    out = fault.apply(obs, ctx)
    assert torch.equal(out.images[0], obs.images[0]) and not fault.changed[0].any()  # not yet
    dead = fault.changed[1]
    assert int(dead.sum()) == 2 and (out.images[1][dead] == 0).all() and not out.camera_valid[1][dead].any()
    assert torch.equal(out.images[1][~dead], obs.images[1][~dead])


def test_bad_scale_is_one_line(capsys):
    assert main(["--smoke", "--workers", "0"]) == 2
    assert main(["--faults", "speed_noise"]) == 2  # not a camera fault: refused before driving
    err = capsys.readouterr().err
    assert err.count("\n") == 2 and "Traceback" not in err
