import json
import subprocess
import sys

import pytest

from e2edrive.sim.scenarios import SCENARIOS


def cli(*args: str, timeout: int = 300) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "e2edrive.cli", *args], capture_output=True, text=True, timeout=timeout
    )


def test_scenarios_lists_the_catalog():
    out = cli("scenarios")
    assert out.returncode == 0
    lines = out.stdout.strip().splitlines()
    assert [ln.split()[0] for ln in lines] == list(SCENARIOS)
    assert "animal" in lines[3] and "chickens" in lines[3]


def test_drive_json_schema():
    out = cli(
        "drive", "--scenario", "follow_lead", "--seeds", "0:2", "--json", "--num-envs", "2", "--threads", "1"
    )
    assert out.returncode == 0, out.stderr
    d = json.loads(out.stdout)
    assert [(e["scenario"], e["seed"]) for e in d["episodes"]] == [("follow_lead", 0), ("follow_lead", 1)]
    e = d["episodes"][0]
    for key in ("passed", "route_completion", "driving_score", "collisions"):
        assert key in e
    assert set(e["collisions"]) == {"vehicle", "pedestrian_animal", "static"}
    s = d["summary"]
    assert set(s["by_scenario"]["follow_lead"]) >= {"pass_rate", "driving_score", "collision_rate"}
    assert 0.0 <= s["pass_rate"] <= 1.0 and 0.0 <= s["driving_score"] <= 100.0


def test_unknown_scenario_and_driver_errors():
    out = cli("drive", "--scenario", "flying_cars", "--seeds", "0:1")
    assert out.returncode == 2 and "valid scenarios: lane_follow" in out.stderr
    out = cli("drive", "--scenario", "lane_follow", "--driver", "autopilot")
    assert out.returncode == 2 and "valid drivers: expert" in out.stderr
    out = cli("drive", "--scenario", "lane_follow", "--seeds", "3:1")
    assert out.returncode == 2 and "empty seed range" in out.stderr


def test_drive_writes_a_topdown_video(tmp_path):
    av = pytest.importorskip("av")
    path = tmp_path / "drive.mp4"
    out = cli(
        "drive",
        "--scenario",
        "unknown_object",
        "--seeds",
        "0:1",
        "--video",
        str(path),
        "--video-frames",
        "15",
        "--num-envs",
        "1",
        "--threads",
        "1",
    )
    assert out.returncode == 0, out.stderr
    with av.open(str(path)) as f:
        frames = [fr for fr in f.decode(video=0)]
    assert len(frames) == 15 and frames[0].width == 320
