"""ONNX export of a driving network's streaming step `act`.

`act(obs, state) -> (Action, state, DrivingOutput)` takes dataclasses and an arbitrary state; ONNX
takes flat tensors. `ActAdapter` is the bridge: fixed named tensor inputs (the Observation fields,
the rig captured as a constant) plus the state flattened to tensors, and fixed named outputs:

    inputs:  images (B, N_cam, 3, H, W) uint8, ego_status (B, 4) [speed, accel, yaw_rate, steer],
             odom (B, 3), route_points (B, 10, 2), dist_to_turn (B,), turn_command (B,) int64,
             speed_limit (B,), first (B,) bool, camera_valid (B, N_cam) bool, state_0 ... state_k
    outputs: action (B, 2) [steer, accel] (clipped to the actuator range, as act does),
             plan (B, PLAN_STEPS, 3), speed (B,), new_state_0 ... new_state_k

A deployment loop feeds new_state_i back as state_i at the next step; `init_state` gives the
first one. The batch dimension is dynamic.
"""

from __future__ import annotations

import dataclasses
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from e2edrive.core.rig import CameraRig
from e2edrive.core.types import NavGoal, Observation
from e2edrive.model.base import DrivingPolicy

OBS_INPUTS = (
    "images",
    "ego_status",
    "odom",
    "route_points",
    "dist_to_turn",
    "turn_command",
    "speed_limit",
    "first",
    "camera_valid",
)
OUTPUTS = ("action", "plan", "speed")


# ---- state <-> flat tensors -------------------------------------------------------------------


def flatten_state(state: Any) -> tuple[list[torch.Tensor], Any]:
    """A state made of None, tensors, tuples, lists, dicts and dataclasses -> (tensors, spec)."""
    if state is None:
        return [], None
    if isinstance(state, torch.Tensor):
        return [state], "tensor"
    if isinstance(state, (tuple, list)):
        flat, specs = [], []
        for item in state:
            f, s = flatten_state(item)
            flat += f
            specs.append((s, len(f)))
        return flat, (type(state), specs)
    if isinstance(state, dict):
        flat, specs = [], []
        for key, item in state.items():
            f, s = flatten_state(item)
            flat += f
            specs.append((key, s, len(f)))
        return flat, (dict, specs)
    if dataclasses.is_dataclass(state):
        flat, specs, static = [], [], {}
        for fld in dataclasses.fields(state):
            value = getattr(state, fld.name)
            if isinstance(value, (int, float, str, bool)):
                static[fld.name] = value  # a Python scalar in the state is a constant of the graph
                continue
            f, s = flatten_state(value)
            flat += f
            specs.append((fld.name, s, len(f)))
        return flat, (type(state), specs, static)
    raise TypeError(
        f"cannot export a state of type {type(state).__name__}: use tensors, tuples, lists, dicts "
        "or dataclasses of them"
    )


def unflatten_state(flat: list[torch.Tensor], spec: Any) -> Any:
    """Inverse of flatten_state."""
    if spec is None:
        return None
    if spec == "tensor":
        return flat[0]
    kind = spec[0]
    out, i = [], 0
    if kind in (tuple, list):
        for s, n in spec[1]:
            out.append(unflatten_state(flat[i : i + n], s))
            i += n
        return kind(out)
    fields = {}
    for key, s, n in spec[1]:
        fields[key] = unflatten_state(flat[i : i + n], s)
        i += n
    if kind is dict:
        return fields
    return kind(**fields, **spec[2])


# ---- example inputs ---------------------------------------------------------------------------


