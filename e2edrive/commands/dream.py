"""`e2edrive dream`: drive scenarios inside a trained world model, from live World contexts.

    e2edrive dream --worldmodel runs/wm --driver constant_velocity --scenario cut_in --seeds 0:4
    e2edrive dream --worldmodel runs/wm --checkpoint runs/tiny --scenario lane_follow --seeds 0:2 \
        --video dream.mp4 --inject cut_in

Each (scenario, seed) starts in a real World: the expert drives K-1 steps while K frames are
rendered (the model's context); from there the driver drives the dream (worldmodel.DreamEnv).
Results are dreamed: collisions and off-road come from the model's predicted events and box
overlaps, and `passed` means "no collision, never off road", not the scenario's pass rule.
The expert cannot drive in a dream (it needs the simulator's privileged view).

--video writes the dream of the first episode beside the real World from the same start driven
with the same actions (dream left, real right). --inject cut_in runs the dream agent-conditioned
(agents from the World beside it) with one agent replaced by a car cutting across the ego's path;
the injected car exists only in the dream, not in the real World of the video.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

import tyro

if TYPE_CHECKING:
    import torch


@dataclass
class DreamArgs:
    """Drive scenarios in a world model's dream."""

    worldmodel: str
    """world model directory (OUT of `e2edrive worldmodel train`)"""
    driver: str | None = None
    """driver name (eval.drivers.DRIVERS); default 'checkpoint' with --checkpoint"""
    checkpoint: str | None = None
    """a trained driving run (RUN or RUN/checkpoint)"""
    scenario: str = "lane_follow"
    """scenario name, comma-separated names, or 'all'"""
    seeds: str = "0:2"
    """seed range 'A:B' (B excluded) or one seed 'A'"""
    mode: Literal["free", "agent_conditioned"] = "free"
    """free: the model moves the agents; agent_conditioned: a World beside the dream gives them"""
    decode: Literal["full", "residual"] = "full"
    """how the cameras are decoded: full (every frame from its latent) or residual (the context's
    last real frame plus the decoded change since it, worldmodel.residual)"""
    ego: Literal["learned", "vehicle"] = "learned"
    """how the dreamed ego moves: by the model's ego head (learned) or by the car's vehicle model
    (vehicle: no drift from the simulator under the same actions, worldmodel.dream_env)"""
    inject: Literal["cut_in"] | None = None
    """adversarial event (implies agent_conditioned)"""
    max_steps: int = 0
    """cut episodes after this many dream steps (0: the scenario's time limit)"""
    json: bool = False
    """print one JSON object (episodes and summary) instead of the table"""
    video: str | None = None
    """MP4 of the first episode: dream beside the real World, same start, same actions"""
    rerun: str | None = None
    """Rerun recording (.rrd) of every episode's dream, one root episodes/SCENARIO_SEED/ each: the
    decoded cameras, the dreamed pose, agent boxes and ego state (pip install 'e2edrive[viz]')"""
    device: str = "cpu"
    """torch device"""
    threads: int = 2
    """torch CPU threads"""


def _inject_wrap(kind: str | None):
    """(ctx, source) -> source with every environment's cut-in trajectory written in."""
    if kind is None:
        return None
    from e2edrive.worldmodel.inject import InjectedAgents, cut_in_trajectory

    def wrap(ctx, source):
        for b in range(ctx.speed.shape[0]):
            traj = cut_in_trajectory(ctx.ego_pose[b].cpu(), float(ctx.speed[b]), int(ctx.steps_left[b]))
            source = InjectedAgents(source, traj, env=b)
        return source

    return wrap


def _side_by_side(dream: torch.Tensor, real: torch.Tensor, names: list[str]) -> torch.Tensor:
    """(N, 3, h, w) uint8 each -> (2 rows h, 8 w, 3) uint8 at 2x: dream mosaic left, real right."""
    import torch

    from e2edrive.core.font import draw_text
    from e2edrive.sim.topdown import mosaic

    tiles = []
    for label, images in (("DREAM", dream), ("REAL", real)):
        m = mosaic(images.cpu(), names)
        m = m.repeat_interleave(2, 0).repeat_interleave(2, 1)  # nearest 2x: 64x128 cameras are small
        draw_text(m, label, 4, m.shape[0] - 12, color=(255, 255, 0))
        tiles.append(m)
    return torch.cat(tiles, 1)


