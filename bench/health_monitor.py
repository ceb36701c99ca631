"""The camera health monitor (model.health) measured against issue 12's goals, in closed loop.

    python -m bench.health_monitor [--workers 16] [--out runs/health.json] [--json]
    python -m bench.health_monitor --smoke                    (seconds: the test's scale)
    python -m bench.health_monitor --checkpoint runs/driving  (the network drives part c)

(a) Detection latency. Every camera fault of sim.faults (CAMERA_FAULTS) at each severity starts at
    step --inject-at of episodes of every scenario. A camera is affected from the first step the
    fault changes its frame (or flags it invalid), compared with the clean frame of the same
    step; its latency is the number of steps from there to the first step the monitor flags it
    (0: flagged on the frame that showed the fault). The goal (<= 5 steps, 0.5 s) applies to the
    failures, faults after which a camera no longer shows the scene (FAILURES); the degradations
    (blur, low light, glare, fog, quantisation, rain) are for the network to drive through, and
    their detection rate is reported for information. A flag on a camera the fault has not
    touched (yet) counts as a wrong-camera step.
(b) False alarms. Clean episodes of every scenario: a false alarm is a step at which the monitor
    flags any camera (goal: <= 1 per 10,000 steps); alarm onsets and latched stops are counted too.
(c) Stop rate. On `basic`, every front camera (front_*) crashes at --crash-at (black, reported
    invalid, as sim.faults' camera crash): the episode passes if the car comes to a stop
    (< 0.1 m/s) with no collision in the episode (goal: >= 95 %). An episode that ended before
    the crash is left out and counted.

The driver of (a) and (b) is the privileged expert behind the monitor (MonitoredDriver): it drives
the same in every condition, so the frames differ by the fault alone. The driver of (c) is
--checkpoint behind the monitor, or the expert behind it without one; the output says which.
Jobs (a condition's episodes of one scenario, a chunk of clean or crash episodes) are spread over
--workers processes, one torch thread each; every episode is a function of its (scenario, seed),
so the numbers do not depend on --workers.
"""

from __future__ import annotations

import json
import statistics
import sys
import time
from dataclasses import asdict, dataclass, replace

import torch
import tyro

from e2edrive.sim.faults import CAMERA_FAULTS, SEVERITIES, Fault, FaultContext, parse_fault

FAILURES = ("camera_crash", "frame_lost", "frozen")  # the camera stops showing the scene
GOAL_LATENCY_STEPS = 5
GOAL_FALSE_ALARMS_PER_10K = 1.0
GOAL_STOP_RATE = 0.95
STOPPED_SPEED = 0.1  # m/s


@dataclass
class Args:
    scenarios: str = "all"
    """scenarios of (a) and (b): a suite name or comma-separated names"""
    faults: str = ",".join(CAMERA_FAULTS)
    """comma-separated camera faults of (a)"""
    seeds: str = "1000000:1000004"
    """seed range per scenario of (a)"""
    steps: int = 40
    """steps per episode of (a) (the fault runs from --inject-at to here)"""
    inject_at: int = 10
    """step at which the fault starts in (a)"""
    clean_seeds: str = "1000000:1000010"
    """seed range per scenario of the clean episodes of (b)"""
    clean_steps: int = 300
    """steps per clean episode of (b)"""
    stop_suite: str = "basic"
    """scenarios of (c)"""
    stop_seeds: str = "1000000:1000020"
    """seed range per scenario of (c)"""
    crash_at: int = 50
    """step (5 s) at which the front cameras crash in (c)"""
    stop_steps: int = 200
    """steps per episode of (c), crash included (a stop from 20 m/s takes about 8 s)"""
    checkpoint: str | None = None
    """run directory of the network that drives (c) behind the monitor (default: the expert)"""
    num_envs: int = 8
    """environments simulated together per job"""
    workers: int = 1
    """processes (one torch thread each)"""
    smoke: bool = False
    """seconds-long scale for tests: lane_follow, one seed, camera_crash and frozen, short episodes"""
    json: bool = False
    """print the results as one JSON object instead of markdown"""
    out: str | None = None
    """also write the JSON here"""


