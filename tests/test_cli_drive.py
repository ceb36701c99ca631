import json
import subprocess
import sys

import pytest

from e2edrive.cli import main as cli_main
from e2edrive.sim.scenarios import SCENARIOS


def test_scenarios_lists_the_catalog(capsys):
    assert cli_main(["scenarios"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert [ln.split()[0] for ln in lines] == list(SCENARIOS)
    assert "animal" in lines[3] and "chickens" in lines[3]


def test_drive_json_schema_in_a_subprocess():
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "e2edrive.cli",
            "drive",
            "--scenario",
            "follow_lead",
            "--seeds",
            "0:2",
            "--json",
            "--num-envs",
            "2",
            "--threads",
            "1",
        ],
        capture_output=True,
        text=True,
        timeout=300,
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


@pytest.mark.parametrize(
    "args, message",
    [
        (["--scenario", "flying_cars", "--seeds", "0:1"], "valid scenarios: lane_follow"),
        (["--scenario", "lane_follow", "--driver", "autopilot"], "valid drivers: expert"),
        (["--scenario", "lane_follow", "--seeds", "3:1"], "empty seed range"),
    ],
)
def test_bad_arguments_are_clear_errors(capsys, args, message):
    assert cli_main(["drive", *args]) == 2
    assert message in capsys.readouterr().err


def test_drive_table_and_topdown_video(tmp_path, capsys):
    av = pytest.importorskip("av")
    path = tmp_path / "drive.mp4"
    rc = cli_main(
        [
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
        ]
    )
    assert rc == 0
    table = capsys.readouterr().out
    assert "unknown_object" in table and "pass" in table
    with av.open(str(path)) as f:
        frames = list(f.decode(video=0))
    # 8 cameras (2 x 4 tiles of 64 x 128, shown at 2x) beside the 320 x 320 top-down view
    assert len(frames) == 15 and (frames[0].width, frames[0].height) == (4 * 128 * 2 + 320, 320)
    img = frames[-1].to_ndarray(format="rgb24")
    front_main = img[20:128, 0:256].astype(int)  # below the name label
    sky, road = front_main[:20], front_main[-20:]
    assert sky[..., 2].mean() > sky[..., 0].mean() + 10  # a blue sky above
    assert abs(road[..., 0].mean() - road[..., 2].mean()) < 25  # grey asphalt below
