#!/usr/bin/env bash
# The GPU checks of issue 11 in one call of the device tool (about 6 minutes on an H200):
#   1. the GPU-only tests (CUDA graphs bitwise equal to eager, on-device preprocessing) and the
#      CUDA-graph check on both R50 models, fp32 and bf16, through evictions of a full bank;
#   2. the step benchmark, both R50 models with RMem at HEIGHTxWIDTH: fp32 (CUDA graphs: the encoder while
#      the bank fills, the whole frame once it is full), fp32 eager, bf16 (graphs);
#   3. R50-DeAOTL fp32 from frame 50 to LONG_FRAMES (latency and memory flat);
#   4. bf16 vs fp32 on a synthetic val split with the quickstart's trained AOT-T: label agreement and J;
#   5. end to end: aot_plus.eval on VOST-sized 1280x720 frames (resize path) against the step FPS.
#   6. all of it against issue 11's targets (benchmarks/gpu_report.py).
# Into $OUT (the device tool's output folder, which returns at most 8 files; default
# benchmarks/results/gpu_check): gpu_check.log with everything printed, one JSON per table (6) and the
# report, gpu_check.md.
#
#   run(command="bash benchmarks/gpu_check.sh", timeout_s=540)
#
# Sizes come from the environment, so that the script can be tried on a CPU first, e.g.
#   DEVICE=cpu FRAMES=6 LONG_FRAMES=8 HEIGHT=65 WIDTH=97 E2E_HEIGHT=97 E2E_WIDTH=129 STEPS=2 bash benchmarks/gpu_check.sh
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

OUT="${OUT:-benchmarks/results/gpu_check}"
PYTHON="${PYTHON:-$( [ -x .venv/bin/python ] && echo .venv/bin/python || echo python3 )}"
DEVICE="${DEVICE:-cuda}"
FRAMES="${FRAMES:-400}"
LONG_FRAMES="${LONG_FRAMES:-10000}"
HEIGHT="${HEIGHT:-480}"
WIDTH="${WIDTH:-854}"
E2E_HEIGHT="${E2E_HEIGHT:-720}"
E2E_WIDTH="${E2E_WIDTH:-1280}"
STEPS="${STEPS:-}"
mkdir -p "$OUT"
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
exec > >(tee "$OUT/gpu_check.log") 2>&1
section() { echo; echo "=== $* ($(date -u +%H:%M:%S))"; }
attempt() {  # a failed check is reported and the script goes on: one device call has to show everything
    "$@" || echo "!!! FAILED (exit $?): $*"
}

section "device"
nvidia-smi 2>/dev/null || echo "no nvidia-smi"
"$PYTHON" -c "import torch; print('torch', torch.__version__, 'cuda', torch.version.cuda, torch.cuda.is_available())"

if [ "$DEVICE" = cuda ]; then
    section "1. GPU tests and the CUDA-graph check"
    attempt "$PYTHON" -m pytest -q -p no:cacheprovider tests/inference/test_gpu_paths.py
    attempt "$PYTHON" benchmarks/check_cuda_graph.py --frames 60
fi

section "2. step benchmark, ${HEIGHT}x${WIDTH}, ${FRAMES} frames"
step() {  # name, then benchmarks/inference.py flags
    local name="$1"
    shift
    attempt "$PYTHON" benchmarks/inference.py --device "$DEVICE" --memories restricted --height "$HEIGHT" \
        --width "$WIDTH" --frames "$FRAMES" --json "$OUT/step_$name.json" "$@"
}
step fp32
step fp32_eager --no-cuda-graph
step bf16 --precision bf16

section "3. R50-DeAOTL fp32 from frame 50 to ${LONG_FRAMES}"
attempt "$PYTHON" benchmarks/inference.py --device "$DEVICE" --models r50_deaotl --memories restricted \
    --height "$HEIGHT" --width "$WIDTH" --frames "$LONG_FRAMES" --json "$OUT/step_fp32_long.json"

section "4. bf16 vs fp32 on the quickstart's synthetic val split"
attempt "$PYTHON" -m aot_plus.quickstart --work-dir "$work/quickstart" --data-root "$work/SynthVOST" --device "$DEVICE" \
    ${STEPS:+--steps "$STEPS"} 2>/dev/null | tail -n 6
checkpoint="$(ls "$work"/quickstart/train/ema_ckpt/*.pth 2>/dev/null | sort -V | tail -n 1 || true)"
for precision in fp32 bf16; do
    attempt "$PYTHON" -m aot_plus.eval --model aott --mask-unused-objects --ckpt "$checkpoint" --data-root "$work/SynthVOST" \
        --out "$work/eval_$precision" --device "$DEVICE" --precision "$precision" --no-score 2>/dev/null | tail -n 1
done
attempt "$PYTHON" benchmarks/precision_agreement.py "$work/eval_fp32" "$work/eval_bf16" --dataset-root "$work/SynthVOST" \
    --json "$OUT/precision_agreement.json"

section "5. end to end at ${E2E_HEIGHT}x${E2E_WIDTH} (resize path) vs the step"
attempt "$PYTHON" -m aot_plus.data.synthetic --out "$work/VOST720" --videos 4 --frames 150 --height "$E2E_HEIGHT" \
    --width "$E2E_WIDTH" --val-fraction 0.5 >/dev/null
attempt "$PYTHON" -m aot_plus.eval --model r50_deaotl --random-init --data-root "$work/VOST720" --out "$work/eval_720" \
    --device "$DEVICE" --no-score 2>/dev/null | grep -E "end to end|FAILED" || true
attempt "$PYTHON" benchmarks/inference.py --device "$DEVICE" --models r50_deaotl --memories restricted \
    --height "$E2E_HEIGHT" --width "$E2E_WIDTH" --frames 150 --json "$OUT/step_e2e.json" | tail -n 1

section "6. against the targets"
attempt "$PYTHON" benchmarks/gpu_report.py "$OUT"
section "done"
