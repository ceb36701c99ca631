"""How many pixels the hard cases' objects cover in the front cameras, by distance.

    python scripts/pixel_sizes.py

The expert drives seeds 0 and 1 of chickens_crossing, geese_standing, pedestrian_close and
unknown_object (debris); at each step the renderer's semantics are counted for the scenario's
class in front_main and front_wide, binned by the distance from the ego to the nearest object of
that class. Prints the median count per 10 m band (all objects of the class in view together, e.g.
a whole flock). BENCHMARKS.md, "Seeing versus deciding", quotes it.
"""

from __future__ import annotations

import torch

from e2edrive.core.constants import ObjectClass, Semantic
from e2edrive.sim.render import Renderer
from e2edrive.sim.world import World

CASES = (
    ("chickens_crossing", ObjectClass.CHICKEN, Semantic.CHICKEN),
    ("geese_standing", ObjectClass.GOOSE, Semantic.GOOSE),
    ("pedestrian_close", ObjectClass.PEDESTRIAN, Semantic.PEDESTRIAN),
    ("unknown_object", ObjectClass.UNKNOWN, Semantic.DEBRIS),
)


def pixel_counts(scenario: str, cls: ObjectClass, sem: Semantic, steps: int = 120) -> dict[int, list]:
    world = World([scenario] * 2, [0, 1])
    renderer = Renderer(world.rig)
    bins: dict[int, list] = {}
    for _ in range(steps):
        semantics = renderer.render(world.scene()).semantics  # (B, N, H, W)
        world.step(world.expert().action)
        # a measurement script may read the world's state; drivers may not
        pose, actor_pose, actors = world.ego.pose(), world.actor_pose, world.actors
        for b in range(2):
            mask = actors.valid[b] & (actors.cls[b] == int(cls))
            if not mask.any():
                continue
            d = (actor_pose[b, mask, :2] - pose[b, None, :2]).norm(dim=-1).min().item()
            counts = [(semantics[b, cam] == int(sem)).sum().item() for cam in (0, 1)]
            bins.setdefault(int(d // 10) * 10, []).append(counts)
    return bins


def main() -> None:
    torch.set_num_threads(2)
    print("| scenario | distance | front_main px (median) | front_wide px (median) | steps |")
    print("|---|---|---:|---:|---:|")
    for scenario, cls, sem in CASES:
        for k, v in sorted(pixel_counts(scenario, cls, sem).items()):
            if k <= 50:
                n = len(v)
                main_px, wide_px = sorted(x[0] for x in v)[n // 2], sorted(x[1] for x in v)[n // 2]
                print(f"| {scenario} | {k}-{k + 10} m | {main_px} | {wide_px} | {n} |")


if __name__ == "__main__":
    main()
