"""Feed-forward Gaussian splatting (e2edrive/eval/splat.py): render speed and held-out-camera PSNR.

    python -m bench.splat --out splat.json --png docs/splat_bev.png     # 2 threads, CPU

Scenes: `scenarios` x `seeds` World episodes, each driven `steps` steps by the expert so that the
other actors are near, then rendered (8 cameras at 64 x 128, RGB + true depth).

(a) Speed: Gaussians of one environment (8 x 64 x 128 = 65,536), rendered from the 8 rig
cameras at 64 x 128 in one call; median (min, max) wall ms and CPU ms over `repeats`, and the
same for the drive panel (chase 160 x 320 + bird's-eye 160 x 160, Gaussians built included).

(b) Held-out camera: each of the 8 cameras in turn is left out; the other seven give the
Gaussians, rendered from the held-out camera and compared with its real frame (PSNR, 0..255)
over the co-visible mask: held-out pixels whose true 3D point (true depth, sky excluded) lies
inside one of the seven other images and is not occluded there (their true depth within 5 % +
0.2 m). Every method's holes are filled by the same 2-level pull-push. Methods:
  splat 7 cams     all seven cameras' Gaussians (the debug view)
  splat nearest    the nearest camera's Gaussians only (smallest angle between optical axes)
  warp nearest     baseline: the nearest camera's pixels forward-warped with their depth (1-pixel
                   footprint, z-buffer), no Gaussian footprint
Depths: true (the renderer's), predicted (the depth head of `checkpoint`, bilinearly upsampled
from the feature resolution), and predicted with opacity = depth_confidence.
"""

from __future__ import annotations

import json
import os
import statistics
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
import tyro

from e2edrive.eval.splat import (
    bev_camera,
    depth_confidence,
    gaussians_from_frames,
    project,
    splat,
    splat_panel,
)


@dataclass
class Args:
    out: Path | None = None
    """write the results as JSON here"""
    png: Path | None = None
    """write the bird's-eye still (true depth | predicted depth) of the first scene here"""
    scenarios: str = "cut_in,chickens_crossing,follow_lead,traffic_light"
    """comma-separated scenario names"""
    seeds: int = 2
    """seeds 0..seeds-1 per scenario"""
    steps: int = 30
    """expert steps before the snapshot"""
    checkpoint: str = "runs/qsA/runs/driving"
    """trained driving network whose depth head gives the predicted depth ('' to skip)"""
    threads: int = 2
    """torch intra-op threads"""
    repeats: int = 15
    """timing repeats; the median is reported"""


def make_scenes(args: Args):
    """(rig, rgb (B, 8, 3, H, W) uint8, true depth (B, 8, H, W), predicted depth or None, names)."""
    from e2edrive.sim.expert.driver import ExpertDriver
    from e2edrive.sim.render import Renderer
    from e2edrive.sim.world import World

    pairs = [(s, k) for s in args.scenarios.split(",") for k in range(args.seeds)]
    world = World([p[0] for p in pairs], [p[1] for p in pairs])
    expert, privileged = ExpertDriver(noise=False), world.privileged()
    expert.reset(world.B, world.device)
    for _ in range(args.steps):
        action, _, _ = expert.act(world.observation(), privileged)
        world.step(action)
    out = Renderer(world.rig).render(world.scene())
    pred = None
    if args.checkpoint:
        model = _load_network(args.checkpoint, world.rig)
        with torch.no_grad():
            _, _, net = model.act(world.observation(out.rgb), None)
        B, N, h, w = net.depth.shape
        up = F.interpolate(net.depth.view(B * N, 1, h, w).log(), size=out.depth.shape[-2:], mode="bilinear")
        pred = up.exp().view_as(out.depth)  # interpolated in log depth, as the head predicts it
    return world.rig, out.rgb, out.depth, pred, [f"{s}:{k}" for s, k in pairs]


