"""Seeing versus deciding on any run: the perception report's table for a trained network.

    python scripts/perception_recall.py RUN VAL_DATA [OUT.json] [THREADS]

Recall of the hard cases' objects by the object and occupancy heads, by distance band, and the
heads' false alarms on the free cells of the ego's path (eval.perception), on the held-out frames
of VAL_DATA (e.g. runs/quickstart/data/val); the quickstart prints the same table for its own run.
"""

from __future__ import annotations

import json
import sys

import torch

from e2edrive.eval.drivers import load_policy
from e2edrive.eval.perception import hazard_recall, recall_table
from e2edrive.train.data import open_dataset


def main(argv: list[str]) -> None:
    if len(argv) < 2:
        sys.exit(__doc__)
    torch.set_num_threads(int(argv[3]) if len(argv) > 3 else 2)
    recall = hazard_recall(load_policy(argv[0]), open_dataset(argv[1], 2))
    print(recall_table(recall))
    if len(argv) > 2:
        with open(argv[2], "w") as f:
            json.dump(recall, f, indent=1)


if __name__ == "__main__":
    main(sys.argv[1:])
