"""The main job on built-in synthetic data, no downloads: ``python -m aot_plus.quickstart``.

1. Generate a synthetic VOST-format dataset (``aot_plus.data.synthetic``).
2. Score the two reference predictors (ground truth, copy-first-frame) with the VOST evaluation.
3. Train a small AOT model with RMem from scratch on its train split (CPU: about 6 minutes).
4. Segment its val split with the restricted memory (unused object slots masked, see
   ``configs/stages/quickstart_cpu.yaml``) and score it.
5. Print J_tr / J of the three side by side (and write ``summary.json``).

Every step reuses what an earlier run already finished, so an interrupted quickstart resumes.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from pathlib import Path

import torch

from .baselines import score_predictor
from .checkpoints import load_model
from .config import load_eval_config
from .data.synthetic import generate_dataset
from .data.vost import eval_tasks
from .errors import run_command
from .host import keep_freed_memory
from .inference.runner import run_settings, segment_videos
from .results import check_results_folder, folder_lock
from .scoring import score_results
from .training.config import load_train_config
from .training.trainer import Trainer, TrainRun, checkpoint_steps

MODEL = "aott"
STAGE = "quickstart_cpu"
MEMORY = "restricted"
THREADS = 2
"""CPU threads of the run. Training from scratch amplifies the last-bit differences of another thread
partitioning into other numbers, so the count is fixed rather than taken from the machine."""


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m aot_plus.quickstart", description=__doc__.splitlines()[0])
    p.add_argument("--work-dir", type=Path, default=Path("results/quickstart"))
    p.add_argument("--data-root", type=Path, default=Path("datasets/SynthVOST"))
    p.add_argument("--videos", type=int, default=16)
    p.add_argument("--frames", type=int, default=40)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--steps", type=int, help="training steps (default: the quickstart stage's)")
    p.add_argument("--device", default="cpu")
    p.add_argument(
        "--threads",
        type=int,
        default=THREADS,
        help=f"CPU threads (default {THREADS}, the setting of the numbers in the README)",
    )
    return p.parse_args(argv)


def _dataset(args: argparse.Namespace) -> Path:
    if (args.data_root / "ImageSets" / "val.txt").is_file():
        print(f"[1/4] synthetic dataset: reusing {args.data_root}")
    else:
        generate_dataset(args.data_root, videos=args.videos, frames=args.frames, seed=args.seed)
        print(f"[1/4] synthetic dataset: {args.videos} videos x {args.frames} frames in {args.data_root}")
    return args.data_root


def _train(args: argparse.Namespace, run_dir: Path) -> Path:
    cfg = load_train_config(STAGE, total_steps=args.steps)
    run = TrainRun(
        model=MODEL,
        data_root=args.data_root,
        out_dir=run_dir,
        device=args.device,
        resume=bool(checkpoint_steps(run_dir / "ckpt")),
    )
    started = time.perf_counter()
    final = Trainer(cfg, run).train()
    print(f"[3/4] training took {time.perf_counter() - started:.0f} s")
    return final


def _segment(args: argparse.Namespace, checkpoint: Path, predictions: Path) -> None:
    config = load_eval_config(MODEL, MEMORY, {"inference": {"mask_unused_objects": True}})
    model, _ = load_model(config.model, checkpoint, torch.device(args.device))
    settings = run_settings(config, checkpoint, "val")
    provenance = {"weights": str(checkpoint.resolve()), "data_root": str(args.data_root.resolve())}
    with folder_lock(predictions):
        check_results_folder(predictions, settings, overwrite=False)
        segment_videos(model, eval_tasks(args.data_root, "val"), config, predictions, False, settings, provenance)


def run(args: argparse.Namespace) -> None:
    data_root = _dataset(args)
    results = {}
    for predictor in ("ground_truth", "copy_first"):
        results[predictor] = score_predictor(predictor, data_root, "val", args.work_dir / "baselines" / predictor)
    print("[2/4] scored the ground truth and copy-first-frame predictors")
    checkpoint = _train(args, args.work_dir / "train")
    predictions = args.work_dir / "eval_restricted"
    _segment(args, checkpoint, predictions)
    results[f"{MODEL} + RMem (trained here)"] = score_results(predictions, data_root, "val")
    print("[4/4] segmented and scored the val split with the restricted memory\n")
    print(f"{'method':<28} {'J_tr':>6} {'J':>6}")
    for name, scores in results.items():
        print(f"{name:<28} {100 * scores.j_tr:>6.1f} {100 * scores.j:>6.1f}")
    summary = {name: {"J_tr": s.j_tr, "J": s.j} for name, s in results.items()}
    (args.work_dir / "summary.json").write_text(json.dumps(summary, indent=1))


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    keep_freed_memory()
    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stdout)
    threads = torch.get_num_threads()
    torch.set_num_threads(args.threads)
    try:
        return run_command(lambda: run(args))
    finally:
        torch.set_num_threads(threads)


if __name__ == "__main__":
    sys.exit(main())
