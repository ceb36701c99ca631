"""`drive --rerun OUT.rrd`: the recording read back holds the eight cameras as pinholes with the
rig's calibration, and one entry per control step for poses, boxes, images and time series."""

import json
import sys
from collections import defaultdict

import numpy as np
import pytest

from e2edrive.cli import main as cli_main
from e2edrive.core.rig import make_rig

STEPS = 12


def _read(path):
    rr = pytest.importorskip("rerun")
    static, rows, steps = defaultdict(dict), defaultdict(int), defaultdict(list)
    for chunk in rr.chunk.RrdReader(path).stream().to_chunks():
        batch = chunk.to_record_batch()
        if chunk.is_static:
            static[chunk.entity_path].update({n: batch.column(n) for n in batch.schema.names})
        else:
            rows[chunk.entity_path] += chunk.num_rows
            steps[chunk.entity_path] += batch.column("step").to_pylist()
    return static, rows, steps


def test_drive_rerun_logs_cameras_boxes_lanes_and_one_entry_per_step(tmp_path, capsys):
    pytest.importorskip("rerun", reason="Rerun is optional: pip install 'e2edrive[viz]'")
    path = tmp_path / "cut_in.rrd"
    argv = ["drive", "--scenario", "cut_in", "--seeds", "0", "--max-steps", str(STEPS), "--num-envs", "1"]
    assert cli_main([*argv, "--threads", "1", "--rerun", str(path)]) == 0
    static, rows, steps = _read(path)
    rig = make_rig()
    pinholes = sorted(p for p, cols in static.items() if "Pinhole:image_from_camera" in cols)
    assert pinholes == sorted(f"/world/ego/cam/{n}" for n in rig.names)
    front = static["/world/ego/cam/front_main"]
    K = np.array(front["Pinhole:image_from_camera"].to_pylist()[0]).reshape(3, 3).T  # stored column-major
    np.testing.assert_allclose(K, rig.K[0].numpy(), rtol=1e-6)
    t = np.array(front["Transform3D:translation"].to_pylist()[0]).reshape(3)
    np.testing.assert_allclose(t, rig.T_ego_from_cam[0, :3, 3], rtol=1e-6)
    per_step = ["/world/ego", "/world/actors", "/world/ego/plan", "/ego/speed", "/ego/steer"]
    per_step += [f"/world/ego/cam/{n}/{kind}" for n in rig.names for kind in ("rgb", "depth", "semantics")]
    for entity in per_step:
        assert rows[entity] == STEPS, entity
        assert sorted(steps[entity]) == list(range(STEPS)), entity
    assert rows["/world/lanes"] == 1  # one episode, one map
    assert rows["/driver/reason"] == STEPS + 1  # the episode's start, then the expert's reason each step


def test_missing_rerun_is_a_one_line_install_hint(tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "rerun", None)  # `import rerun` now raises ImportError
    rc = cli_main(["drive", "--scenario", "lane_follow", "--seeds", "0", "--rerun", str(tmp_path / "x.rrd")])
    err = capsys.readouterr().err
    assert rc == 2 and "pip install 'e2edrive[viz]'" in err and len(err.strip().splitlines()) == 1


def test_eval_rerun_logs_the_failed_episodes_one_root_each(tmp_path, capsys):
    pytest.importorskip("rerun", reason="Rerun is optional: pip install 'e2edrive[viz]'")
    path = tmp_path / "failures.rrd"
    argv = ["eval", "--driver", "constant_velocity", "--suite", "cut_in", "--seeds", "1000000:1000001"]
    argv += ["--max-steps", str(STEPS), "--no-progress", "--json"]  # cut short: a partial result fails
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # eval has no --threads; the drive tests before may have set 2
    try:
        assert cli_main([*argv, "--rerun", str(path)]) == 0
    finally:
        torch.set_num_threads(threads)
    assert not json.loads(capsys.readouterr().out)["episodes"][0]["passed"]
    static, rows, steps = _read(path)
    rig, root = make_rig(), "/episodes/cut_in_1000000"
    pinholes = sorted(p for p, cols in static.items() if "Pinhole:image_from_camera" in cols)
    assert pinholes == sorted(f"{root}/world/ego/cam/{n}" for n in rig.names)
    per_step = [f"{root}/world/ego", f"{root}/world/actors", f"{root}/ego/speed"]
    per_step += [f"{root}/world/ego/cam/{n}/rgb" for n in rig.names]
    for entity in per_step:
        assert rows[entity] == STEPS, entity
        assert sorted(steps[entity]) == list(range(STEPS)), entity
    assert rows[f"{root}/world/lanes"] == 1


def test_eval_rerun_without_rerun_fails_before_evaluating(tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "rerun", None)
    argv = ["eval", "--driver", "constant_velocity", "--suite", "cut_in", "--seeds", "1000000:1000001"]
    assert cli_main([*argv, "--no-progress", "--rerun", str(tmp_path / "x.rrd")]) == 2
    captured = capsys.readouterr()
    assert "pip install 'e2edrive[viz]'" in captured.err and len(captured.err.strip().splitlines()) == 1
    assert captured.out == ""


def test_dream_rerun_logs_the_generated_cameras(tmp_path, capsys):
    pytest.importorskip("rerun", reason="Rerun is optional: pip install 'e2edrive[viz]'")
    import torch

    from e2edrive.worldmodel.config import tiny
    from e2edrive.worldmodel.model import WorldModel
    from e2edrive.worldmodel.train import save_checkpoint

    rig = make_rig(16, 32)
    torch.manual_seed(0)
    wm = tmp_path / "wm"
    save_checkpoint(
        wm, WorldModel(tiny(rig)).eval(), {"phase": 2, "step": 0, "optimizer": None, "train_config": {}}
    )
    path = tmp_path / "dream.rrd"
    argv = ["dream", "--worldmodel", str(wm), "--driver", "constant_velocity", "--scenario", "lane_follow"]
    argv += ["--seeds", "0", "--max-steps", "3", "--threads", "1", "--rerun", str(path)]
    assert cli_main(argv) == 0
    static, rows, steps = _read(path)
    root = "/episodes/lane_follow_0"
    pinholes = sorted(p for p, cols in static.items() if "Pinhole:image_from_camera" in cols)
    assert pinholes == sorted(f"{root}/world/ego/cam/{n}" for n in rig.names)
    front = static[f"{root}/world/ego/cam/front_main"]
    K = np.array(front["Pinhole:image_from_camera"].to_pylist()[0]).reshape(3, 3).T
    np.testing.assert_allclose(K, rig.K[0].numpy(), rtol=1e-6)
    for entity in [f"{root}/world/ego", f"{root}/world/ego/agents", f"{root}/ego/speed", f"{root}/ego/steer"]:
        assert sorted(steps[entity]) == [0, 1, 2], entity
    for n in rig.names:
        assert rows[f"{root}/world/ego/cam/{n}/rgb"] == 3