def _load_network(run: str, rig):
    """The driving network of `run`. A checkpoint saved before a config field existed (the qsA
    runs predate `planner_corridor`) is read from a temporary copy that adds the field at its
    default, which is what the network was trained with; runs/ itself is left untouched."""
    import dataclasses
    import shutil
    import tempfile

    from e2edrive.eval.drivers import load_policy
    from e2edrive.model.config import DrivingConfig

    src = Path(run) / "checkpoint" if (Path(run) / "checkpoint").is_dir() else Path(run)
    meta = json.loads((src / "config.json").read_text())
    defaults = {f.name: getattr(DrivingConfig(), f.name) for f in dataclasses.fields(DrivingConfig)}
    missing = {k: v for k, v in defaults.items() if k not in meta["config"] and isinstance(v, bool | int)}
    if meta.get("model") != "driving" or not missing:
        return load_policy(run, "driving", rig).eval()
    with tempfile.TemporaryDirectory() as tmp:
        shutil.copy(src / "model.safetensors", tmp)
        meta["config"].update(missing)
        (Path(tmp) / "config.json").write_text(json.dumps(meta))
        print(f"checkpoint {run}: fields {sorted(missing)} absent, read at their defaults")
        return load_policy(tmp, "driving", rig).eval()


def covisible(rig, depth: torch.Tensor, held: int, others: list[int] | None = None) -> torch.Tensor:
    """(B, H, W) bool: held-out pixels whose true point is seen, unoccluded, by one of `others`
    (default: every other camera)."""
    B, N, H, W = depth.shape
    K, T = rig.K, rig.T_ego_from_cam
    g = gaussians_from_frames(torch.zeros(B, 1, 3, H, W, dtype=torch.uint8), depth[:, held : held + 1],
                              K[held : held + 1], T[held : held + 1])  # fmt: skip
    others = [n for n in range(N) if n != held] if others is None else others
    uv, z = project(g.means, K[others], T[others])  # (B, 7, P, 2), (B, 7, P)
    col, row = uv[..., 0].floor().long(), uv[..., 1].floor().long()
    inside = (z > 0.1) & (col >= 0) & (col < W) & (row >= 0) & (row < H)
    d_other = depth[:, others].flatten(2)  # (B, 7, H*W)
    seen = d_other.gather(2, (row.clamp(0, H - 1) * W + col.clamp(0, W - 1)))  # (B, 7, P)
    visible = inside & ((seen - z).abs() < 0.05 * z + 0.2)
    return (visible.any(1) & (g.opacity > 0)).view(B, H, W)


def nearest_camera(rig, held: int) -> int:
    """The other camera whose optical axis is closest in angle to the held-out one's."""
    axes = rig.T_ego_from_cam[:, :3, 2]  # (N, 3) camera z in the ego frame
    cos = axes @ axes[held]
    cos[held] = -2.0
    return int(cos.argmax())


def held_out(rig, rgb, depth, true_depth, opacity=None) -> dict[str, float]:
    """PSNR (dB) per method and mask ('7' co-visible with any other camera, '1' with the nearest
    one), from the MSE pooled over every held-out camera and scene, with this depth."""
    B, N, _, H, W = rgb.shape
    cam = torch.arange(N).repeat_interleave(H * W)  # camera of each Gaussian
    g = gaussians_from_frames(rgb, depth, rig.K, rig.T_ego_from_cam, opacity)
    sse: dict[str, float] = {}
    count = {"7": 0, "1": 0}
    for n in range(N):
        Kn, Tn, near = rig.K[n : n + 1], rig.T_ego_from_cam[n : n + 1], nearest_camera(rig, n)
        masks = {"7": covisible(rig, true_depth, n), "1": covisible(rig, true_depth, n, [near])}  # (B, H, W)
        renders = {
            "splat 7 cams": splat(g.select(cam != n), Kn, Tn, H, W),
            "splat nearest": splat(g.select(cam == near), Kn, Tn, H, W),
            "warp nearest": splat(g.select(cam == near), Kn, Tn, H, W, window=1, sigma_px=1e3),
        }
        for name, im in renders.items():
            err = ((im.rgb[:, 0].float() - rgb[:, n].float()) ** 2).mean(1)  # (B, H, W)
            for m, mask in masks.items():
                sse[f"{name}, mask {m}"] = sse.get(f"{name}, mask {m}", 0.0) + float(err[mask].sum())
        count = {m: count[m] + int(mask.sum()) for m, mask in masks.items()}
    return {k: float(10 * torch.log10(torch.tensor(255.0**2 * count[k[-1]] / v))) for k, v in sse.items()}


