"""Record "any kind of driving": episodes driven by any driver, the expert's labels beside them.

A world model must see bad driving too (drift, late braking, collisions), or its dream can never
show one. `collect_with_driver` runs the loop of `e2edrive collect` with another driver at the
wheel (constant velocity, a trained network, ...): the executed action is the driver's, the
labels (plan, target speed, action, reason) stay the privileged expert's, so the recording is
also a valid imitation dataset of corrections. Episodes are tagged `driver=NAME`.
"""

from __future__ import annotations

import time

from e2edrive.core.constants import LABEL_GRID


def collect_with_driver(
    cfg, driver_name: str, checkpoint: str | None = None, command: str = "", worker: int | None = None
) -> dict:
    """cfg: commands.collect.CollectConfig (out, scenario, seeds, max_steps, num_envs, device,
    height, width; noise is the expert's and ignored here); worker: write as that worker id beside
    other writers of cfg.out (data.recorder.Recorder). Returns {episodes, passed, frames,
    collisions, seconds}."""
    from e2edrive.core.rig import make_rig
    from e2edrive.core.seeding import parse_seed_range
    from e2edrive.data.episode_queue import EpisodeQueue
    from e2edrive.data.format import INFRACTIONS
    from e2edrive.data.recorder import Recorder
    from e2edrive.data.step_records import StepRecorder
    from e2edrive.eval.drivers import make_driver
    from e2edrive.sim.labels import make_labels
    from e2edrive.sim.render.renderer import Renderer
    from e2edrive.sim.scenarios import resolve_scenarios
    from e2edrive.sim.world import World

    jobs = [(n, s) for s in parse_seed_range(cfg.seeds) for n in resolve_scenarios(cfg.scenario)]
    rig = make_rig(cfg.height, cfg.width)
    driver = make_driver(driver_name, checkpoint, rig, cfg.device)
    if driver.needs_privileged:
        raise ValueError(f"driver {driver_name!r} is the expert: record it with `e2edrive collect`")
    B = min(cfg.num_envs, len(jobs))
    world = World([j[0] for j in jobs[:B]], [j[1] for j in jobs[:B]], device=cfg.device, rig=rig)
    renderer = Renderer(rig, cfg.device)
    driver.reset(B, world.device)
    records = StepRecorder()
    queue = EpisodeQueue(jobs, B)
    tags = [f"driver={driver_name}", "noise=0.0", "noise_accel=0.0"]
    creation = {"command": command, "driver": driver_name, "checkpoint": checkpoint}
    n_episodes = n_frames = n_passed = n_crashed = 0
    start = time.perf_counter()
    with Recorder(cfg.out, rig, creation=creation, worker=worker) as rec:
        while bool(queue.recording.any()):
            scene = world.scene()
            render = renderer.render(scene)
            obs = world.observation(render.rgb)
            expert = world.expert()
            labels = make_labels(
                scene,
                render,
                LABEL_GRID,
                expert_plan=expert.plan,
                expert_speed=expert.target_speed,
                expert_action=expert.action.as_tensor(),
                reason=expert.reason,
                oncoming_gap=expert.oncoming_gap,
            )
            action, _, _ = driver.act(obs)
            pose = world.ego.pose()
            out = world.step(action)
            infractions = {k: getattr(out.infractions, k) for k in INFRACTIONS}
            record = records.record(obs, labels, action.accel, out.infractions)
            rec.add_step(
                obs, labels, action, pose, infractions=infractions, record=record, active=queue.recording
            )
            n_frames += int(queue.recording.sum())
            finished = queue.step(out.done.cpu(), cfg.max_steps)
            results = world.episode_results() if finished else []
            for i in finished:
                result = results[i].to_dict()
                n_passed += bool(result["passed"])
                n_crashed += results[i].n_collisions > 0
                rec.end_episode(i, *queue.env_job[i], tags=[*tags, f"passed={result['passed']}"], info=result)
                n_episodes += 1
            queue.refill(world, finished)
    return {
        "episodes": n_episodes,
        "passed": n_passed,
        "collisions": n_crashed,
        "frames": n_frames,
        "seconds": time.perf_counter() - start,
    }
