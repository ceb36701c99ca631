"""`OnnxDriver`: a driving network exported to ONNX (`e2edrive export`) driving through ONNX Runtime,
so a deployed graph is scored closed loop exactly like its PyTorch checkpoint.

The graph's contract is model.export's: observation inputs (OBS_INPUTS), the recurrent state as
`state_i` inputs fed back from the `new_state_i` outputs of the previous step, and outputs
action (B, 2), plan (B, PLAN_STEPS, 3), speed (B,). Every network's `init_state` is zeros and
each resets its memory itself where `obs.first` is set, so the first state is zeros of the
graph's state shapes at batch B and a streamed episode never needs a reset from outside.

The graph holds the camera rig as constants but not its calibration in a readable form: the
driver checks that the simulator's rig has the graph's camera count and image size, and
`rig_for_graph` builds the default rig at that size for the default 8 cameras.

As `export.py` says, an exported graph trusts its inputs; the runtime checks what the network's
own validation did: a non-finite action is an error naming the environments, not a silent NaN.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from e2edrive.core.env import Driver
from e2edrive.core.rig import CAMERA_NAMES, CameraRig, make_rig
from e2edrive.core.types import Action

_NUMPY_TYPES = {"tensor(float)": np.float32, "tensor(int64)": np.int64, "tensor(bool)": np.bool_}


def _session(path: Path, threads: int):
    try:
        import onnxruntime  # noqa: F401
    except ImportError:
        raise ImportError("ONNX Runtime is not installed: pip install 'e2edrive[onnx]'") from None
    from e2edrive.model.export import ort_session

    return ort_session(path, threads)


def graph_image_shape(session) -> tuple[int, int, int] | None:
    """(N_cam, H, W) of the graph's `images` input, or None if the graph reads no camera."""
    for inp in session.get_inputs():
        if inp.name == "images":
            _, n, _, h, w = inp.shape  # (B, N, 3, H, W); B is symbolic
            return int(n), int(h), int(w)
    return None


def rig_for_graph(session, path: str | Path = "the graph") -> CameraRig:
    """The rig to simulate for a graph: the default 8 cameras at the graph's image size."""
    shape = graph_image_shape(session)
    if shape is None:
        return make_rig()
    n, h, w = shape
    if n != len(CAMERA_NAMES):
        raise ValueError(
            f"{path} reads {n} cameras; only graphs of the default {len(CAMERA_NAMES)}-camera rig can "
            "choose their rig (drive a checkpoint of this network with --checkpoint instead)"
        )
    return make_rig(h, w)


class OnnxDriver(Driver):
    """An exported network run by ONNX Runtime on CPU, streaming its state across steps."""

    def __init__(
        self, path: str | Path, rig: CameraRig | None = None, threads: int = 2, label: str | None = None
    ):
        from e2edrive.model.export import OBS_INPUTS

        self.path = Path(path)
        if not self.path.is_file():
            raise FileNotFoundError(f"no ONNX graph at {self.path}")
        self.session = _session(self.path, threads)
        self.name = label or f"onnx:{self.path.stem}"
        self.rig = rig or rig_for_graph(self.session, self.path)
        inputs = {i.name: i for i in self.session.get_inputs()}
        self.obs_inputs = list(OBS_INPUTS)
        self.needs_images = "images" in inputs  # the exporter prunes inputs a network never reads
        shape = graph_image_shape(self.session)
        if shape is not None and shape != (self.rig.num_cameras, self.rig.height, self.rig.width):
            raise ValueError(
                f"{self.path} takes {shape[0]} cameras of {shape[1]}x{shape[2]}, the rig has "
                f"{self.rig.num_cameras} of {self.rig.height}x{self.rig.width}"
            )
        outputs = [o.name for o in self.session.get_outputs()]
        self.state_outputs = [n for n in outputs if n.startswith("new_state_")]
        # state_i may be pruned from the inputs (a state the step overwrites without reading)
        self.state_inputs = [inputs.get(n.removeprefix("new_")) for n in self.state_outputs]
        self.state: list[np.ndarray] = []
        self.device = torch.device("cpu")

    def reset(self, batch: int, device: torch.device) -> None:
        self.device = torch.device(device)
        outs = {o.name: o for o in self.session.get_outputs()}
        self.state = [
            np.zeros([batch, *map(int, outs[n].shape[1:])], _NUMPY_TYPES.get(outs[n].type, np.float32))
            for n in self.state_outputs
        ]

    def act(self, obs, privileged=None):
        from e2edrive.model.export import observation_tensors

        tensors = observation_tensors(obs)
        wanted = {i.name for i in self.session.get_inputs()}
        feed = {n: t.detach().cpu().numpy() for n, t in zip(self.obs_inputs, tensors) if n in wanted}
        for inp, value in zip(self.state_inputs, self.state):
            if inp is not None:
                feed[inp.name] = value
        got = self.session.run(["action", "plan", *self.state_outputs], feed)
        action, plan, self.state = got[0], got[1], list(got[2:])
        bad = ~np.isfinite(action).all(-1)
        if bad.any():
            envs = np.flatnonzero(bad)[:8].tolist()
            raise FloatingPointError(f"{self.name}: non-finite action in environments {envs}")
        a = torch.from_numpy(action).to(self.device)
        plan_xy = torch.from_numpy(plan[..., :2]).to(self.device)  # (B, PLAN_STEPS, 2) ego frame
        return Action.from_tensor(a), plan_xy, None