def timed(fn, repeats: int) -> dict[str, float]:
    fn()  # warm-up
    wall, cpu = [], []
    for _ in range(repeats):
        t, c = time.perf_counter(), time.process_time()
        fn()
        wall.append((time.perf_counter() - t) * 1e3)
        cpu.append((time.process_time() - c) * 1e3)
    return {"median_ms": statistics.median(wall), "min_ms": min(wall), "max_ms": max(wall),
            "median_cpu_ms": statistics.median(cpu)}  # fmt: skip


def main(args: Args) -> dict:
    torch.set_num_threads(args.threads)
    load_before = os.getloadavg()[0]
    rig, rgb, depth, pred, names = make_scenes(args)
    K, T = rig.K, rig.T_ego_from_cam
    g = gaussians_from_frames(rgb[:1], depth[:1], K, T)
    timing = {
        "8 rig views 64x128": timed(lambda: splat(g, K, T, rig.height, rig.width), args.repeats),
        "drive panel (chase + bird's-eye)": timed(lambda: splat_panel(rgb[0], depth[0], rig), args.repeats),
    }
    psnr = {"true depth": held_out(rig, rgb, depth, depth)}
    if pred is not None:
        psnr["predicted depth"] = held_out(rig, rgb, pred, depth)
        psnr["predicted depth + confidence"] = held_out(rig, rgb, pred, depth, depth_confidence(pred))
    coverage = float(torch.stack([covisible(rig, depth, n).float().mean() for n in range(8)]).mean())

    print("| render | median ms | min | max | CPU ms |\n|---|---|---|---|---|")
    for k, t in timing.items():
        ms = [t[f] for f in ("median_ms", "min_ms", "max_ms", "median_cpu_ms")]
        print(f"| {k} | {' | '.join(f'{x:.0f}' for x in ms)} |")
    print("\n| depth | method | PSNR, mask 7 (any other camera) | PSNR, mask 1 (nearest camera) |")
    print("|---|---|---|---|")
    for depth_name, row in psnr.items():
        for m in ("splat 7 cams", "splat nearest", "warp nearest"):
            print(f"| {depth_name} | {m} | {row[m + ', mask 7']:.1f} dB | {row[m + ', mask 1']:.1f} dB |")
    load_after = os.getloadavg()[0]
    print(f"\nscenes: {', '.join(names)}; co-visible mask: {coverage:.0%} of held-out pixels")
    print(f"load average before: {load_before:.1f}, after: {load_after:.1f} on {os.cpu_count()} CPUs")
    if args.png is not None:
        from e2edrive.sim.render.mosaic import write_png

        write_png(args.png, bev_still(rig, rgb[0], depth[0], None if pred is None else pred[0]).numpy())
    result = {"timing": timing, "psnr": psnr, "covisible_fraction": coverage, "scenes": names,
              "load_average_1min": [load_before, load_after], "torch": torch.__version__,
              "args": {k: str(v) for k, v in asdict(args).items()}}  # fmt: skip
    if args.out is not None:
        args.out.write_text(json.dumps(result, indent=2))
    return result


def bev_still(rig, rgb, depth, pred) -> torch.Tensor:
    """Bird's-eye splat views (320 x 320 each) of one scene, true depth | predicted depth."""
    from e2edrive.core.font import draw_text

    Kb, Tb = bev_camera(size=320, half_extent=24.0)
    views = []
    for label, d in (("true depth", depth), ("predicted depth", pred)):
        if d is None:
            continue
        g = gaussians_from_frames(rgb[None], d[None], rig.K, rig.T_ego_from_cam)
        img = splat(g, Kb, Tb, 320, 320, fill_levels=3).rgb[0, 0].permute(1, 2, 0).contiguous()
        views.append(draw_text(img, f"splat bird's-eye, {label}", 4, 4))
    return torch.cat(views, dim=1)


if __name__ == "__main__":
    main(tyro.cli(Args))
