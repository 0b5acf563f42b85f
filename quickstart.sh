#!/usr/bin/env bash
# The main job on built-in synthetic data (no downloads): sets up .venv/, then generates a synthetic
# VOST-format dataset, trains a small AOT + RMem model on the CPU and prints its J_tr / J next to the
# ground-truth and copy-first-frame predictors. Arguments go to `python -m aot_plus.quickstart`.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
bash "$root/scripts/setup.sh"
cd "$root"
exec .venv/bin/python -m aot_plus.quickstart "$@"
