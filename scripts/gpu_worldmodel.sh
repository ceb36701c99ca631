#!/usr/bin/env bash
# Every figure of issue 10 (the learned 8-camera world model) from one run on one GPU machine.
#
#   scripts/gpu_worldmodel.sh [CHECKPOINTS]          # GPU: about 8 minutes (PHASE_SECONDS=90 per phase)
#   SMOKE=1 scripts/gpu_worldmodel.sh [CHECKPOINTS]  # CPU, 1 thread, tiny scale: under 3 minutes
#   CPU=1 scripts/gpu_worldmodel.sh [CHECKPOINTS]    # 2 cores: 2 x 15 min of training, ~50 min
#
# CHECKPOINTS (default runs/qsA/runs) holds the run directories driving/, dave2/ and ego_mlp/
# (a missing one is skipped and said so). Runs from the repository root with .venv present, or
# without it on python3 plus the wheels of .whl/ (carry it); no network. Results go to $OUT
# (default ./gpu_out), each file written as soon as its stage ends:
#   machine.txt          nvidia-smi's card name, torch, CPU count
#   stages.tsv           stage, exit code (124: cut by its time cap), wall seconds
#   bench_dream.json     dream steps/s at batch 1 and 16 beside the real World + renderer
#   collect_*.json       what each collector recorded (episodes, frames, collisions)
#   train_log.jsonl      the world model's training log (tokenizer, then dynamics)
#   wm/checkpoint/       the trained world model (model.safetensors + config.json, under 1 MB for
#                        tiny): `--worldmodel OUT/wm` reads it back
#   fidelity.json        PSNR (static / moving pixels), depth, mIoU per camera at 0.5/1/2/5 s of
#                        the dream decoded in full and residually, beside repeat-last and the
#                        tokenizer ceiling of each decoding (table: logs/fidelity.log)
#   eyes.json            the driving network's occupancy / traffic-light heads, dream (full and
#                        residual decoding) vs real, 1 s
#   actions.json         action following read back by a probe trained on real frames
#   agreement.json       six drivers, simulator vs dream (agent-conditioned and free), merged from
#                        agreement_DRIVER.json (one process per driver)
#   inject.json          cut-in box IoU, PSNR change of the pixels away from it
#   summary.md           the headline figures, one line each
#   logs/                every stage's output
# Data and the model go to $WORK (default /tmp/e2e_wm), not to $OUT. PACK=1 packs $OUT into
# results.tar.gz beside summary.md at the end (the device tool brings back at most 8 files).
# AGREE_EGO (vehicle | learned, default vehicle: session 6) is the dream's ego motion in the agreement.
# DYN_SECONDS gives the dynamics phase its own budget (GPU; default: PHASE_SECONDS), COLLECT_SECONDS
# the collection's cap (GPU; default 75). SKIP="bench agreement" skips those stages (a family name skips each of its stages: agreement ->
# agreement_expert, ...); stages: bench collect train fidelity eyes actions agreement inject. With
# collect or train skipped, the data or the model already in $WORK is used.
set -u
cd "$(dirname "$0")/.."
CKPT=${1:-runs/qsA/runs}
OUT=${OUT:-./gpu_out}
WORK=${WORK:-/tmp/e2e_wm}
PY=${PY:-.venv/bin/python}
if [ ! -x "$PY" ]; then # a machine with torch installed system-wide (the GPU machines): python3, plus
  PY=python3            # the packages it lacks, carried as wheels in .whl/ (as scripts/gpu_check.sh)
  if ls .whl/*.whl >/dev/null 2>&1; then
    $PY -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl
    export PYTHONPATH=/tmp/site:$PWD
  else
    export PYTHONPATH=$PWD
  fi
fi
WM="$PY -m e2edrive.cli worldmodel"
mkdir -p "$OUT/logs" "$WORK"

skipped() { # skipped NAME: NAME, or its family (agreement for agreement_expert), is in $SKIP
  local s
  for s in ${SKIP:-}; do
    if [ "$1" = "$s" ] || [ "${1%%_*}" = "$s" ]; then return 0; fi
  done
  return 1
}
skipped collect || rm -rf "$WORK/train" "$WORK/held"
skipped train || rm -rf "$WORK/wm"
export PYTHONUNBUFFERED=1

if [ "${SMOKE:-0}" = 1 ]; then
  DEV=cpu THREADS=1 EVAL_THREADS=1 COLLECTORS=5 HELD_COLLECTORS=1
  export OMP_NUM_THREADS=1
  SCEN=lane_follow,cut_in EP_STEPS=64 TRAIN_SEEDS=1 HELD_SEEDS=1
  TRAIN_ARGS="--steps 3 --batch-size 2"
  FID_WINDOWS=1 EYES_WINDOWS=1 PROBE_STEPS=3 PROBE_SECONDS=0
  CTX_SEEDS=1000:1001 AGREE_SCEN=cut_in AGREE_SEEDS=1000:1001 AGREE_STEPS=4 INJ_SEEDS=1000:1001
  BENCH_ARGS="--batches 1 --steps 2 --repeats 1"
  CAP_COLLECT=60 CAP_TRAIN=60 CAP_EVAL=120 CAP_BENCH=60 PARALLEL_EVAL=0
elif [ "${CPU:-0}" = 1 ]; then # the 2-core laptop: "tiny trains in <= 30 min on 2 cores", then
  DEV=cpu THREADS=2 EVAL_THREADS=1 COLLECTORS=5 HELD_COLLECTORS=2 # every measurement at a smaller scale
  export OMP_NUM_THREADS=1
  SCEN=all EP_STEPS=150 TRAIN_SEEDS=8 HELD_SEEDS=2
  TRAIN_ARGS="--steps 100000 --batch-size 8 --phase-seconds ${PHASE_SECONDS:-900} --workers 0"
  FID_WINDOWS=16 EYES_WINDOWS=16 PROBE_STEPS=1500 PROBE_SECONDS=90
  CTX_SEEDS=1000:1002 AGREE_SCEN=lane_follow,follow_lead,cut_in,unknown_object
  AGREE_SEEDS=1000:1002 AGREE_STEPS=80 INJ_SEEDS=1000:1004
  BENCH_ARGS="--batches 1 16 --steps 10 --repeats 3"
  CAP_COLLECT=360 CAP_TRAIN=$((2 * ${PHASE_SECONDS:-900} + 120)) CAP_EVAL=420 CAP_BENCH=120 PARALLEL_EVAL=1
else
  DEV=cuda THREADS=2 EVAL_THREADS=1 COLLECTORS=11 HELD_COLLECTORS=2
  export OMP_NUM_THREADS=1
  SCEN=all EP_STEPS=150 TRAIN_SEEDS=40 HELD_SEEDS=6
  TRAIN_ARGS="--steps 100000 --batch-size 16 --phase-seconds ${PHASE_SECONDS:-90} --dynamics-seconds ${DYN_SECONDS:-0} --workers 8"
  FID_WINDOWS=48 EYES_WINDOWS=48 PROBE_STEPS=4000 PROBE_SECONDS=45
  CTX_SEEDS=1000:1004 AGREE_SCEN=lane_follow,follow_lead,cut_in,spinout_ahead,pedestrian_close,unknown_object
  AGREE_SEEDS=1000:1003 AGREE_STEPS=100 INJ_SEEDS=1000:1008
  BENCH_ARGS="--batches 1 16 --steps 20 --repeats 5"
  DYN=${DYN_SECONDS:-0}
  [ "$DYN" = 0 ] && DYN=${PHASE_SECONDS:-90}
  CAP_COLLECT=${COLLECT_SECONDS:-75} CAP_TRAIN=$((${PHASE_SECONDS:-90} + DYN + 40)) CAP_EVAL=130 CAP_BENCH=45 PARALLEL_EVAL=1
fi

# stage NAME CAP_SECONDS COMMAND...: run with a time cap, log wall time and exit code
stage() {
  local name=$1 cap=$2
  shift 2
  local t0 rc ms
  if skipped "$name"; then
    printf '%s\tskipped\t0\n' "$name" | tee -a "$OUT/stages.tsv"
    return 0
  fi
  t0=$(date +%s%N)
  timeout --signal=TERM --kill-after=10 "$cap" "$@" >"$OUT/logs/$name.log" 2>&1
  rc=$?
  ms=$((($(date +%s%N) - t0) / 1000000))
  printf '%s\t%s\t%d.%01d\n' "$name" "$rc" $((ms / 1000)) $((ms % 1000 / 100)) | tee -a "$OUT/stages.tsv"
  tail -n 3 "$OUT/logs/$name.log" | sed "s/^/  [$name] /"
}

T_START=$(date +%s)
printf 'stage\trc\tseconds\n' >"$OUT/stages.tsv"
{
  echo "gpu: $(nvidia-smi --query-gpu=name,memory.total --format=csv,noheader 2>/dev/null || echo none)"
  echo "torch: $($PY -c 'import torch; print(torch.__version__, "cuda", torch.cuda.is_available())')"
  echo "cpus: $(nproc --all)  smoke: ${SMOKE:-0}  device: $DEV  checkpoints: $CKPT"
  echo "commit: $(git rev-parse --short HEAD 2>/dev/null || echo unknown)"
} | tee "$OUT/machine.txt"

# 1. dream speed beside the real World + renderer (untrained weights: speed does not depend on them),
#    alone on the machine so nothing else perturbs it
POLICY_ARG=()
[ -d "$CKPT/driving" ] && POLICY_ARG=(--checkpoint "$CKPT/driving")
stage bench "$CAP_BENCH" $PY -m bench.dream --device "$DEV" --threads "$THREADS" $BENCH_ARGS \
  "${POLICY_ARG[@]}" --out "$OUT/bench_dream.json"

# 2. any kind of driving, in parallel on the CPU cores: the expert with heavy DART noise, constant
#    velocity (crashes into what stops ahead), and the trained baselines (DAVE-2, ego MLP) that drift;
#    held-out seeds (1000+) recorded the same way. Each collector writes as its own worker id; the
#    time cap keeps every episode finished before it.
collector() { # collector WORKER KIND DIR SEED_START SEEDS; KIND 0, 1: noisy expert, 2: constant
  local w=$1 kind=$2 dir=$3 s0=$4 n=$5 args #    velocity, 3: DAVE-2, 4: ego MLP (else constant velocity)
  case $kind in
    0) args=(--driver expert --noise 0.08 --noise-accel 1.5) ;; # DART: drifts, recovers
    1) args=(--driver expert --noise 0.2 --noise-accel 3.0) ;;  # heavy: leaves the road, hits things
    2) args=(--driver constant_velocity) ;;
    3 | 4) if [ -d "$CKPT/dave2" ] && [ "$kind" = 3 ]; then
         args=(--driver dave2 --checkpoint "$CKPT/dave2")
       elif [ -d "$CKPT/ego_mlp" ]; then
         args=(--driver ego_only --checkpoint "$CKPT/ego_mlp")
       else
         args=(--driver constant_velocity)
       fi ;;
  esac
  $WM collect --out "$dir" --worker "$w" --scenario "$SCEN" --seeds "$s0:$((s0 + n))" \
    --max-steps "$EP_STEPS" --num-envs 4 --threads 1 "${args[@]}"
}
collect_all() {
  local pids=() w
  for ((w = 0; w < COLLECTORS; w++)); do
    collector "$w" $((w % 5)) "$WORK/train" $((w * TRAIN_SEEDS)) "$TRAIN_SEEDS" >"$OUT/collect_train_$w.json" 2>"$OUT/logs/collect_train_$w.err" &
    pids+=($!)
  done
  for ((w = 0; w < HELD_COLLECTORS; w++)); do
    collector $((w + 50)) $((2 * w)) "$WORK/held" $((1000 + w * HELD_SEEDS)) "$HELD_SEEDS" >"$OUT/collect_held_$w.json" 2>"$OUT/logs/collect_held_$w.err" &
    pids+=($!)
  done
  trap 'kill "${pids[@]}" 2>/dev/null' TERM
  wait "${pids[@]}"
}
export -f collector collect_all
export WM WORK OUT CKPT SCEN EP_STEPS COLLECTORS HELD_COLLECTORS TRAIN_SEEDS HELD_SEEDS
stage collect "$CAP_COLLECT" bash -c collect_all
$PY - "$WORK" >"$OUT/data.json" 2>>"$OUT/logs/collect.log" <<'EOF'
import json, sys
from collections import defaultdict
from e2edrive.data.dataset import read_index
COLLISION = ("infraction_collision_vehicle", "infraction_collision_pedestrian_animal", "infraction_collision_static")
out = {}
for name in ("train", "held"):
    idx = read_index(f"{sys.argv[1]}/{name}")[0]
    ep, tags = idx["episode"].to_pylist(), idx["tags"].to_pylist()
    hit = [any(r) for r in zip(*(idx[c].to_pylist() for c in COLLISION))]
    by = defaultdict(lambda: {"episodes": set(), "frames": 0, "collided_episodes": set()})
    for e, t, h in zip(ep, tags, hit):
        d = by[next((x for x in t if x.startswith("driver=")), "driver=?")[7:]]
        d["episodes"].add(e)
        d["frames"] += 1
        if h:
            d["collided_episodes"].add(e)
    out[name] = {
        "episodes": len(set(ep)),
        "frames": idx.num_rows,
        "by_driver": {k: {"episodes": len(v["episodes"]), "frames": v["frames"], "collided_episodes": len(v["collided_episodes"])} for k, v in by.items()},
    }
print(json.dumps(out))
EOF
cat "$OUT/data.json"

# 3. the tiny world model, on the GPU, each phase for a fixed time (its checkpoint is always whole)
stage train "$CAP_TRAIN" $WM train --data "$WORK/train" --out "$WORK/wm" --preset tiny --device "$DEV" \
  --threads "$THREADS" $TRAIN_ARGS
if [ ! -f "$WORK/wm/checkpoint/model.safetensors" ] && [ "$DEV" = cuda ] && ! skipped train; then
  # training on the GPU failed outright: a CPU model, and every measurement on the CPU, beat nothing
  echo "train failed on cuda: training 2 x 30 s on the CPU and measuring there" | tee -a "$OUT/machine.txt"
  rm -rf "$WORK/wm"
  DEV=cpu THREADS=8 EVAL_THREADS=1
  stage train.cpu 80 $WM train --data "$WORK/train" --out "$WORK/wm" --preset tiny --device cpu --threads 8 \
    --steps 100000 --batch-size 8 --phase-seconds 30 --workers 2
fi
cp "$WORK/wm/train_log.jsonl" "$OUT/" 2>/dev/null
mkdir -p "$OUT/wm" && cp -r "$WORK/wm/checkpoint" "$OUT/wm/" 2>/dev/null

# 4. every measurement on held-out seeds (in parallel on the GPU machine: each is a small loop)
run_eval() { # run_eval NAME [DEVICE]
  local dev=${2:-$DEV} tag=$1
  [ "$dev" != "$DEV" ] && tag="$1.$dev"
  local M=(--worldmodel "$WORK/wm" --device "$dev" --threads "$EVAL_THREADS")
  case $1 in
    fidelity) stage "$tag" "$CAP_EVAL" $WM eval "${M[@]}" --data "$WORK/held" --max-windows "$FID_WINDOWS" \
      --out "$OUT/fidelity.json" ;;
    eyes) stage "$tag" "$CAP_EVAL" $WM eyes "${M[@]}" --data "$WORK/held" --policy "$CKPT/driving" \
      --max-windows "$EYES_WINDOWS" --out "$OUT/eyes.json" ;;
    actions) stage "$tag" "$CAP_EVAL" $WM actions "${M[@]}" --probe-data "$WORK/train" --probe-val "$WORK/held" \
      --probe-steps "$PROBE_STEPS" --probe-seconds "$PROBE_SECONDS" --scenario lane_follow --seeds "$CTX_SEEDS" \
      --steps 20 --out "$OUT/actions.json" ;;
    agreement_*) stage "$tag" "$CAP_EVAL" $WM agreement "${M[@]}" --checkpoints "$CKPT" --scenario "$AGREE_SCEN" \
      --seeds "$AGREE_SEEDS" --steps "$AGREE_STEPS" --drivers "${1#agreement_}" --ego "${AGREE_EGO:-vehicle}" \
      --out "$OUT/$1.json" ;;
    inject) stage "$tag" "$CAP_EVAL" $WM inject "${M[@]}" --scenario lane_follow --seeds "$INJ_SEEDS" --steps 20 \
      --out "$OUT/inject.json" ;;
  esac
  # a measurement that failed on the GPU (not one cut by its cap) runs again on the CPU
  local rc
  rc=$(awk -F'\t' -v n="$tag" '$1 == n {r = $2} END {print r}' "$OUT/stages.tsv")
  if [ "$dev" = cuda ] && [ "$rc" != 0 ] && [ "$rc" != 124 ] && [ "$rc" != skipped ]; then
    run_eval "$1" cpu
  fi
}
# one process per driver for the agreement (merged into agreement.json below)
EVALS=(agreement_expert agreement_expert_noisy agreement_constant_velocity agreement_policy agreement_dave2
  agreement_ego_mlp actions fidelity eyes inject)
if [ "$PARALLEL_EVAL" = 1 ]; then
  for e in "${EVALS[@]}"; do run_eval "$e" & done
  wait
else
  for e in "${EVALS[@]}"; do run_eval "$e"; done
fi

# 5. the headline figures
$PY - "$OUT" 2>>"$OUT/logs/summary.err" <<'EOF'
import json, sys
from pathlib import Path
from e2edrive.worldmodel.agreement import merge
out = Path(sys.argv[1])
parts = []
for p in sorted(out.glob("agreement_*.json")):
    try:
        parts.append(json.loads(p.read_text()))
    except Exception as e:
        print(f"{p}: {e}", file=sys.stderr)
parts = [r for r in parts if r["episodes"]]
if parts:
    (out / "agreement.json").write_text(json.dumps(merge(parts), indent=1, allow_nan=False))
EOF
$PY - "$OUT" >"$OUT/summary.md" 2>>"$OUT/logs/summary.err" <<'EOF'
import json, sys
from pathlib import Path
out = Path(sys.argv[1])
def load(name):
    p = out / name
    try:
        return json.loads(p.read_text())
    except Exception as e:
        print(f"- {name}: missing ({type(e).__name__})")
        return None
def f(x, d=2):
    return "n/a" if x is None else f"{x:.{d}f}"
print(f"# issue 10 measurement\n\n{(out / 'machine.txt').read_text()}")
b = load("bench_dream.json")
if b:
    for batch, r in b["batch"].items():
        print(f"- speed batch {batch}: " + ", ".join(f"{k} {v['steps_per_s']:.1f} steps/s" for k, v in r.items()))
fid = load("fidelity.json")
if fid:
    for h, row in fid["summary"].items():
        for decode, dream, ceiling in (("full", "dream", "ceiling"), ("residual", "dream_residual", "ceiling_residual")):
            d, r, c = row[dream], row["repeat_last"], row[ceiling]
            print(f"- fidelity {h} s [{decode}]: psnr dream {f(d['psnr'])} / repeat {f(r['psnr'])} / ceiling {f(c['psnr'])}; "
                  f"static {f(d['psnr_static'])} moving {f(d['psnr_moving'])} (repeat {f(r['psnr_moving'])}); "
                  f"depth absrel {f(d['depth_abs_rel'], 3)} / {f(r['depth_abs_rel'], 3)} / {f(c['depth_abs_rel'], 3)}; "
                  f"miou {f(d['miou'], 3)} / {f(r['miou'], 3)} / {f(c['miou'], 3)}; beats repeat: {row[dream + '_beats_repeat_last']}")
e = load("eyes.json")
if e:
    print(f"- policy's eyes at {e['horizon_s']} s ({e['windows']} windows, {e['frames_with_light']} with a light): "
          f"occupancy IoU real {f(e['real']['occupancy_iou'], 3)} dream {f(e['dream']['occupancy_iou'], 3)} ratio {f(e['ratio']['occupancy_iou'])}; "
          f"light acc real {f(e['real']['light_acc'])} dream {f(e['dream']['light_acc'])} ratio {f(e['ratio']['light_acc'])}; "
          f"with light ratio {f(e['ratio']['light_acc_with_light'])}")
    rr = e["ratio_residual"]
    print(f"- policy's eyes, residual decoding: occupancy IoU {f(e['dream_residual']['occupancy_iou'], 3)} ratio "
          f"{f(rr['occupancy_iou'])}; light acc {f(e['dream_residual']['light_acc'])} ratio {f(rr['light_acc'])}; "
          f"with light ratio {f(rr['light_acc_with_light'])}")
a = load("actions.json")
if a:
    print(f"- probe: {a['probe']}")
    for src, s in a["summary"].items():
        print(f"- actions [{src}]: rank accel {f(s['rank_accel']['mean'])} (min {f(s['rank_accel']['min'])}), "
              f"rank steer {f(s['rank_steer']['mean'])} (min {f(s['rank_steer']['min'])}), "
              f"brake speed error at {a['horizon_s']} s {f(s['brake_speed_error_mps'])} m/s")
g = load("agreement.json")
if g:
    print(f"- agreement drivers {g['drivers']} on {len(g['pairs'])} episodes, cut at {g['max_steps']} steps; skipped {g['skipped']}")
    for mode, s in g["agreement"].items():
        print(f"- agreement [{mode}]: rank {f(s['rank_driving_score'])} (episodes {f(s['rank_driving_score_episodes'])}), "
              f"collision precision {f(s['collision_precision'])} recall {f(s['collision_recall'])} "
              f"(real {s['collisions_real']}, dream {s['collisions_dream']})")
    for name, r in g["per_driver"].items():
        print(f"  - {name}: " + ", ".join(f"{src} DS {v['driving_score']:.1f} col {v['collision_rate']:.2f}" for src, v in r.items()))
i = load("inject.json")
if i:
    print(f"- injection: box IoU mean {f(i['box_iou']['mean'])} min {f(i['box_iou']['min'])} "
          f"(box held still: {f(i['box_iou_hold']['mean'])}); away PSNR change "
          f"{f(i['away_psnr_change_db']['mean'])} dB (max |.| {f(i['away_psnr_change_db']['max_abs'])}); "
          f"injected vs plain away {f(i['away_psnr_injected_vs_plain_db'])} dB")
print("\n## stages (rc 124: cut by its cap)\n")
print((out / "stages.tsv").read_text())
EOF
echo "total wall: $(($(date +%s) - T_START)) s" | tee -a "$OUT/summary.md"
cat "$OUT/summary.md"
# PACK=1 (the device tool brings back at most 8 files): everything in one archive beside the summary
if [ "${PACK:-0}" = 1 ]; then
  tar -czf /tmp/results.tar.gz -C "$OUT" . && find "$OUT" -mindepth 1 -not -name summary.md -delete &&
    mv /tmp/results.tar.gz "$OUT/"
fi
