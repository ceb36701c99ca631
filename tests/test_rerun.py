"""`drive --rerun OUT.rrd`: the recording read back holds the eight cameras as pinholes with the
rig's calibration, and one entry per control step for poses, boxes, images and time series."""

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
