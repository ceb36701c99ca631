"""Per-step trace of a trained policy driving with the expert watching in shadow mode.

    python scripts/trace_shadow.py RUN SCENARIOS A:B [THREADS] [OUT.json]

For every (scenario, seed) it records each step's speed, the lateral offset of the route's next
points, the policy's and the expert's steering and acceleration, and both reason sentences, and
prints one line per episode (passed, steps, off road, collisions). It answers "when did the
policy start to brake, compared with the expert?" (BENCHMARKS.md, "Why spin-out and puddle stay
at zero").
"""

from __future__ import annotations

import json
import sys

import torch

from e2edrive.core.rig import make_rig
from e2edrive.eval.drivers import make_driver
from e2edrive.eval.runner import run_closed_loop
from e2edrive.eval.shadow import ShadowDriver


def trace(run: str, scenarios: list[str], seeds: range, threads: int = 2) -> list[dict]:
    torch.set_num_threads(threads)
    pairs = [(s, k) for s in scenarios for k in seeds]
    rig = make_rig()
    driver = ShadowDriver(make_driver("checkpoint", run, rig=rig), make_driver("expert", None, rig=rig))
    rows: dict[int, list[dict]] = {}

    def on_frame(world, obs, action, plan, reasons, slot_job):
        for b, j in enumerate(slot_job):
            if j < 0:
                continue
            rp = obs.nav.route_points[b]  # (10, 2) ego frame
            rows.setdefault(j, []).append(
                {
                    "t": int(world.steps[b]),
                    "v": round(float(obs.speed[b]), 2),
                    "lat": round(float(rp[0, 1]), 2),
                    "steer": round(float(action.steer[b]), 3),
                    "acc": round(float(action.accel[b]), 2),
                    "x_steer": round(float(driver.shadow_action.steer[b]), 3),
                    "x_acc": round(float(driver.shadow_action.accel[b]), 2),
                    "r": reasons[b] if reasons is not None else "",
                    "xr": driver.shadow_reasons[b] if driver.shadow_reasons is not None else "",
                }
            )

    results = run_closed_loop(driver, pairs, num_envs=8, rig=rig, on_frame=on_frame, progress=False)
    return [
        {"scenario": p[0], "seed": p[1], "passed": r.passed, "steps": r.steps, "off_road": r.off_road}
        | {"collisions": r.collisions, "trace": rows.get(j, [])}
        for j, (p, r) in enumerate(zip(pairs, results))
    ]


def main(argv: list[str]) -> None:
    if len(argv) < 3:
        sys.exit(__doc__)
    a, b = map(int, argv[2].split(":"))
    out = trace(argv[0], argv[1].split(","), range(a, b), int(argv[3]) if len(argv) > 3 else 2)
    with open(argv[4] if len(argv) > 4 else "trace.json", "w") as f:
        json.dump(out, f)
    for o in out:
        print(o["scenario"], o["seed"], o["passed"], o["steps"], o["off_road"], o["collisions"])


if __name__ == "__main__":
    main(sys.argv[1:])
