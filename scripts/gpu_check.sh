#!/usr/bin/env bash
# The GPU check of e2edrive, prepared to run as one command on a CUDA machine (no network):
#   bash scripts/gpu_check.sh OUT_DIR [QUICKSTART_MINUTES]
# Stages run one after another, each under its own timeout, and a failing stage does not stop the
# next: the world, renderer and training benchmarks on CUDA (CPU rows beside them in the same run),
# then the device-agnostic tests (tests/test_device.py) on cuda, then the quickstart with --device
# cuda on the whole catalog. Logs and JSON land in OUT_DIR.
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
stage() {  # stage NAME SECONDS CMD...
  local name=$1 secs=$2; shift 2
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
stage quickstart $((QS_MIN * 60 + 100)) $py -m e2edrive.cli quickstart --out /tmp/qs --device cuda \
  --minutes "$QS_MIN" --eval-minutes 2 --train-suite all --num-envs 32 --corner-seeds 8 --videos 0 --batch-size 32
cp /tmp/qs/summary.md "$OUT/quickstart_summary.md" 2>/dev/null
# everything else in one archive (the tool brings back at most 8 files): stage logs, the
# evaluation JSON, the trained runs' checkpoints and logs (tiny: a few MB)
tar -czf "$OUT/results.tar.gz" -C "$OUT" --exclude results.tar.gz . -C /tmp/qs eval runs 2>/dev/null
exit 0
