"""The (scenario, seed) jobs of a recording streamed through B environment slots: when a slot's
episode ends it takes the next job (World.reset_envs), or stops recording when none is left.
Shared by `e2edrive collect` (the expert drives) and the world model's any-driver collection."""

from __future__ import annotations

import torch


class EpisodeQueue:
    def __init__(self, jobs: list[tuple[str, int]], batch: int):
        self.jobs = jobs
        self.env_job = list(jobs[:batch])  # the job each environment is driving
        self.next_job = batch
        self.recording = torch.ones(batch, dtype=torch.bool)  # False once a slot has no job left
        self.steps = torch.zeros(batch, dtype=torch.long)  # recorded steps of each slot's episode

    def step(self, done: torch.Tensor, max_steps: int | None) -> list[int]:
        """Count one recorded step; done (B,) from World.step -> the recording slots whose episode
        ended (or reached max_steps)."""
        self.steps += 1
        if max_steps is not None:
            done = done | (self.steps >= max_steps)
        return (done & self.recording).nonzero().flatten().tolist()

    def refill(self, world, finished: list[int]) -> None:
        """Give each finished slot the next job, or stop it; reset the restarted slots together."""
        restart, pairs = [], []
        for i in finished:
            if self.next_job < len(self.jobs):
                self.env_job[i] = self.jobs[self.next_job]
                restart.append(i)
                pairs.append(self.jobs[self.next_job])
                self.next_job += 1
            else:
                self.recording[i] = False
        if restart:
            world.reset_envs(restart, pairs)
            self.steps[restart] = 0
