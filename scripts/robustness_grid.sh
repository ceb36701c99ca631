#!/usr/bin/env bash
# Issue 12's whole measurement on a quickstart run directory, spread over the machine's cores:
#   - `e2edrive robustness` of the policy (RUN/runs/driving) against DAVE-2 (RUN/runs/dave2) on
#     `basic`, 8 unseen seeds per scenario, every fault at severities 1-3: mRR and mCE of both
#     (DAVE-2's own table is made from the same scores: its mCE is 100 by definition);
#   - the ego-status MLP (RUN/runs/ego_mlp) on the same grid, DAVE-2's scores reused;
#   - bench.health_monitor: detection latency, false alarms, stop rate with the front cameras lost.
#
#   scripts/robustness_grid.sh RUN [WORKERS] [OUT]        (OUT: RUN/robustness by default)
#   scripts/robustness_grid.sh --merge OUT PART_OUT...   (one table per policy from parts of the grid)
#
# Writes OUT/{driving,dave2,ego_mlp}/robustness.{json,md,svg}, OUT/health_monitor.json and .md,
# OUT/times.txt. The policy+DAVE-2 grid and the health monitor run side by side (most workers to
# the grid), then the ego MLP's grid. Every number is a function of (scenario, seed): the worker
# count changes the time only.
#
# Cost, measured on a 16-core machine (one torch thread per process; rendering 8 cameras is most of
# it): the same grid at 2 seeds per scenario with a smaller health monitor took 240 s; at 8 seeds a
# DAVE-2 condition (24 episodes) takes about 80 s of one core and a policy condition 200-300 s or
# more, so the whole measurement is 14,000-17,000 core-seconds: 15-18 minutes of 16 cores. Where
# a run must end within 10 minutes, run it in parts and merge them (each grid part also drives the
# clean episodes, which the merge checks agree), each part about 6-7 minutes on 16 cores:
#   FAULTS=camera_crash,frame_lost,frozen,motion_blur HEALTH=0 scripts/robustness_grid.sh RUN 16 out/p1
#   FAULTS=low_light,glare,fog,quantize HEALTH=0 scripts/robustness_grid.sh RUN 16 out/p2
#   FAULTS=rain,action_latency,speed_noise HEALTH=0 scripts/robustness_grid.sh RUN 16 out/p3
#   mkdir -p out/p4 && OMP_NUM_THREADS=1 python -m bench.health_monitor --workers 16 \
#       --out out/p4/health_monitor.json > out/p4/health_monitor.md
#   scripts/robustness_grid.sh --merge out/all out/p1 out/p2 out/p3 out/p4
#
# Environment: SEEDS (seed range per scenario, default 1000000:1000008), FAULTS (default all),
# HEALTH (0: no health monitor), HM_WORKERS (its share of WORKERS, default WORKERS/5),
# ROBUSTNESS_ARGS and HM_ARGS (extra arguments of `e2edrive robustness` and bench.health_monitor,
# e.g. "--max-steps 20" and "--smoke" for a quick try), PYTHON (default .venv/bin/python, else
# python3).
set -euo pipefail

if [[ -z ${PYTHON:-} ]]; then
    if [[ -x .venv/bin/python ]]; then PYTHON=.venv/bin/python; else PYTHON=python3; fi
fi
POLICIES=(driving dave2 ego_mlp)