SMOKE = dict(
    scenarios="lane_follow",
    faults="camera_crash,frozen",
    seeds="1000000:1000001",
    steps=24,
    inject_at=4,
    clean_seeds="1000000:1000001",
    clean_steps=30,
    stop_suite="lane_follow",
    stop_seeds="1000000:1000001",
    crash_at=10,
    stop_steps=80,
)


class FromStep(Fault):
    """`inner` from step `at` of each episode on (its own clock starting there); `changed` (B, N)
    says which camera frames it altered at the last step, against the clean frames."""

    def __init__(self, inner: Fault, at: int):
        super().__init__(inner.severity)
        self.inner, self.at = inner, at
        self.name, self.needs_depth = inner.name, inner.needs_depth  # the inner fault's episode keys
        self.changed: torch.Tensor | None = None

    def apply(self, obs, ctx: FaultContext):
        out = self.inner.apply(obs, FaultContext(ctx.key, (ctx.step - self.at).clamp(min=0), ctx.depth))
        on = ctx.step >= self.at  # (B,)
        images = torch.where(on.view(-1, 1, 1, 1, 1), out.images, obs.images)
        valid = torch.where(on.view(-1, 1), out.camera_valid, obs.camera_valid)
        self.changed = (images != obs.images).flatten(2).any(-1) | (valid != obs.camera_valid)
        return replace(obs, images=images, camera_valid=valid)


class FrontCrash(Fault):
    """Every front_* camera black and reported failed from step `at`."""

    name = "front_crash"

    def __init__(self, at: int):
        super().__init__(1)
        self.at = at

    def apply(self, obs, ctx: FaultContext):
        front = torch.tensor([n.startswith("front") for n in obs.rig.names], device=obs.images.device)
        dead = (ctx.step >= self.at)[:, None] & front[None]  # (B, N)
        images = obs.images.masked_fill(dead[:, :, None, None, None], 0)
        return replace(obs, images=images, camera_valid=obs.camera_valid & ~dead)


# ---- jobs: each runs in a worker and returns plain per-episode records ------------------------


def _drive(driver, pairs, faults, steps, num_envs, record):
    """run_closed_loop with record(j, b, obs, health, fault_list) for each live slot b (episode j)."""
    from e2edrive.eval.runner import run_closed_loop

    def on_frame(world, obs, action, plan, reasons, slot_job):
        for b, j in enumerate(slot_job):
            if j >= 0:
                record(j, b, obs, driver.last, faults)

    return run_closed_loop(
        driver, pairs, num_envs=num_envs, progress=False, max_steps=steps, faults=faults, on_frame=on_frame
    )


def _expert():
    from e2edrive.eval.monitored import MonitoredDriver
    from e2edrive.sim.expert.driver import ExpertDriver

    return MonitoredDriver(ExpertDriver())


def detect_job(spec: str, pairs: list, steps: int, inject_at: int, num_envs: int) -> list[dict]:
    """(a): per episode and affected camera, the onset step and the first flag at or after it."""
    changed = {j: [] for j in range(len(pairs))}
    flagged = {j: [] for j in range(len(pairs))}

    def record(j, b, obs, health, faults):
        changed[j].append(faults[0].changed[b].cpu())
        flagged[j].append((health.fault[b] != 0).cpu())

    _drive(_expert(), pairs, [FromStep(parse_fault(spec), inject_at)], steps, num_envs, record)
    out = []
    for j, (scenario, seed) in enumerate(pairs):
        ch, fl = torch.stack(changed[j]), torch.stack(flagged[j])  # (T, N)
        T = ch.shape[0]
        t = torch.arange(T).view(-1, 1).expand_as(ch)
        onset = torch.where(ch, t, T).amin(0)  # (N,) T: never affected
        before = t < onset  # flags before a camera's onset are on a camera the fault has not touched
        first = torch.where(fl & ~before, t, T).amin(0)  # (N,)
        cams = [
            {
                "camera": n,
                "onset": int(onset[n]),
                "latency": None if first[n] >= T else int(first[n] - onset[n]),
            }
            for n in range(ch.shape[1])
            if onset[n] < T
        ]
        out.append(
            {
                "scenario": scenario,
                "seed": seed,
                "steps": T,
                "cameras": cams,
                "wrong": int((fl & before).sum()),
            }
        )
    return out


