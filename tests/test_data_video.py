"""Camera-mosaic layout and MP4 export of a recorded episode."""

import av
import numpy as np
import pytest

from e2edrive.core.constants import BevGrid
from e2edrive.core.rig import make_rig
from e2edrive.data.export_video import episode_frame, export_episode_video, mosaic_order
from e2edrive.data.format import DatasetFormatError
from e2edrive.data.recorder import Recorder
from e2edrive.data.synthetic import record_synthetic_episode

RIG = make_rig(16, 32)


def test_mosaic_places_each_camera_where_the_order_says():
    order = mosaic_order(RIG)
    assert [RIG.names[i] for i in order] == [
        "front_left",
        "front_main",
        "front_wide",
        "front_right",
        "side_left",
        "rear_left",
        "rear_main",
        "side_right",
    ]
    images = np.zeros((8, 3, 16, 32), np.uint8)
    for cam in range(8):
        images[cam] = 10 * (cam + 1)  # each camera a flat grey of its own value
    valid = np.ones(8, bool)
    valid[RIG.index("rear_main")] = False
    m = episode_frame(images, valid, RIG, order).numpy()
    assert m.shape == (32, 128, 3)
    # rows 10-15 of each tile are below the camera-name label
    assert (m[10:16, 32:64] == 10 * (RIG.index("front_main") + 1)).all()  # row 0, column 1
    assert (m[26:32, 96:128] == 10 * (RIG.index("side_right") + 1)).all()  # row 1, column 3
    assert (m[26:32, 64:96] == 10 * (RIG.index("rear_main") + 1) // 4).all()  # invalid: darkened
    assert images[RIG.index("rear_main")].max() == 70  # the recorded frame itself is untouched


def test_export_episode_video_writes_every_frame(tmp_path):
    with Recorder(tmp_path / "ds", RIG, BevGrid(-4.0, 4.0, -3.0, 3.0)) as rec:
        ep = record_synthetic_episode(rec, 3, 7)
    out = export_episode_video(tmp_path / "ds", ep, tmp_path / "ep.mp4")
    with av.open(str(out)) as container:
        frames = list(container.decode(video=0))
    assert len(frames) == 7
    assert (frames[0].height, frames[0].width) == (32, 128)
    with pytest.raises(DatasetFormatError, match="no frames"):
        export_episode_video(tmp_path / "ds", ep + 1, tmp_path / "missing.mp4")
