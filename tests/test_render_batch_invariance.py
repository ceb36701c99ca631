"""An episode's images are a function of (scenario, seed) alone, whatever shares its batch."""

import torch

from e2edrive.sim.render import Renderer
from e2edrive.sim.world import World


def test_images_do_not_depend_on_the_other_episodes_of_the_batch():
    alone = World(["lane_follow"], [3])
    shared = World(["lane_follow", "traffic_light", "geese_standing"], [3, 8, 5])  # other map sizes
    assert shared.ground_raster().material.shape[-1] != alone.ground_raster().material.shape[-1]
    r = Renderer(alone.rig)
    a, b = r.render(alone.scene()), r.render(shared.scene())
    torch.testing.assert_close(a.rgb[0], b.rgb[0], rtol=0, atol=0)
    torch.testing.assert_close(a.depth[0], b.depth[0], rtol=0, atol=0)