def clean_job(pairs: list, steps: int, num_envs: int) -> list[dict]:
    """(b): per clean episode, its steps, the steps with any camera flagged, alarm onsets, stops,
    and each alarm (step, camera, verdict) for whoever tunes the thresholds."""
    from e2edrive.model.health import FAULT_NAMES

    rows = {j: [] for j in range(len(pairs))}
    alarms = {j: [] for j in range(len(pairs))}

    def record(j, b, obs, health, faults):
        bad = (health.fault[b] != 0).nonzero().flatten().tolist()
        t = len(rows[j])
        alarms[j] += [(t, obs.rig.names[n], FAULT_NAMES[int(health.fault[b, n])]) for n in bad]
        rows[j].append((bool(bad), bool(health.stop[b])))

    _drive(_expert(), pairs, [], steps, num_envs, record)
    out = []
    for j, (scenario, seed) in enumerate(pairs):
        alarm = [a for a, _ in rows[j]]
        onsets = sum(a and not (i > 0 and alarm[i - 1]) for i, a in enumerate(alarm))
        out.append(
            {
                "scenario": scenario,
                "seed": seed,
                "steps": len(alarm),
                "alarm_steps": sum(alarm),
                "alarm_onsets": onsets,
                "stopped": any(s for _, s in rows[j]),
                "alarms": alarms[j],
            }
        )
    return out


def stop_job(pairs: list, crash_at: int, steps: int, num_envs: int, checkpoint: str | None) -> list[dict]:
    """(c): per episode, whether and when the car stopped after the front cameras crashed."""
    from e2edrive.eval.monitored import MonitoredDriver

    if checkpoint is None:
        driver = _expert()
    else:
        from e2edrive.core.rig import make_rig
        from e2edrive.eval.drivers import PolicyDriver, load_policy

        driver = MonitoredDriver(PolicyDriver(load_policy(checkpoint, None, make_rig(), "cpu")))
    speed = {j: [] for j in range(len(pairs))}
    latched = {j: [] for j in range(len(pairs))}

    def record(j, b, obs, health, faults):
        speed[j].append(float(obs.speed[b]))
        latched[j].append(bool(health.stop[b]))

    results = _drive(driver, pairs, [FrontCrash(crash_at)], steps, num_envs, record)
    out = []
    for j, ((scenario, seed), r) in enumerate(zip(pairs, results)):
        v = speed[j]
        stop_t = next((t for t in range(crash_at, len(v)) if v[t] < STOPPED_SPEED), None)
        latch_t = next((t for t in range(len(v)) if latched[j][t]), None)
        out.append(
            {
                "scenario": scenario,
                "seed": seed,
                "steps": len(v),
                "reached_crash": len(v) > crash_at,
                "speed_at_crash": v[crash_at] if len(v) > crash_at else None,
                "stop_latched_step": latch_t,
                "stopped_step": stop_t,
                "collisions": int(sum(r.collisions.values())),
            }
        )
    return out


# ---- orchestration ------------------------------------------------------------------------------


def _init_worker() -> None:
    torch.set_num_threads(1)


def _call(job):
    fn, args = job
    return fn(*args)


def _chunks(pairs, size):
    return [pairs[i : i + size] for i in range(0, len(pairs), size)]


def jobs(args: Args) -> list[tuple[str, tuple, tuple]]:
    """(part, key, (function, arguments)) of every job, in a fixed order."""
    from e2edrive.core.seeding import parse_seed_range
    from e2edrive.eval.suites import suite_scenarios

    scenarios = suite_scenarios(args.scenarios)
    out = []
    for name in [f.strip() for f in args.faults.split(",")]:
        if name not in CAMERA_FAULTS:
            raise ValueError(f"unknown camera fault {name!r}; camera faults: {', '.join(CAMERA_FAULTS)}")
        for s in SEVERITIES:
            for sc in scenarios:
                pairs = [(sc, k) for k in parse_seed_range(args.seeds)]
                for part in _chunks(pairs, args.num_envs):
                    spec = f"{name}:{s}"
                    out.append(
                        (
                            "detect",
                            spec,
                            (detect_job, (spec, part, args.steps, args.inject_at, args.num_envs)),
                        )
                    )
    for sc in scenarios:
        for part in _chunks([(sc, k) for k in parse_seed_range(args.clean_seeds)], args.num_envs):
            out.append(("clean", sc, (clean_job, (part, args.clean_steps, args.num_envs))))
    for sc in suite_scenarios(args.stop_suite):
        for part in _chunks([(sc, k) for k in parse_seed_range(args.stop_seeds)], args.num_envs):
            job = (stop_job, (part, args.crash_at, args.stop_steps, args.num_envs, args.checkpoint))
            out.append(("stop", sc, job))
    return out


