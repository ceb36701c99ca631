"""What a trained network's semantic presence head sees of the hard cases (eval.semantic_read).

    python scripts/semantic_read.py RUN DATA [THREADS]

DATA: expert episodes the network did not train on, e.g. `e2edrive collect --scenario
unknown_object,puddle,geese_standing --seeds 600100:600108 --out runs/hard_val`. Beside it, the
object and occupancy heads' recall of the same objects (eval.perception).
"""

from __future__ import annotations

import sys

import torch

from e2edrive.eval.drivers import load_policy
from e2edrive.eval.perception import hazard_recall, recall_table
from e2edrive.eval.semantic_read import semantic_read, semantic_table
from e2edrive.train.data import open_dataset


def main(argv: list[str]) -> None:
    if len(argv) < 2:
        sys.exit(__doc__)
    torch.set_num_threads(int(argv[2]) if len(argv) > 2 else 2)
    model, data = load_policy(argv[0]), open_dataset(argv[1], 2)
    print(semantic_table(semantic_read(model, data)))
    print()
    print(recall_table(hazard_recall(model, data)))


if __name__ == "__main__":
    main(sys.argv[1:])