def dream(args: DreamArgs) -> list:
    from e2edrive.core.seeding import parse_seed_range
    from e2edrive.eval.drivers import make_driver
    from e2edrive.sim.scenarios import resolve_scenarios
    from e2edrive.worldmodel.context import WorldStart
    from e2edrive.worldmodel.dream_env import DreamEnv
    from e2edrive.worldmodel.model import load_worldmodel

    pairs = [(n, s) for n in resolve_scenarios(args.scenario) for s in parse_seed_range(args.seeds)]
    model = load_worldmodel(args.worldmodel, map_location=args.device)
    rig = model.cfg.camera_rig
    name = args.driver or ("checkpoint" if args.checkpoint else None)
    if name is None:
        raise ValueError("give --driver NAME or --checkpoint RUN")
    driver = make_driver(name, args.checkpoint, rig, args.device)
    if driver.needs_privileged:
        raise ValueError(
            f"driver {name!r} reads the simulator's privileged view, which a dream does not have"
        )
    if args.rerun:  # before the dream: a missing rerun is a one-line error
        from e2edrive.eval.rerun_log import import_rerun

        import_rerun()
    mode = "agent_conditioned" if args.inject else args.mode
    start = WorldStart(
        rig,
        model.cfg.context,
        args.device,
        agents=mode == "agent_conditioned",
        wrap=_inject_wrap(args.inject),
    )
    env = DreamEnv(model, start, pairs, mode, decode=args.decode, ego=args.ego)
    driver.reset(env.num_envs, env.device)
    real = start.worlds[0]
    writer = renderer = None
    if args.video:
        from e2edrive.core.video import VideoWriter
        from e2edrive.sim.render import Renderer

        writer, renderer = VideoWriter(args.video, fps=10).__enter__(), Renderer(rig, env.device)
    logger = None
    if args.rerun:
        from e2edrive.eval.rerun_log import RerunLogger

        logger = RerunLogger(args.rerun, application=f"e2edrive dream {driver.name}", per_episode=True)
    try:
        while not bool(env.done.all()) and (args.max_steps <= 0 or int(env.steps.max()) < args.max_steps):
            obs = env.observation()
            action, _, _ = driver.act(obs)
            if logger is not None:
                logger.log_dream_step(env, obs)
            if writer is not None and not bool(env.done[0]):
                real_images = renderer.render(real.scene([0])).rgb[0]
                writer.write(_side_by_side(obs.images[0], real_images, list(rig.names)))
            env.step(action)
            if mode == "free" and writer is not None:  # agent_conditioned: the dream steps it already
                real.step(action)
    except BaseException:
        if writer is not None:
            writer.abort()
        raise
    finally:
        if logger is not None:
            logger.close()
    if writer is not None:
        writer.close()
    return env.episode_results()


def main(argv: list[str]) -> int:
    args = tyro.cli(DreamArgs, args=argv, prog="e2edrive dream", description=__doc__)
    import torch  # after parsing: --help stays fast

    torch.set_num_threads(args.threads)
    from e2edrive.sim.metrics import summarize

    try:
        results = dream(args)
    except (FileNotFoundError, ValueError, KeyError, RuntimeError, ImportError) as e:
        print(f"e2edrive dream: error: {e.args[0] if e.args else e}", file=sys.stderr)
        return 2
    if args.json:
        out = {
            "episodes": [r.to_dict() for r in results],
            "summary": summarize(results),
            "mode": "agent_conditioned" if args.inject else args.mode,
            "inject": args.inject,
            "note": "dreamed results: passed = no collision and never off road (not the scenario's rule)",
        }
        print(json.dumps(out, allow_nan=False))
    else:
        from e2edrive.commands.drive import format_table

        print(format_table(results))
        print("dreamed results: passed = no collision and never off road (not the scenario's rule)")
    return 0
