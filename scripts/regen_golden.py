"""Regenerate the golden artifacts that tests/test_golden.py compares against.

    .venv/bin/python scripts/regen_golden.py
    .venv/bin/python scripts/regen_golden.py --scenarios urban   # those rollouts only
    .venv/bin/python scripts/regen_golden.py --model             # the tiny model's outputs only

With --scenarios (suites or scenario names, as eval takes them) only the expert rollouts are
rewritten, and only if every other scenario's episodes come out as saved (the tiny model's clip
is left alone): a change meant for some scenarios cannot move the others unnoticed. With --model
only the tiny model's outputs are rewritten (a model change cannot move the expert's rollouts, and
the test still compares them).

Run it only when a change of behaviour is intended (a new expert rule, a fixed physics bug, a
new model head): the golden files are the reference that refactors of the world, the expert and
the model must reproduce. Commit the regenerated files with the change that explains them.

    tests/golden/expert_rollouts.safetensors  the expert driving every registered scenario,
                                              state only, GOLDEN_SEEDS each, whole episodes
    tests/golden/tiny_outputs.safetensors     the `tiny` DrivingModel (weights from a fixed torch
                                              seed) acting on a short clip of rendered frames,
                                              the clip saved with it

The test imports the producing functions from this file, so the rerun is the same code.
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

GOLDEN_DIR = Path(__file__).resolve().parents[1] / "tests" / "golden"
ROLLOUTS_PATH = GOLDEN_DIR / "expert_rollouts.safetensors"
TINY_PATH = GOLDEN_DIR / "tiny_outputs.safetensors"

GOLDEN_SEEDS = (0, 1)
TTC_CLIP = 10.0  # s; the world's TTC is inf off a collision course, safetensors compares finite values best

TINY_SEED = 0  # torch seed the tiny model's weights are drawn from
CLIP_SCENARIO, CLIP_SEED = "follow_lead", 3
CLIP_STEPS = 3  # rendered frames the model streams through
CLIP_BATCH = 2  # environments in the clip (the same scenario with seeds CLIP_SEED, CLIP_SEED + 1)


def golden_pairs() -> list[tuple[str, int]]:
    """Every registered scenario with every golden seed, in registry order."""
    from e2edrive.sim.scenarios import SCENARIOS

    return [(name, seed) for name in SCENARIOS for seed in GOLDEN_SEEDS]


def expert_rollouts() -> dict[str, torch.Tensor]:
    """The expert drives every golden pair to its end in one batched World (whole episodes, so
    the pass rules are pinned too: ~4 s on one core). Per-step arrays are padded past each
    episode's end with zeros, T is the longest episode, and `length` (E,) says how many are real.

    pose (E, T, 3), action (E, T, 2), reason (E, T), collision (E, T, 3) per COLLISION_TYPES,
    off_road (E, T), red_light_run (E, T), ttc (E, T) clipped to TTC_CLIP; per episode: passed,
    route_completion, driving_score, n_collisions, red_light_runs (E,)."""
    from e2edrive.sim.world import World

    pairs = golden_pairs()
    world = World([p[0] for p in pairs], [p[1] for p in pairs])
    E, steps = len(pairs), max(spec.steps for spec in world.specs)
    pose = torch.zeros(E, steps, 3)
    action = torch.zeros(E, steps, 2)
    reason = torch.zeros(E, steps, dtype=torch.int32)
    collision = torch.zeros(E, steps, 3, dtype=torch.int32)
    off_road = torch.zeros(E, steps, dtype=torch.int32)
    red_run = torch.zeros(E, steps, dtype=torch.int32)
    ttc = torch.zeros(E, steps)
    length = torch.full((E,), steps, dtype=torch.int32)
    live = torch.ones(E, dtype=torch.bool)  # the episode had not ended before this step
    for t in range(steps):
        e = world.expert()
        out = world.step(e.action)
        inf = out.infractions
        keep = live[:, None]
        pose[:, t] = torch.where(keep, world.ego.pose(), 0.0)
        action[:, t] = torch.where(keep, e.action.as_tensor(), 0.0)
        reason[:, t] = torch.where(live, e.reason.int(), 0)
        hits = torch.stack([inf.collision_vehicle, inf.collision_pedestrian_animal, inf.collision_static], -1)
        collision[:, t] = torch.where(keep, hits.int(), 0)
        off_road[:, t] = torch.where(live, inf.off_road.int(), 0)
        red_run[:, t] = torch.where(live, inf.red_light_run.int(), 0)
        ttc[:, t] = torch.where(live, inf.ttc.clamp(max=TTC_CLIP), 0.0)
        ended_now = live & out.done
        length[ended_now] = t + 1
        live &= ~out.done
        if not bool(live.any()):
            break
    results = world.episode_results()
    T = int(length.max())
    return {
        "pose": pose[:, :T],
        "action": action[:, :T],
        "reason": reason[:, :T],
        "collision": collision[:, :T],
        "off_road": off_road[:, :T],
        "red_light_run": red_run[:, :T],
        "ttc": ttc[:, :T],
        "length": length,
        "passed": torch.tensor([r.passed for r in results], dtype=torch.int32),
        "route_completion": torch.tensor([r.route_completion for r in results]),
        "driving_score": torch.tensor([r.driving_score for r in results]),
        "n_collisions": torch.tensor([r.n_collisions for r in results], dtype=torch.int32),
        "red_light_runs": torch.tensor([r.red_light_runs for r in results], dtype=torch.int32),
    }


def render_clip() -> dict[str, torch.Tensor]:
    """CLIP_STEPS rendered frames of the expert driving CLIP_SCENARIO: every Observation field
    the model reads, stacked over time, so the model test does not depend on the renderer.
    images (T, B, N_cam, 3, H, W) uint8; speed, accel, yaw_rate, steer, first (T, B); odom (T, B, 3);
    nav_route_points (T, B, 10, 2); nav_dist_to_turn, nav_turn_command, nav_speed_limit (T, B)."""
    from e2edrive.sim.render import Renderer
    from e2edrive.sim.world import World

    world = World([CLIP_SCENARIO] * CLIP_BATCH, [CLIP_SEED + b for b in range(CLIP_BATCH)])
    renderer = Renderer(world.rig, world.device)
    frames: dict[str, list[torch.Tensor]] = {}
    for _ in range(CLIP_STEPS):
        obs = world.observation(images=renderer.render(world.scene()).rgb)
        fields = {
            "images": obs.images,
            "speed": obs.speed,
            "accel": obs.accel,
            "yaw_rate": obs.yaw_rate,
            "steer": obs.steer,
            "odom": obs.odom,
            "first": obs.first.int(),
            "nav_route_points": obs.nav.route_points,
            "nav_dist_to_turn": obs.nav.dist_to_turn,
            "nav_turn_command": obs.nav.turn_command,
            "nav_speed_limit": obs.nav.speed_limit,
        }
        for k, v in fields.items():
            frames.setdefault(k, []).append(v)
        world.step(world.expert().action)
    return {k: torch.stack(v) for k, v in frames.items()}


def clip_observation(clip: dict[str, torch.Tensor], t: int):
    """The Observation of frame t of a saved clip (the default rig, all cameras valid)."""
    from e2edrive.core.rig import make_rig
    from e2edrive.core.types import NavGoal, Observation

    images = clip["images"][t]
    return Observation(
        images=images,
        rig=make_rig(),
        speed=clip["speed"][t],
        accel=clip["accel"][t],
        yaw_rate=clip["yaw_rate"][t],
        steer=clip["steer"][t],
        odom=clip["odom"][t],
        nav=NavGoal(
            clip["nav_route_points"][t],
            clip["nav_dist_to_turn"][t],
            clip["nav_turn_command"][t],
            clip["nav_speed_limit"][t],
        ),
        first=clip["first"][t].bool(),
        camera_valid=torch.ones(images.shape[:2], dtype=torch.bool),
    )


def tiny_outputs(clip: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The tiny DrivingModel, weights drawn from torch seed TINY_SEED, streaming the clip; its
    outputs at every frame stacked over time: action (T, B, 2), plan (T, B, P, 3), speed (T, B),
    reason (T, B, NUM_REASONS), traffic_light (T, B, 4), occupancy (T, B, nz, X, Y)."""
    from e2edrive.model.config import make_config
    from e2edrive.model.driving_model import DrivingModel

    torch.manual_seed(TINY_SEED)
    model = DrivingModel(make_config("tiny")).eval()
    keys = ("action", "plan", "speed", "reason", "traffic_light", "occupancy")
    outs: dict[str, list[torch.Tensor]] = {k: [] for k in keys}
    state = None
    with torch.no_grad():
        for t in range(clip["images"].shape[0]):
            _, state, out = model.act(clip_observation(clip, t), state)
            for k in keys:
                outs[k].append(getattr(out, k))
    return {k: torch.stack(v) for k, v in outs.items()}


