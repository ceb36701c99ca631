"""What the expert does at standstill behind a standing obstacle, by where the nearest oncoming car is.

    python scripts/standstill_decisions.py runs/quickstart/data/train geese_standing,unknown_object

Reads only the dataset's index (columns speed, expert_accel, oncoming_gap). For each scenario, the
frames with speed < 1 m/s are split into "go" (the expert accelerates, > 0 m/s^2) and "wait", and by
the nearest oncoming vehicle: inside the `tiny` BEV (< 48 m ahead), beyond it but within 100 m,
farther or none. A BEV-only planner sees the last two columns alike; if "wait" is common in the
middle one, it cannot learn when to go without seeing farther (model.far_traffic). Frames recorded
before the oncoming_gap column (NaN) are counted apart.
"""

from __future__ import annotations

import sys

import numpy as np
import pyarrow.compute as pc

from e2edrive.data.dataset import read_index

BUCKETS = (("< 48 m", 0.0, 48.0), ("48-100 m", 48.0, 100.0), ("> 100 m or none", 100.0, float("inf")))


def main(root: str, scenarios: str) -> None:
    table, _, _ = read_index(root)
    for name in scenarios.split(","):
        t = table.filter(pc.and_(pc.equal(table["scenario"], name), pc.less(table["speed"], 1.0)))
        go = t["expert_accel"].to_numpy() > 0.0
        gap = t["oncoming_gap"].to_numpy().astype(np.float64)
        print(f"{name}: {t.num_rows} standstill frames")
        print("| oncoming car | go | wait |\n|---|---:|---:|")
        for label, lo, hi in BUCKETS:
            m = (gap >= lo) & ((gap < hi) | (np.isinf(gap) & np.isinf(hi)))
            print(f"| {label} | {int((m & go).sum())} | {int((m & ~go).sum())} |")
        unknown = np.isnan(gap)
        if unknown.any():
            print(f"| not recorded | {int((unknown & go).sum())} | {int((unknown & ~go).sum())} |")


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit("usage: standstill_decisions.py DATA SCENARIO[,SCENARIO...]")
    main(sys.argv[1], sys.argv[2])
