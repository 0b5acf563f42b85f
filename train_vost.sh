#!/usr/bin/env bash
# Fine-tunes AOT/DeAOT on VOST with the RMem recipe, then evaluates the final EMA checkpoint with the
# restricted memory and prints J_tr / J.
#
# Settings come from the environment (default in brackets):
#   MODEL      r50_deaotl | r50_aotl | another config in configs/models [r50_deaotl]
#   STAGE      training config in configs/stages [pre_vost_2, as the official train_vost.sh]
#   INIT       full checkpoint to start from [pretrain_models/R50_<DeAOTL|AOTL>_PRE_YTB_DAV.pth];
#              "imagenet" starts the encoder from pretrain_models/resnet50-0676ba61.pth; "scratch" from nothing
#   DATA_ROOT  VOST-layout dataset [datasets/VOST]
#   GPUS       processes for torchrun; 0 trains on the CPU [1]
#   OUT_DIR    run folder [results/<model>_<stage>]
# Arguments are passed on to aot_plus.train, e.g. --resume, --amp fp16, --steps 1000.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
die() { echo "train_vost.sh: $*" >&2; exit 2; }

MODEL="${MODEL:-r50_deaotl}"
STAGE="${STAGE:-pre_vost_2}"
DATA_ROOT="${DATA_ROOT:-$root/datasets/VOST}"
GPUS="${GPUS:-1}"
model_name="$(basename "${MODEL%.y*ml}")"
stage_name="$(basename "${STAGE%.y*ml}")"
OUT_DIR="${OUT_DIR:-$root/results/${model_name}_${stage_name}}"
case "$MODEL" in
    r50_deaotl) pretrained="R50_DeAOTL_PRE_YTB_DAV.pth" ;;
    r50_aotl) pretrained="R50_AOTL_PRE_YTB_DAV.pth" ;;
    *) pretrained="" ;;
esac
INIT="${INIT:-${pretrained:+$root/pretrain_models/$pretrained}}"

[ -d "$DATA_ROOT" ] || die "dataset folder $DATA_ROOT not found: download VOST from https://www.vostdataset.org/" \
    "and put it in datasets/VOST (JPEGImages/, Annotations/, ImageSets/), or set DATA_ROOT"
case "$INIT" in
    scratch|"") init=() ;;
    imagenet)
        encoder="$root/pretrain_models/resnet50-0676ba61.pth"
        [ -f "$encoder" ] || die "$encoder not found: download the torchvision ResNet-50 ImageNet weights" \
            "(resnet50-0676ba61.pth) into pretrain_models/"
        init=(--encoder-init "$encoder") ;;
    *)
        [ -f "$INIT" ] || die "init checkpoint $INIT not found: download ${pretrained:-it} from the AOT model zoo" \
            "(links in the RMem README, https://github.com/Restricted-Memory/RMem) into pretrain_models/," \
            "or set INIT=imagenet / INIT=scratch"
        init=(--init "$INIT") ;;
esac

python="$root/.venv/bin/python"
[ -x "$python" ] || python="python3"
export PYTHONPATH="$root${PYTHONPATH:+:$PYTHONPATH}"
args=(--model "$MODEL" --stage "$STAGE" --data-root "$DATA_ROOT" --out "$OUT_DIR" "${init[@]}")
case "$GPUS" in
    0) "$python" -m aot_plus.train "${args[@]}" --device cpu "$@"; eval_gpus=0 ;;
    *[!0-9]*) die "GPUS=$GPUS: expected a number of GPUs (0 for the CPU)" ;;
    *) "$python" -m torch.distributed.run --standalone --nproc_per_node "$GPUS" -m aot_plus.train "${args[@]}" "$@"
       eval_gpus=$GPUS ;;
esac

# The newest EMA checkpoint by step number (folder names may hold underscores and digits too).
last_step="$(ls "$OUT_DIR/ema_ckpt" | sed -n 's/^save_step_\([0-9][0-9]*\)\.pth$/\1/p' | sort -n | tail -n 1)"
[ -n "$last_step" ] || die "no EMA checkpoint in $OUT_DIR/ema_ckpt after training"
final="$OUT_DIR/ema_ckpt/save_step_$last_step.pth"
MODEL="$MODEL" CKPT="$final" DATA_ROOT="$DATA_ROOT" GPUS="$eval_gpus" MEMORY=restricted \
    OUT_DIR="$OUT_DIR/eval/val" "$root/eval_vost.sh"
