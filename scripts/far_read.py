"""How well a trained network sees oncoming traffic beyond its BEV (eval.far_read).

    python scripts/far_read.py RUN DATA [THREADS]

DATA: a dataset recorded with the oncoming_gap label (e.g. `e2edrive collect --scenario
geese_standing,unknown_object,puddle --seeds 500000:500008 --out runs/far_val`: seeds the network
did not train on).
"""

from __future__ import annotations

import sys

import torch

from e2edrive.eval.drivers import load_policy
from e2edrive.eval.far_read import far_read_counts, far_read_table
from e2edrive.train.data import open_dataset


def main(argv: list[str]) -> None:
    if len(argv) < 2:
        sys.exit(__doc__)
    torch.set_num_threads(int(argv[2]) if len(argv) > 2 else 2)
    counts = far_read_counts(load_policy(argv[0]), open_dataset(argv[1], 2))
    print(far_read_table(counts) if counts else "this network has no far-traffic head")


if __name__ == "__main__":
    main(sys.argv[1:])
