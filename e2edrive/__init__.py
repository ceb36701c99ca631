"""e2edrive: an end-to-end driving stack — 8 cameras in, steering and acceleration out.

Importing the package registers its gymnasium environments:

    gymnasium.make("e2edrive/Drive-v0", scenario="cut_in", render_mode="rgb_array")
    gymnasium.make_vec("e2edrive/Drive-v0", num_envs=8, vectorization_mode="vector_entry_point")

The entry points are strings, so registering imports gymnasium only (about 0.15 s, numpy
included); torch and the simulator load when an environment is made.
"""

import gymnasium

__version__ = "0.1.0"

DRIVE_ENV_ID = "e2edrive/Drive-v0"

if DRIVE_ENV_ID not in gymnasium.registry:  # a re-import (importlib.reload) must not warn of an override
    gymnasium.register(
        id=DRIVE_ENV_ID,
        entry_point="e2edrive.sim.env:DrivingEnv",
        vector_entry_point="e2edrive.sim.env:DrivingVectorEnv",
        # World ends episodes itself (route done, collision, each scenario's time limit)
        max_episode_steps=None,
        disable_env_checker=False,
    )