def example_observation(
    rig: CameraRig, batch: int, frames: int | None = None, seed: int = 0, device: torch.device | str = "cpu"
) -> Observation:
    """A random but plausible Observation: (B, ...) tensors, or (B, frames, ...) if frames is given.
    For export tracing, parity tests, FLOP counts and benchmarks, not for learning anything."""
    g = torch.Generator().manual_seed(seed)
    lead = (batch,) if frames is None else (batch, frames)

    def uniform(lo: float, hi: float, *shape: int) -> torch.Tensor:
        return lo + (hi - lo) * torch.rand(*lead, *shape, generator=g)

    speed = uniform(0.0, 20.0)
    ahead = torch.arange(1, 11, dtype=torch.float32) * 5.0  # m, a route point every 5 m
    route = torch.stack([ahead.expand(*lead, 10), uniform(-2.0, 2.0, 10).cumsum(-1)], -1)  # (..., 10, 2)
    n = rig.num_cameras
    obs = Observation(
        images=torch.randint(0, 256, (*lead, n, 3, rig.height, rig.width), generator=g, dtype=torch.uint8),
        rig=rig,
        speed=speed,
        accel=uniform(-3.0, 2.0),
        yaw_rate=uniform(-0.3, 0.3),
        steer=uniform(-0.2, 0.2),
        odom=torch.stack([speed * 0.1, uniform(-0.02, 0.02), uniform(-0.03, 0.03)], -1),
        nav=NavGoal(route, uniform(0.0, 200.0), torch.randint(0, 3, lead, generator=g), uniform(8.0, 30.0)),
        first=torch.zeros(lead, dtype=torch.bool),
        camera_valid=torch.ones(*lead, n, dtype=torch.bool),
    )
    return obs.to(device)


def observation_tensors(obs: Observation) -> tuple[torch.Tensor, ...]:
    """Observation (B, ...) -> the adapter's observation inputs, in OBS_INPUTS order."""
    nav = obs.nav
    return (
        obs.images,
        obs.ego_status(),
        obs.odom,
        nav.route_points,
        nav.dist_to_turn,
        nav.turn_command.long(),
        nav.speed_limit,
        obs.first.bool(),
        obs.camera_valid.bool(),
    )


# ---- the adapter ------------------------------------------------------------------------------


class ActAdapter(nn.Module):
    """`policy.act` with flat tensor inputs and outputs (see the module docstring)."""

    def __init__(self, policy: DrivingPolicy, rig: CameraRig, state_spec: Any, num_state: int):
        super().__init__()
        self.policy = policy
        self.rig = rig
        self.state_spec = state_spec
        self.num_state = num_state

    @staticmethod
    def build(policy: DrivingPolicy, rig: CameraRig, batch: int = 1) -> ActAdapter:
        """Adapter whose state layout is that of policy.init_state(batch)."""
        flat, spec = flatten_state(policy.init_state(batch, next(policy.parameters()).device))
        return ActAdapter(policy, rig, spec, len(flat))

    def state_names(self) -> tuple[list[str], list[str]]:
        n = range(self.num_state)
        return [f"state_{i}" for i in n], [f"new_state_{i}" for i in n]

    def forward(
        self,
        images,
        ego_status,
        odom,
        route_points,
        dist_to_turn,
        turn_command,
        speed_limit,
        first,
        camera_valid,
        *state: torch.Tensor,
    ) -> tuple[torch.Tensor, ...]:
        obs = Observation(
            images=images,
            rig=self.rig,
            speed=ego_status[:, 0],
            accel=ego_status[:, 1],
            yaw_rate=ego_status[:, 2],
            steer=ego_status[:, 3],
            odom=odom,
            nav=NavGoal(route_points, dist_to_turn, turn_command, speed_limit),
            first=first,
            camera_valid=camera_valid,
        )
        action, new_state, out = self.policy.act(obs, unflatten_state(list(state), self.state_spec))
        new_flat, _ = flatten_state(new_state)
        return (action.as_tensor(), out.plan, out.speed, *new_flat)


def adapter_inputs(adapter: ActAdapter, obs: Observation, state: Any = None) -> tuple[torch.Tensor, ...]:
    """Flat input tuple for adapter(*inputs); state defaults to the policy's init_state."""
    if state is None:
        state = adapter.policy.init_state(obs.batch_size, obs.images.device)
    return (*observation_tensors(obs), *flatten_state(state)[0])


