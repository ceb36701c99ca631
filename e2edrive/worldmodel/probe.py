"""Action following: does the dream move the ego the way it was told to, as seen in its frames?

    EgoProbe           a small CNN that reads the ego's motion (dx, dy, dyaw: odometry of frame t in
                       frame t-1's ego frame) from two consecutive 8-camera frames
    train_probe        fits it on real recorded frames (part of the measurement: the probe never sees
                       a dreamed frame in training)
    action_following   from one real context per (scenario, seed), the same context repeated once per
                       command (hard braking ... full throttle, steering right ... left), the dream
                       and the simulator are stepped `steps` steps with that command held; the probe
                       reads the ego's motion back from the dream's decoded frames and from the
                       simulator's rendered ones

Scores (`action_following`'s "summary"):
    rank_accel   Spearman correlation, per context, between the commanded acceleration and the
                 distance the probe reads from the dream's frames over the horizon (mean, min)
    rank_steer   the same between the commanded steering and the yaw read back
    brake_speed_error_mps   |speed read from the dream at the horizon under hard braking - the
                 simulator's true speed under the same command| (mean over contexts); the probe's
                 speed is dx / DT of the last step
The same numbers from the simulator's frames (the probe's own accuracy) and from the dream's ego
head (what the dream believes, not what it shows) stand beside them.
"""

from __future__ import annotations

import time

import torch
import torch.nn.functional as F
from torch import nn

from e2edrive.core.constants import DT, MAX_ACCEL, MAX_STEER, MIN_ACCEL
from e2edrive.core.types import Action
from e2edrive.worldmodel.data import WindowDataset, collate_windows

ODOM_SCALE = (1.5, 0.2, 0.05)  # m, m, rad per step: odometry at ~15 m/s, normalised to ~unit size
# (name, steer rad, accel m/s^2); held for the whole horizon from the context's last frame
COMMANDS = (
    ("brake_hard", 0.0, MIN_ACCEL),
    ("brake", 0.0, MIN_ACCEL / 2),
    ("hold", 0.0, 0.0),
    ("throttle", 0.0, MAX_ACCEL / 2),
    ("throttle_full", 0.0, MAX_ACCEL),
    ("steer_right", -MAX_STEER / 6, 0.0),  # 0.1 rad: ~0.35 rad/s of yaw at 10 m/s, still on the road
    ("steer_right_half", -MAX_STEER / 12, 0.0),
    ("steer_left_half", MAX_STEER / 12, 0.0),
    ("steer_left", MAX_STEER / 6, 0.0),
)
ACCEL_SET = ("brake_hard", "brake", "hold", "throttle", "throttle_full")
STEER_SET = ("steer_right", "steer_right_half", "hold", "steer_left_half", "steer_left")


class EgoProbe(nn.Module):
    """Two frames (B, 2, N, 3, H, W) uint8 -> odometry (B, 3): a conv encoder shared by the cameras
    reads each camera's frame pair, the cameras' pooled features are concatenated, an MLP regresses."""

    def __init__(self, num_cameras: int, width: int = 32):
        super().__init__()
        c = width
        self.encoder = nn.Sequential(
            nn.Conv2d(6, c, 5, 2, 2),
            nn.GELU(),
            nn.Conv2d(c, c, 3, 2, 1),
            nn.GELU(),
            nn.Conv2d(c, 2 * c, 3, 2, 1),
            nn.GELU(),
            nn.Conv2d(2 * c, 2 * c, 3, 2, 1),
            nn.GELU(),
            nn.AdaptiveAvgPool2d((2, 4)),
        )
        self.head = nn.Sequential(nn.Linear(num_cameras * 2 * c * 8, 128), nn.GELU(), nn.Linear(128, 3))
        self.register_buffer("scale", torch.tensor(ODOM_SCALE))

    def forward(self, frames: torch.Tensor) -> torch.Tensor:
        B, _, N, _, H, W = frames.shape
        x = frames.float() / 255.0 - 0.5
        x = x.permute(0, 2, 1, 3, 4, 5).reshape(B * N, 6, H, W)  # (B*N, 2 frames x RGB, H, W)
        f = self.encoder(x).view(B, -1)  # (B, N * 2c * 8)
        return self.head(f) * self.scale  # (B, 3) dx m, dy m, dyaw rad

    def read(self, frames: torch.Tensor) -> torch.Tensor:
        """A sequence (B, T, N, 3, H, W) -> per-step odometry (B, T-1, 3) between consecutive frames."""
        B, T = frames.shape[:2]
        pairs = torch.stack([frames[:, :-1], frames[:, 1:]], 2).flatten(0, 1)  # (B*(T-1), 2, N, 3, H, W)
        return self(pairs).view(B, T - 1, 3)


