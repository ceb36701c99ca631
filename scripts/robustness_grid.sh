#!/usr/bin/env bash
# Issue 12's whole measurement on a quickstart run directory, spread over the machine's cores:
#   - `e2edrive robustness` of the policy (RUN/runs/driving) against DAVE-2 (RUN/runs/dave2) on
#     `basic`, 8 unseen seeds per scenario, every fault at severities 1-3: mRR and mCE of both
#     (DAVE-2's own table is made from the same scores: its mCE is 100 by definition);
#   - the ego-status MLP (RUN/runs/ego_mlp) on the same grid, DAVE-2's scores reused;
#   - bench.health_monitor: detection latency, false alarms, stop rate with the front cameras lost.
#
#   scripts/robustness_grid.sh RUN [WORKERS] [OUT]       (OUT: RUN/robustness by default)
#
# Writes OUT/{driving,dave2,ego_mlp}/robustness.{json,md,svg}, OUT/health_monitor.json and .md,
# OUT/times.txt. The policy+DAVE-2 grid and the health monitor run side by side (most workers to
# the grid), then the ego MLP's grid. Scale knobs (environment): SEEDS (seed range per scenario,
# default 1000000:1000008), FAULTS (default all), ROBUSTNESS_ARGS and HM_ARGS (extra arguments of
# `e2edrive robustness` and bench.health_monitor, e.g. "--max-steps 20" and "--smoke" for a try),
# HM_WORKERS (its share of WORKERS, default WORKERS/5), PYTHON (default .venv/bin/python, else
# python3). Every number is a function of (scenario, seed): the worker count changes the time only.
set -euo pipefail

RUN=${1:?usage: scripts/robustness_grid.sh QUICKSTART_RUN_DIR [WORKERS] [OUT_DIR]}
WORKERS=${2:-16}
OUT=${3:-$RUN/robustness}
SEEDS=${SEEDS:-1000000:1000008}
FAULTS=${FAULTS:-all}
HM_WORKERS=${HM_WORKERS:-$(((WORKERS + 4) / 5))}
GRID_WORKERS=$((WORKERS > HM_WORKERS ? WORKERS - HM_WORKERS : 1))
if [[ -z ${PYTHON:-} ]]; then
    if [[ -x .venv/bin/python ]]; then PYTHON=.venv/bin/python; else PYTHON=python3; fi
fi
for m in driving dave2 ego_mlp; do
    [[ -d $RUN/runs/$m ]] || { echo "robustness_grid: no $RUN/runs/$m (a quickstart run directory?)" >&2; exit 2; }
done
mkdir -p "$OUT/driving" "$OUT/dave2" "$OUT/ego_mlp"
export OMP_NUM_THREADS=1 # every worker process uses one torch thread
# shellcheck disable=SC2206  # ROBUSTNESS_ARGS is a list of arguments
GRID=(--suite basic --seeds "$SEEDS" --faults "$FAULTS" --severities 1,2,3 --no-progress ${ROBUSTNESS_ARGS:-})
start=$(date +%s)
stamp() { echo "$1: $(($(date +%s) - start)) s" | tee -a "$OUT/times.txt"; }
: >"$OUT/times.txt"
echo "robustness_grid: $WORKERS workers ($GRID_WORKERS grid, $HM_WORKERS health monitor), seeds $SEEDS" >&2

trap 'kill $(jobs -p) 2>/dev/null || true' EXIT # a failed grid does not leave the other running
"$PYTHON" -m e2edrive.cli robustness --checkpoint "$RUN/runs/driving" --reference "$RUN/runs/dave2" \
    "${GRID[@]}" --workers "$GRID_WORKERS" --report "$OUT/driving" >"$OUT/driving/stdout.md" &
grid=$!
# shellcheck disable=SC2086  # HM_ARGS is a list of arguments
"$PYTHON" -m bench.health_monitor --workers "$HM_WORKERS" --out "$OUT/health_monitor.json" ${HM_ARGS:-} \
    >"$OUT/health_monitor.md" &
hm=$!
wait $grid
stamp "policy and DAVE-2 grid"

# DAVE-2's own table, from the reference scores just measured (no second drive).
"$PYTHON" - "$OUT/driving/robustness.json" "$OUT/dave2" <<'EOF'
import json
import sys

from e2edrive.eval.robustness import RobustnessTable

d = json.load(open(sys.argv[1]))
scores = {f: {int(s): v for s, v in x["reference_driving_score"].items()} for f, x in d["faults"].items()}
clean = d["reference_clean_driving_score"]
table = RobustnessTable("dave2", clean, scores, "dave2", clean, scores, d["episodes_per_condition"], d["setup"])
table.write(sys.argv[2])
EOF

"$PYTHON" -m e2edrive.cli robustness --checkpoint "$RUN/runs/ego_mlp" --reference-json "$OUT/driving/robustness.json" \
    "${GRID[@]}" --workers "$WORKERS" --report "$OUT/ego_mlp" >"$OUT/ego_mlp/stdout.md"
stamp "ego MLP grid"
wait $hm
stamp "health monitor"

for m in driving dave2 ego_mlp; do
    "$PYTHON" -c "import json,sys; d=json.load(open(sys.argv[1])); print(f\"{d['policy']}: clean DS {d['clean_driving_score']}, mRR {d['mRR']}, mCE {d['mCE_percent']} %\")" \
        "$OUT/$m/robustness.json"
done
cat "$OUT/health_monitor.md"
stamp "total"
