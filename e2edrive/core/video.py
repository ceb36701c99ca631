"""MP4 writer (PyAV) for debugging videos: top-down views, camera mosaics, failure replays.

Frames go to a temporary file beside the target and the file is renamed onto `path` only when the
writer closes cleanly, so an interrupted drive (exception, Ctrl-C) never leaves a truncated MP4
where a good one, or none, was expected.
"""

from __future__ import annotations

import os
import uuid
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import torch


def pick_codec(preferred: str = "h264") -> str:
    """`preferred` if this FFmpeg build can encode it, else "mpeg4" (in every FFmpeg build)."""
    for name in (preferred, "mpeg4"):
        try:
            av.codec.Codec(name, "w")
            return name
        except Exception:  # PyAV raises UnknownCodecError (a ValueError subclass) or FFmpegError
            continue
    raise RuntimeError(f"neither {preferred} nor mpeg4 can be encoded by this PyAV/FFmpeg build")


def _as_hwc_uint8(frame) -> np.ndarray:
    if isinstance(frame, torch.Tensor):
        frame = frame.detach().cpu().numpy()
    frame = np.asarray(frame)
    if frame.ndim != 3 or frame.shape[2] != 3:
        raise ValueError(f"a video frame must be (H, W, 3) RGB, got shape {frame.shape}")
    if frame.dtype != np.uint8:
        raise ValueError(f"a video frame must be uint8, got {frame.dtype} (scale and convert it first)")
    return frame


class VideoWriter:
    """`with VideoWriter("out.mp4", fps=10) as w: w.write(frame)`; frames (H, W, 3) uint8 RGB,
    numpy or torch on any device, all of the size of the first one. Odd sizes are padded by one
    edge row/column (yuv420p subsamples chroma 2x2, so H.264 needs even sizes).
    """

    def __init__(self, path: str | os.PathLike, fps: int = 10, codec: str = "h264", quality: int = 23):
        if fps <= 0:
            raise ValueError(f"fps must be positive, got {fps}")
        self.path = Path(path)
        if not self.path.parent.exists():
            raise FileNotFoundError(f"directory {self.path.parent} does not exist")
        self.fps = int(fps)
        self.codec = pick_codec(codec)
        self.quality = quality  # x264 CRF (lower is better, 23 is x264's default)
        self.frames_written = 0
        self.size: tuple[int, int] | None = None  # (H, W) of the input frames
        # A unique hidden name beside the target (same filesystem, so the final rename is atomic);
        # not mkstemp, whose 0600 mode the finished video would keep.
        self._tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.part")
        self._container = av.open(str(self._tmp), mode="w", format="mp4")
        self._stream = None

    def _open_stream(self, h: int, w: int) -> None:
        stream = self._container.add_stream(self.codec, rate=self.fps)
        stream.width, stream.height = w + w % 2, h + h % 2
        stream.pix_fmt = "yuv420p"
        stream.codec_context.time_base = Fraction(1, self.fps)
        if self.codec in ("h264", "libx264"):
            stream.options = {"crf": str(self.quality), "preset": "veryfast"}
        else:  # mpeg4 has no CRF; a bitrate that keeps thin lines and text legible
            stream.bit_rate = 4_000_000
        self._stream = stream

    def write(self, frame) -> None:
        """Append one (H, W, 3) uint8 RGB frame."""
        if self._container is None:
            raise RuntimeError(f"VideoWriter({self.path}) is closed")
        img = _as_hwc_uint8(frame)
        h, w = img.shape[:2]
        if self.size is None:
            self.size = (h, w)
            self._open_stream(h, w)
        elif self.size != (h, w):
            raise ValueError(
                f"frame {self.frames_written} is {h}x{w}, the video is {self.size[0]}x{self.size[1]}"
            )
        if h % 2 or w % 2:
            img = np.pad(img, ((0, h % 2), (0, w % 2), (0, 0)), mode="edge")
        vf = av.VideoFrame.from_ndarray(np.ascontiguousarray(img), format="rgb24")
        for packet in self._stream.encode(vf):
            self._container.mux(packet)
        self.frames_written += 1

    def close(self) -> Path:
        """Flush, close and move the finished file onto `path`; returns it."""
        if self._container is None:
            return self.path
        if self.frames_written == 0:
            self.abort()
            raise RuntimeError(f"VideoWriter({self.path}): no frame was written, no file created")
        for packet in self._stream.encode():
            self._container.mux(packet)
        self._container.close()
        self._container = None
        os.replace(self._tmp, self.path)  # atomic on one filesystem
        return self.path

    def abort(self) -> None:
        """Drop the partial file; `path` keeps whatever it held before."""
        if self._container is not None:
            try:
                self._container.close()
            except Exception:  # closing a stream with nothing encoded may fail; the file goes anyway
                pass
            self._container = None
        self._tmp.unlink(missing_ok=True)

    def __enter__(self) -> VideoWriter:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()


def write_video(path: str | os.PathLike, frames, fps: int = 10) -> Path:
    """Write an iterable of (H, W, 3) uint8 frames, or a (T, H, W, 3) array/tensor, to `path`."""
    with VideoWriter(path, fps=fps) as w:
        for f in frames:
            w.write(f)
    return Path(path)
