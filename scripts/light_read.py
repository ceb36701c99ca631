"""How well a trained network reads the traffic light's state (eval.light_read), per state.

    python scripts/light_read.py RUN DATA [THREADS]

DATA: expert episodes the network did not train on, e.g. `e2edrive collect --scenario
traffic_light --seeds 600000:600008 --out runs/light_val`.
"""

from __future__ import annotations

import sys

import torch

from e2edrive.eval.drivers import load_policy
from e2edrive.eval.light_read import light_confusion, light_table
from e2edrive.train.data import open_dataset


def main(argv: list[str]) -> None:
    if len(argv) < 2:
        sys.exit(__doc__)
    torch.set_num_threads(int(argv[2]) if len(argv) > 2 else 2)
    print(light_table(light_confusion(load_policy(argv[0]), open_dataset(argv[1], 2))))


if __name__ == "__main__":
    main(sys.argv[1:])
