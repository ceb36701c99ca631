import torch

from e2edrive.data.episode_queue import EpisodeQueue


class FakeWorld:
    def __init__(self):
        self.resets = []

    def reset_envs(self, idx, pairs):
        self.resets.append((list(idx), list(pairs)))


def test_finished_slots_take_the_next_jobs_then_stop():
    jobs = [("a", 0), ("a", 1), ("b", 0)]
    q, world = EpisodeQueue(jobs, 2), FakeWorld()
    assert q.step(torch.tensor([False, True]), None) == [1]  # slot 1's episode ended after 1 step
    q.refill(world, [1])
    assert world.resets == [([1], [("b", 0)])] and q.env_job == [("a", 0), ("b", 0)]
    assert q.steps.tolist() == [1, 0] and q.recording.all()
    assert q.step(torch.tensor([False, False]), 2) == [0]  # max_steps cuts slot 0 at its 2nd step
    q.refill(world, [0])
    assert len(world.resets) == 1 and q.recording.tolist() == [False, True]  # no job left: stops
    assert q.step(torch.tensor([True, True]), None) == [1]  # a stopped slot never finishes again