def train_probe(
    data: str,
    steps: int,
    batch_size: int = 32,
    lr: float = 1e-3,
    device="cpu",
    seed: int = 0,
    val_data: str | None = None,
    max_seconds: float = 0.0,
) -> tuple[EgoProbe, dict]:
    """Fit an EgoProbe on the frame pairs of `data`; report its error on `val_data` (held out).
    max_seconds > 0 stops training early (the steps done are reported)."""
    windows = WindowDataset(data, 2)
    torch.manual_seed(seed)
    probe = EgoProbe(windows.rig.num_cameras).to(device)
    opt = torch.optim.AdamW(probe.parameters(), lr=lr, weight_decay=0.01)
    g = torch.Generator().manual_seed(seed)
    t0, done, loss = time.perf_counter(), 0, torch.zeros(())
    for step in range(steps):
        idx = torch.randint(len(windows), (batch_size,), generator=g).tolist()
        w = collate_windows([windows[i] for i in idx]).to(device)
        pred = probe(w.images)
        loss = F.smooth_l1_loss(pred / probe.scale, w.odom[:, 1] / probe.scale, beta=0.1)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        done = step + 1
        if max_seconds > 0 and time.perf_counter() - t0 > max_seconds:
            break
    stats = {"steps": done, "train_loss": float(loss.detach()), "seconds": time.perf_counter() - t0}
    if val_data is not None:
        stats["val"] = probe_error(probe.eval(), val_data, device)
    return probe.eval(), stats


