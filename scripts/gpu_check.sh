#!/usr/bin/env bash
# The GPU check of e2edrive, prepared to run as one command on a CUDA machine (no network):
#   bash scripts/gpu_check.sh OUT_DIR [QUICKSTART_MINUTES]
#   STAGES="smoke loader" bash scripts/gpu_check.sh OUT_DIR      # only those stages
# Stages run one after another, each under its own timeout, and a failing stage does not stop the
# next: world, render, train (benchmarks on CUDA), device_tests (tests/test_device.py on cuda),
# smoke (the smoke-recipe quickstart on cuda, end to end), loader (training steps/s on cuda reading
# batches in the training process against 4 DataLoader workers, same small dataset), quickstart
# (the `quick` recipe on cuda, cut at QUICKSTART_MINUTES). Logs and JSON land in OUT_DIR.
# Python packages missing on the machine travel as wheels in .whl/ (see BENCHMARKS.md).
set -u
OUT=${1:?usage: gpu_check.sh OUT_DIR [QUICKSTART_MINUTES]}
QS_MIN=${2:-6}
mkdir -p "$OUT"
if ls .whl/*.whl >/dev/null 2>&1; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl
  export PYTHONPATH=/tmp/site:$PWD
else
  export PYTHONPATH=$PWD
fi
export PYTHONUNBUFFERED=1
py=python3
STAGES=${STAGES:-world render train device_tests smoke loader quickstart}
stage() {  # stage NAME SECONDS CMD...
  local name=$1 secs=$2; shift 2
  case " $STAGES " in *" ${name%%_w*} "*) ;; *) return 0 ;; esac
  local t0=$(date +%s)
  timeout "$secs" "$@" >"$OUT/$name.log" 2>&1
  local rc=$?
  echo "stage $name rc=$rc $(( $(date +%s) - t0 )) s" | tee -a "$OUT/stages.txt"
  tail -5 "$OUT/$name.log"
}
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader | tee "$OUT/gpu.txt"
$py -c "import torch; print(torch.__version__, torch.cuda.get_device_name(0))" | tee -a "$OUT/gpu.txt"
stage world 60 $py -m bench.world_steps --device cuda --envs 1024 --repeats 3 --steps 100 --highway-steps 0 --out "$OUT/world_cuda.json"
stage render 60 $py -m bench.render --device cuda --envs 256 --skip-highway --labels
stage train 90 bash -c "for m in fp32 bf16; do for b in 8 64; do $py -m bench.train_speed --device cuda --mode \$m --batch-size \$b --steps 10 --warmup 3 | tail -1; done; done"
stage device_tests 120 $py -m pytest -q tests/test_device.py --device cuda
stage smoke 120 $py -m e2edrive.cli quickstart --recipe smoke --out /tmp/qs_smoke --device cuda \
  --max-episode-steps 40 --videos 0
cp /tmp/qs_smoke/summary.md "$OUT/smoke_summary.md" 2>/dev/null
stage loader 60 $py -m e2edrive.cli collect --out /tmp/loader_data --scenario basic --seeds 0:4 --device cuda --num-envs 12
for w in 0 4; do
  stage loader_w$w 100 $py -m e2edrive.cli train --data /tmp/loader_data --out /tmp/loader_w$w --device cuda \
    --num-workers $w --max-steps 300 --batch-size 8 --warmup-steps 20 --no-progress
  cp /tmp/loader_w$w/*.jsonl "$OUT/" 2>/dev/null && for f in /tmp/loader_w$w/*.jsonl; do mv "$OUT/$(basename "$f")" "$OUT/loader_w${w}_$(basename "$f")"; done
done
stage quickstart $((QS_MIN * 60)) $py -m e2edrive.cli quickstart --out /tmp/qs --device cuda --num-envs 32 --videos 0
cp /tmp/qs/summary.md "$OUT/quickstart_summary.md" 2>/dev/null
# everything else in one archive (the tool brings back at most 8 files): stage logs, the
# evaluation JSON, the trained runs' checkpoints and logs (tiny: a few MB)
tar -czf /tmp/results.tar.gz -C "$OUT" . -C /tmp qs/eval qs/runs 2>/dev/null
find "$OUT" -mindepth 1 -not -name stages.txt -not -name '*summary.md' -delete
mv /tmp/results.tar.gz "$OUT/"
exit 0