# ---- export and ONNX Runtime --------------------------------------------------------------------


def export_onnx(policy: DrivingPolicy, rig: CameraRig, path: str | Path, batch: int = 2) -> Path:
    """Export policy.act to ONNX at `path` with the dynamo exporter; the batch dimension is dynamic.
    Traces with `batch` random samples (>= 2: torch.export specialises a size-1 dimension)."""
    if batch < 2:
        raise ValueError("trace with batch >= 2 so the batch dimension stays dynamic")
    policy = policy.eval()
    adapter = ActAdapter.build(policy, rig, batch).eval()
    inputs = adapter_inputs(adapter, example_observation(rig, batch, device=next(policy.parameters()).device))
    state_in, state_out = adapter.state_names()
    b = torch.export.Dim("batch", min=1, max=4096)
    # one spec per forward() parameter; *state (if any) is one parameter: its specs nest in a tuple
    dynamic = tuple({0: b} for _ in OBS_INPUTS)
    if state_in:
        dynamic += (tuple({0: b} for _ in state_in),)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    # Input checks (NaN scans, shape messages) branch on tensor values, which a graph cannot
    # hold: the exported step trusts its inputs, like any deployed network.
    checks = getattr(policy, "validate_inputs", None)
    if checks is not None:
        policy.validate_inputs = False
    try:
        with torch.no_grad(), warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*axis name.*")  # one Dim shared by all inputs
            torch.onnx.export(
                adapter,
                inputs,
                str(path),
                dynamo=True,
                input_names=[*OBS_INPUTS, *state_in],
                output_names=[*OUTPUTS, *state_out],
                dynamic_shapes=dynamic,
                external_data=False,
                verbose=False,
            )
    finally:
        if checks is not None:
            policy.validate_inputs = checks
    return path


def ort_session(path: str | Path, threads: int = 2):
    """An ONNX Runtime CPU session with `threads` intra-op threads."""
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    return ort.InferenceSession(str(path), sess_options=opts, providers=["CPUExecutionProvider"])


def ort_feed(session, inputs: tuple[torch.Tensor, ...], names: list[str]) -> dict[str, np.ndarray]:
    """Numpy feed for the session; inputs the graph does not use (pruned by the exporter) are left out."""
    wanted = {i.name for i in session.get_inputs()}
    return {n: t.detach().cpu().numpy() for n, t in zip(names, inputs) if n in wanted}


def onnx_parity(
    policy: DrivingPolicy, rig: CameraRig, path: str | Path, batch: int = 3, steps: int = 2, seed: int = 1
) -> float:
    """Max |torch - onnxruntime| over all outputs for `steps` streaming steps on random inputs, the
    state fed back each step (the first step with obs.first True, as an episode starts)."""
    policy = policy.eval()
    adapter = ActAdapter.build(policy, rig, batch).eval()
    session = ort_session(path)
    state_in, _ = adapter.state_names()
    names = [*OBS_INPUTS, *state_in]
    state = policy.init_state(batch, "cpu")
    worst = 0.0
    for step in range(steps):
        obs = example_observation(rig, batch, seed=seed + step)
        obs.first = torch.full((batch,), step == 0)
        inputs = adapter_inputs(adapter, obs, state)
        with torch.no_grad():
            expected = adapter(*inputs)
        got = session.run(None, ort_feed(session, inputs, names))
        if len(got) != len(expected):
            raise RuntimeError(f"ONNX graph has {len(got)} outputs, torch {len(expected)}")
        for e, o in zip(expected, got):
            worst = max(worst, float(np.abs(e.float().numpy() - o.astype(np.float32)).max()))
        state = unflatten_state(list(expected[len(OUTPUTS) :]), adapter.state_spec)
    return worst