@torch.no_grad()
def probe_error(probe: EgoProbe, data: str, device="cpu", max_pairs: int = 256) -> dict:
    """Mean absolute error of the probe on real frame pairs: dx m, dy m, dyaw rad, speed m/s."""
    windows = WindowDataset(data, 2)
    n = min(len(windows), max_pairs)
    err = torch.zeros(4, dtype=torch.float64)
    for i in range(0, n, 32):
        idx = [(j * len(windows)) // n for j in range(i, min(n, i + 32))]
        w = collate_windows([windows[j] for j in idx]).to(device)
        pred, true = probe(w.images), w.odom[:, 1]
        e = (pred - true).abs()
        err[:3] += e.sum(0).double().cpu()
        err[3] += ((pred[:, 0] - true[:, 0]).abs() / DT).sum().double().cpu()
    err /= n
    return {
        "pairs": n,
        "dx_m": float(err[0]),
        "dy_m": float(err[1]),
        "dyaw_rad": float(err[2]),
        "speed_mps": float(err[3]),
    }


def spearman(x: list[float], y: list[float]) -> float:
    """Spearman's rank correlation with average ranks for ties; NaN when either side is constant."""
    rx, ry = _ranks(torch.tensor(x, dtype=torch.float64)), _ranks(torch.tensor(y, dtype=torch.float64))
    rx, ry = rx - rx.mean(), ry - ry.mean()
    den = (rx.pow(2).sum() * ry.pow(2).sum()).sqrt()
    return float("nan") if float(den) == 0 else float((rx * ry).sum() / den)


def _ranks(v: torch.Tensor) -> torch.Tensor:
    order = v.argsort()
    ranks = torch.empty_like(v)
    ranks[order] = torch.arange(len(v), dtype=v.dtype)
    for value in v.unique():  # ties share their mean rank
        tie = v == value
        ranks[tie] = ranks[tie].mean()
    return ranks


@torch.no_grad()
def action_following(
    model, probe: EgoProbe, pairs: list[tuple[str, int]], steps: int = 20, device="cpu"
) -> dict:
    """Every COMMANDS entry from the context of each (scenario, seed), in the dream (free mode) and
    in the simulator; per-context read-backs and the summary of the module docstring."""
    from e2edrive.sim.render import Renderer
    from e2edrive.worldmodel.context import world_context
    from e2edrive.worldmodel.dream_env import DreamEnv

    C = len(COMMANDS)
    rig = model.cfg.camera_rig
    repeated = [p for p in pairs for _ in range(C)]  # same (scenario, seed): the same context C times
    ctx, world = world_context(repeated, rig, model.cfg.context, device)
    env = DreamEnv(model, lambda _pairs: (ctx, None), repeated, mode="free")
    renderer = Renderer(rig, world.device)
    steer = torch.tensor([c[1] for c in COMMANDS] * len(pairs), device=device)
    accel = torch.tensor([c[2] for c in COMMANDS] * len(pairs), device=device)
    action = Action(steer, accel)
    dream_frames, real_frames = [ctx.images[:, -1].to(device)], [ctx.images[:, -1].to(device)]
    for _ in range(steps):
        env.step(action)
        dream_frames.append(env.observation().images)
        world.step(action)
        real_frames.append(renderer.render(world.scene()).rgb)
    real_speed = world.observation(real_frames[-1]).speed  # (B,) the simulator's truth at the horizon
    read = {
        "dream": probe.read(torch.stack(dream_frames, 1)),  # (B, steps, 3)
        "real": probe.read(torch.stack(real_frames, 1)),
    }
    per = {}
    for source, odom in read.items():
        per[source] = {
            "distance_m": odom[..., 0].sum(1),
            "yaw_rad": odom[..., 2].sum(1),
            "speed_mps": odom[:, -1, 0] / DT,
        }
    dream_pose = env.ego_pose - ctx.ego_pose.to(device)  # the dream's own belief (ego head), world frame
    per["dream_ego_head"] = {
        "distance_m": torch.linalg.vector_norm(dream_pose[:, :2], dim=-1),
        "yaw_rad": dream_pose[:, 2],
        "speed_mps": env.speed,
    }
    per["real_truth"] = {
        "distance_m": torch.linalg.vector_norm(
            world.ego.pose()[:, :2] - ctx.ego_pose.to(device)[:, :2], dim=-1
        ),
        "yaw_rad": world.ego.pose()[:, 2] - ctx.ego_pose.to(device)[:, 2],
        "speed_mps": real_speed,
    }
    names = [c[0] for c in COMMANDS]
    contexts = []
    for i, pair in enumerate(pairs):
        rows = slice(i * C, (i + 1) * C)
        contexts.append(
            {
                "scenario": pair[0],
                "seed": int(pair[1]),
                "speed_at_context_mps": float(ctx.speed[i * C]),
                "read_back": {
                    src: {k: dict(zip(names, v[rows].tolist())) for k, v in d.items()}
                    for src, d in per.items()
                },
            }
        )
    summary = {src: _follow_scores(contexts, src) for src in per}
    return {
        "horizon_s": round(steps * DT, 3),
        "commands": [list(c) for c in COMMANDS],
        "contexts": contexts,
        "summary": summary,
    }


def _follow_scores(contexts: list[dict], source: str) -> dict:
    cmd = {c[0]: c for c in COMMANDS}
    rank_a, rank_s, brake_err = [], [], []
    for c in contexts:
        r = c["read_back"][source]
        rank_a.append(spearman([cmd[n][2] for n in ACCEL_SET], [r["distance_m"][n] for n in ACCEL_SET]))
        rank_s.append(spearman([cmd[n][1] for n in STEER_SET], [r["yaw_rad"][n] for n in STEER_SET]))
        truth = c["read_back"]["real_truth"]["speed_mps"]["brake_hard"]
        brake_err.append(abs(r["speed_mps"]["brake_hard"] - truth))

    def stats(v: list[float]) -> dict:
        ok = [x for x in v if x == x]  # NaN (a constant read-back) does not count
        return {"mean": sum(ok) / len(ok) if ok else None, "min": min(ok) if ok else None, "n": len(ok)}

    return {
        "rank_accel": stats(rank_a),
        "rank_steer": stats(rank_s),
        "brake_speed_error_mps": sum(brake_err) / len(brake_err),
    }