def run(args: Args) -> dict:
    if args.smoke:
        args = replace(args, **SMOKE)
    if args.workers < 1:
        raise ValueError(f"--workers must be >= 1, got {args.workers}")
    if not 0 <= args.inject_at < args.steps or not 0 <= args.crash_at < args.stop_steps:
        raise ValueError("--inject-at must be below --steps and --crash-at below --stop-steps")
    todo = jobs(args)
    t0 = time.perf_counter()
    if args.workers == 1:
        results = [_call(job) for _, _, job in todo]
    else:
        import multiprocessing as mp

        # Longest jobs first keeps the last workers from idling; results go back in job order.
        order = sorted(range(len(todo)), key=lambda i: todo[i][0] != "stop")
        with mp.get_context("spawn").Pool(args.workers, initializer=_init_worker) as pool:
            done = pool.map(_call, [todo[i][2] for i in order], chunksize=1)
        results = [None] * len(todo)
        for i, r in zip(order, done):
            results[i] = r
    wall = time.perf_counter() - t0
    by_part: dict[str, dict[str, list]] = {"detect": {}, "clean": {}, "stop": {}}
    for (part, key, _), rows in zip(todo, results):
        by_part[part].setdefault(key, []).extend(rows)
    return {
        "scale": asdict(args),
        "detection": summarize_detection(by_part["detect"]),
        "false_alarms": summarize_clean([r for rows in by_part["clean"].values() for r in rows]),
        "stop": summarize_stop([r for rows in by_part["stop"].values() for r in rows], args),
        "wall_s": round(wall, 1),
        "workers": args.workers,
    }


# ---- summaries -----------------------------------------------------------------------------------


def _latency_stats(latencies: list[int | None]) -> dict:
    hit = [x for x in latencies if x is not None]
    return {
        "cameras_affected": len(latencies),
        "detected": len(hit),
        "missed": len(latencies) - len(hit),
        "latency_median": statistics.median(hit) if hit else None,
        "latency_max": max(hit) if hit else None,
    }


def summarize_detection(by_spec: dict[str, list[dict]]) -> dict:
    conditions = {}
    failure_latencies: list[int | None] = []
    measured = sorted({spec.split(":")[0] for spec in by_spec} & set(FAILURES), key=FAILURES.index)
    for spec, rows in by_spec.items():
        lat = [c["latency"] for r in rows for c in r["cameras"]]
        conditions[spec] = {
            "episodes": len(rows),
            **_latency_stats(lat),
            "wrong_camera_steps": sum(r["wrong"] for r in rows),
            "failure": spec.split(":")[0] in FAILURES,
        }
        if spec.split(":")[0] in FAILURES:
            failure_latencies += lat
    stats = _latency_stats(failure_latencies)
    met = bool(failure_latencies) and stats["missed"] == 0 and stats["latency_max"] <= GOAL_LATENCY_STEPS
    return {
        "conditions": conditions,
        "failures": {"faults": measured, **stats, "goal_max_steps": GOAL_LATENCY_STEPS, "met": met},
    }


def summarize_clean(rows: list[dict]) -> dict:
    steps = sum(r["steps"] for r in rows)
    alarm_steps = sum(r["alarm_steps"] for r in rows)
    per_10k = 1e4 * alarm_steps / steps if steps else None
    return {
        "episodes": len(rows),
        "steps": steps,
        "alarm_steps": alarm_steps,
        "alarm_onsets": sum(r["alarm_onsets"] for r in rows),
        "stops": sum(r["stopped"] for r in rows),
        "per_10k_steps": per_10k,
        "by_scenario": {
            s: sum(r["alarm_steps"] for r in rows if r["scenario"] == s)
            for s in {r["scenario"] for r in rows}
        },
        "alarms": [[r["scenario"], r["seed"], *a] for r in rows for a in r["alarms"]][:50],
        "goal_per_10k": GOAL_FALSE_ALARMS_PER_10K,
        "met": per_10k is not None and per_10k <= GOAL_FALSE_ALARMS_PER_10K,
    }