if [[ ${1:-} == --merge ]]; then
    OUT=${2:?usage: scripts/robustness_grid.sh --merge OUT PART_OUT...}
    shift 2
    (($# > 0)) || { echo "robustness_grid: --merge needs the parts' output folders" >&2; exit 2; }
    parts=()
    for p in "$@"; do if [[ -d $p/driving ]]; then parts+=("$p"); fi; done
    ((${#parts[@]} > 0)) || { echo "robustness_grid: no grid (PART/driving) among $*" >&2; exit 2; }
    for m in "${POLICIES[@]}"; do
        "$PYTHON" - "$OUT/$m" "${parts[@]/%//$m/robustness.json}" <<'EOF'
import json
import sys

from e2edrive.eval.robustness import RobustnessTable, merge_tables

table = merge_tables([RobustnessTable.from_dict(json.load(open(p))) for p in sys.argv[2:]])
table.write(sys.argv[1])
print(table.markdown().splitlines()[0])
EOF
    done
    for p in "$@"; do
        if [[ -f $p/health_monitor.json ]]; then cp "$p"/health_monitor.{json,md} "$OUT/"; fi
    done
    exit 0
fi

RUN=${1:?usage: scripts/robustness_grid.sh QUICKSTART_RUN_DIR [WORKERS] [OUT_DIR]}
WORKERS=${2:-16}
OUT=${3:-$RUN/robustness}
SEEDS=${SEEDS:-1000000:1000008}
FAULTS=${FAULTS:-all}
HEALTH=${HEALTH:-1}
HM_WORKERS=${HM_WORKERS:-$(((WORKERS + 4) / 5))}
GRID_WORKERS=$WORKERS
if [[ $HEALTH != 0 ]]; then GRID_WORKERS=$((WORKERS > HM_WORKERS ? WORKERS - HM_WORKERS : 1)); fi
for m in "${POLICIES[@]}"; do
    [[ -d $RUN/runs/$m ]] || { echo "robustness_grid: no $RUN/runs/$m (a quickstart run directory?)" >&2; exit 2; }
    mkdir -p "$OUT/$m"
done
export OMP_NUM_THREADS=1 # every worker process uses one torch thread
# shellcheck disable=SC2206  # ROBUSTNESS_ARGS is a list of arguments
GRID=(--suite basic --seeds "$SEEDS" --faults "$FAULTS" --severities 1,2,3 --no-progress ${ROBUSTNESS_ARGS:-})
start=$(date +%s)
: >"$OUT/times.txt"
stamp() { echo "$1: $(($(date +%s) - start)) s" | tee -a "$OUT/times.txt"; }
echo "robustness_grid: $WORKERS workers ($GRID_WORKERS grid), seeds $SEEDS, faults $FAULTS" >&2

trap 'kill $(jobs -p) 2>/dev/null || true' EXIT # a failed grid does not leave the monitor running
"$PYTHON" -m e2edrive.cli robustness --checkpoint "$RUN/runs/driving" --reference "$RUN/runs/dave2" \
    "${GRID[@]}" --workers "$GRID_WORKERS" --report "$OUT/driving" >"$OUT/driving/stdout.md" &
grid=$!
hm=
if [[ $HEALTH != 0 ]]; then
    # shellcheck disable=SC2086  # HM_ARGS is a list of arguments
    "$PYTHON" -m bench.health_monitor --workers "$HM_WORKERS" --out "$OUT/health_monitor.json" ${HM_ARGS:-} \
        >"$OUT/health_monitor.md" &
    hm=$!
fi
wait $grid
stamp "policy and DAVE-2 grid"

# DAVE-2's own table, from the reference scores just measured (no second drive).
"$PYTHON" -c 'import json, sys
from e2edrive.eval.robustness import RobustnessTable
RobustnessTable.from_dict(json.load(open(sys.argv[1]))).reference_table().write(sys.argv[2])' \
    "$OUT/driving/robustness.json" "$OUT/dave2"

"$PYTHON" -m e2edrive.cli robustness --checkpoint "$RUN/runs/ego_mlp" --reference-json "$OUT/driving/robustness.json" \
    "${GRID[@]}" --workers "$WORKERS" --report "$OUT/ego_mlp" >"$OUT/ego_mlp/stdout.md"
stamp "ego MLP grid"
if [[ -n $hm ]]; then
    wait "$hm"
    stamp "health monitor"
fi

for m in "${POLICIES[@]}"; do head -n 1 "$OUT/$m/robustness.md"; done
if [[ -n $hm ]]; then cat "$OUT/health_monitor.md"; fi
stamp "total"
