"""data room (see ARCHITECTURE.md): the dataset format (format.py, FORMAT.md), the recorder, the
reader of training clips, and episode video export (export_video.py, imported on demand)."""

from e2edrive.data.dataset import DrivingDataset, collate_clips
from e2edrive.data.format import FORMAT_VERSION, CorruptShardError, DatasetFormatError
from e2edrive.data.recorder import Recorder

__all__ = [
    "FORMAT_VERSION",
    "CorruptShardError",
    "DatasetFormatError",
    "DrivingDataset",
    "Recorder",
    "collate_clips",
]