def summarize_stop(rows: list[dict], args: Args) -> dict:
    live = [r for r in rows if r["reached_crash"]]
    ok = [r for r in live if r["stopped_step"] is not None and r["collisions"] == 0]
    times = [0.1 * (r["stopped_step"] - args.crash_at) for r in ok]
    rate = len(ok) / len(live) if live else None
    driver = f"checkpoint {args.checkpoint}" if args.checkpoint else "expert"
    return {
        "driver": f"{driver} behind the health monitor",
        "crash_at_s": 0.1 * args.crash_at,
        "episodes": len(live),
        "ended_before_crash": len(rows) - len(live),
        "stopped_without_collision": len(ok),
        "not_stopped": sum(r["stopped_step"] is None for r in live),
        "collided": sum(r["collisions"] > 0 for r in live),
        "rate": rate,
        "time_to_stop_s_median": statistics.median(times) if times else None,
        "time_to_stop_s_max": max(times) if times else None,
        "goal_rate": GOAL_STOP_RATE,
        "met": rate is not None and rate >= GOAL_STOP_RATE,
        "failed": [(r["scenario"], r["seed"]) for r in live if r not in ok],
    }


def markdown(res: dict) -> str:
    def f(x, fmt="{:.0f}"):
        return "-" if x is None else fmt.format(x)

    def verdict(part):
        return "met" if part["met"] else "NOT met"

    d, c, s = res["detection"], res["false_alarms"], res["stop"]
    lines = [
        f"(a) detection latency in steps of 0.1 s, fault from step {res['scale']['inject_at']}, "
        "expert behind the monitor",
        "",
        "| fault | failure | episodes | cameras | detected | median | max | wrong-camera steps |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for spec, r in d["conditions"].items():
        cells = [spec, "yes" if r["failure"] else "-", r["episodes"], r["cameras_affected"], r["detected"]]
        cells += [f(r["latency_median"], "{:g}"), f(r["latency_max"]), r["wrong_camera_steps"]]
        lines.append("| " + " | ".join(str(x) for x in cells) + " |")
    fl = d["failures"]
    rate = s["rate"]
    lines += [
        "",
        f"failures ({', '.join(fl['faults'])}): median {f(fl['latency_median'], '{:g}')}, "
        f"max {f(fl['latency_max'])} steps, {fl['missed']} missed of {fl['cameras_affected']} "
        f"(goal <= {fl['goal_max_steps']}): {verdict(fl)}",
        "",
        f"(b) false alarms: {c['alarm_steps']} alarm steps ({c['alarm_onsets']} onsets, "
        f"{c['stops']} stops) in {c['steps']} clean steps of {c['episodes']} episodes = "
        f"{f(c['per_10k_steps'], '{:.2f}')} per 10,000 (goal <= {c['goal_per_10k']:g}): {verdict(c)}",
        *[f"  - {sc} seed {seed} step {t}: {cam} {why}" for sc, seed, t, cam, why in c["alarms"][:10]],
        "",
        f"(c) front cameras crashed at {s['crash_at_s']:g} s, {s['driver']}: "
        f"{s['stopped_without_collision']}/{s['episodes']} stopped without collision = "
        f"{f(None if rate is None else 100 * rate, '{:.1f}')} % ({s['not_stopped']} not stopped, "
        f"{s['collided']} collided, {s['ended_before_crash']} ended before the crash; median time "
        f"to stop {f(s['time_to_stop_s_median'], '{:.1f}')} s) (goal >= 95 %): {verdict(s)}",
        "",
        f"{res['wall_s']:.1f} s on {res['workers']} worker(s)",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    args = tyro.cli(Args, args=argv, prog="python -m bench.health_monitor", description=__doc__)
    try:
        res = run(args)
    except (ValueError, KeyError, FileNotFoundError) as e:
        print(f"bench.health_monitor: error: {e}", file=sys.stderr)
        return 2
    text = json.dumps(res, allow_nan=False)
    if args.out:
        from pathlib import Path

        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(text + "\n")
    print(text if args.json else markdown(res))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