def unchanged_elsewhere(new: dict[str, torch.Tensor], selected: set[str]) -> list[str]:
    """The golden pairs outside `selected` scenarios whose rollout differs from the saved one
    (the test's tolerances); every per-step array is compared over the saved length."""
    old = load_file(str(ROLLOUTS_PATH))
    moved = []
    for e, (name, seed) in enumerate(golden_pairs()):
        if name in selected:
            continue
        n = int(old["length"][e])
        same = int(new["length"][e]) == n
        for key, atol in (("pose", 1e-4), ("action", 1e-4), ("ttc", 1e-3), ("reason", 0), ("collision", 0)):
            same = same and torch.allclose(
                new[key][e, :n].float(), old[key][e, :n].float(), rtol=0, atol=atol
            )
        for key in ("passed", "n_collisions", "red_light_runs"):
            same = same and bool(new[key][e] == old[key][e])
        if not same:
            moved.append(f"{name} seed {seed}")
    return moved


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--scenarios", help="rewrite only these suites' or scenarios' expert rollouts")
    parser.add_argument("--model", action="store_true", help="rewrite only the tiny model's outputs")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    GOLDEN_DIR.mkdir(parents=True, exist_ok=True)
    if args.model:
        clip = render_clip()
        save_file({**{f"clip.{k}": v for k, v in clip.items()}, **tiny_outputs(clip)}, str(TINY_PATH))
        print(f"wrote {TINY_PATH}; the expert rollouts left as saved")
        return 0
    rollouts = expert_rollouts()
    if args.scenarios:
        from e2edrive.eval.suites import suite_scenarios

        moved = unchanged_elsewhere(rollouts, set(suite_scenarios(args.scenarios)))
        if moved:
            print(f"not written: episodes outside {args.scenarios} moved: {', '.join(moved)}")
            return 1
        save_file({k: v.contiguous() for k, v in rollouts.items()}, str(ROLLOUTS_PATH))
        print(f"wrote {ROLLOUTS_PATH}; every episode outside {args.scenarios} as saved")
        return 0
    save_file({k: v.contiguous() for k, v in rollouts.items()}, str(ROLLOUTS_PATH))
    clip = render_clip()
    outputs = tiny_outputs(clip)
    save_file({**{f"clip.{k}": v for k, v in clip.items()}, **outputs}, str(TINY_PATH))
    for path in (ROLLOUTS_PATH, TINY_PATH):
        print(f"wrote {path} ({path.stat().st_size / 1e6:.2f} MB)")
    passed = int(rollouts["passed"].sum())
    mean_score = float(rollouts["driving_score"].mean())
    print(f"expert: {passed}/{len(rollouts['passed'])} passed, mean driving score {mean_score:.1f}")
    assert math.isfinite(mean_score)
    # A reload check: what was written is what the test will read.
    assert torch.equal(load_file(str(ROLLOUTS_PATH))["pose"], rollouts["pose"])
    return 0


if __name__ == "__main__":
    sys.exit(main())
