#!/usr/bin/env bash
# Segments a VOST split with `python -m aot_plus.eval` and prints J_tr / J.
#
# Settings come from the environment (default in brackets):
#   MODEL      model config name or YAML file [r50_deaotl]
#   CKPT       checkpoint file, or "random" for random weights (pipeline tests only)
#              [the released RMem file of MODEL in pretrain_models/]
#   DATA_ROOT  VOST-layout dataset [datasets/VOST]
#   SPLIT      ImageSets/<SPLIT>.txt [val]
#   OUT_DIR    results folder [results/<model>_<memory>_<checkpoint name>/<split>, plus _flip / _ms<scales>
#              with test-time augmentation]
#   GPUS       0: CPU, 1: one GPU, N > 1: torchrun with N processes [a GPU if there is one]
#   MEMORY     a config of configs/memory (restricted, restricted_may2024, unrestricted, fifo) or a YAML [restricted]
# Arguments are passed on to aot_plus.eval, e.g. --overwrite, --sequences a,b, --memory-log log.json,
# test-time augmentation --flip / --ms 1.0 1.3, or KEY=VALUE overrides such as memory.recent_frames=4.
# Relative paths are taken from the current folder, defaults from the repository root.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
die() { echo "eval_vost.sh: $*" >&2; exit 2; }

MODEL="${MODEL:-r50_deaotl}"
DATA_ROOT="${DATA_ROOT:-$root/datasets/VOST}"
SPLIT="${SPLIT:-val}"
MEMORY="${MEMORY:-restricted}"
GPUS="${GPUS:-}"

case "$MODEL" in
    r50_deaotl) released="aotplus_R50_DeAOTL_Temp_pe_Slot_4_ema_20000.pth" ;;
    r50_aotl) released="aotplus_R50_AOTL_Temp_pe_Slot_4_ema_20000.pth" ;;
    *) released="" ;;
esac
if [ -z "${CKPT:-}" ]; then
    [ -n "$released" ] || die "MODEL=$MODEL has no released checkpoint: set CKPT=<file> (or CKPT=random)"
    CKPT="$root/pretrain_models/$released"
fi

if [ ! -d "$DATA_ROOT" ]; then
    die "dataset folder $DATA_ROOT not found: download VOST from https://www.vostdataset.org/ and put it" \
        "in datasets/VOST (JPEGImages_10fps/, Annotations/, ImageSets/), or set DATA_ROOT"
fi
if [ "$CKPT" = random ]; then
    weights=(--random-init)
else
    if [ ! -f "$CKPT" ]; then
        hint="${released:-the checkpoint}"
        die "checkpoint $CKPT not found: download $hint (links in the RMem README," \
            "https://github.com/Restricted-Memory/RMem#checkpoint) and put it in pretrain_models/," \
            "or set CKPT=<file> (CKPT=random for random weights)"
    fi
    weights=(--ckpt "$CKPT")
fi

# aot_plus.eval names the default folder (one per model, memory, checkpoint and augmentation, so that no
# run scores another's masks) under the repository's results/.
if [ -n "${OUT_DIR:-}" ]; then
    out=(--out "$OUT_DIR")
else
    out=(--results-root "$root/results")
fi

python="$root/.venv/bin/python"
[ -x "$python" ] || python="python3"
export PYTHONPATH="$root${PYTHONPATH:+:$PYTHONPATH}"
args=(--model "$MODEL" "${weights[@]}" --data-root "$DATA_ROOT" --split "$SPLIT" "${out[@]}"
      --memory "$MEMORY")

case "$GPUS" in
    "") exec "$python" -m aot_plus.eval "${args[@]}" "$@" ;;
    0) exec "$python" -m aot_plus.eval "${args[@]}" --device cpu "$@" ;;
    1) exec "$python" -m aot_plus.eval "${args[@]}" --device cuda "$@" ;;
    *[!0-9]*) die "GPUS=$GPUS: expected a number of GPUs (0 for the CPU)" ;;
    *) exec "$python" -m torch.distributed.run --standalone --nproc_per_node "$GPUS" \
           -m aot_plus.eval "${args[@]}" --device cuda "$@" ;;
esac
