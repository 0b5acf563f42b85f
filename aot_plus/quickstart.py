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
import sys
import time
from pathlib import Path

from .baselines import score_predictor
from .data.synthetic import generate_dataset
from .eval import main as eval_main
from .eval import score_results
from .train import main as train_main
from .training.trainer import checkpoint_steps

MODEL = "aott"
STAGE = "quickstart_cpu"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m aot_plus.quickstart", description=__doc__.splitlines()[0])
    p.add_argument("--work-dir", type=Path, default=Path("results/quickstart"))
    p.add_argument("--data-root", type=Path, default=Path("datasets/SynthVOST"))
    p.add_argument("--videos", type=int, default=16)
    p.add_argument("--frames", type=int, default=40)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--steps", type=int, help="training steps (default: the quickstart stage's)")
    p.add_argument("--device", default="cpu")
    return p.parse_args(argv)


def _dataset(args: argparse.Namespace) -> Path:
    if (args.data_root / "ImageSets" / "val.txt").is_file():
        print(f"[1/4] synthetic dataset: reusing {args.data_root}")
    else:
        generate_dataset(args.data_root, videos=args.videos, frames=args.frames, seed=args.seed)
        print(f"[1/4] synthetic dataset: {args.videos} videos x {args.frames} frames in {args.data_root}")
    return args.data_root


def _train(args: argparse.Namespace, run_dir: Path) -> Path:
    command = ["--model", MODEL, "--stage", STAGE, "--data-root", str(args.data_root), "--out", str(run_dir),
               "--device", args.device]
    if args.steps:
        command += ["--steps", str(args.steps)]
    if checkpoint_steps(run_dir / "ckpt"):
        command.append("--resume")
    started = time.perf_counter()
    if train_main(command) != 0:
        raise SystemExit("training failed (see the message above)")
    print(f"[3/4] training took {time.perf_counter() - started:.0f} s")
    return run_dir / "ema_ckpt" / f"save_step_{checkpoint_steps(run_dir / 'ema_ckpt')[-1]}.pth"


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    data_root = _dataset(args)
    results = {}
    for predictor in ("ground_truth", "copy_first"):
        results[predictor] = score_predictor(predictor, data_root, "val", args.work_dir / "baselines" / predictor)
    print("[2/4] scored the ground truth and copy-first-frame predictors")
    checkpoint = _train(args, args.work_dir / "train")
    predictions = args.work_dir / "eval_restricted"
    status = eval_main(["--model", MODEL, "--ckpt", str(checkpoint), "--data-root", str(data_root),
                        "--out", str(predictions), "--memory", "restricted", "--device", args.device, "--no-score",
                        "--mask-unused-objects"])
    if status != 0:
        return status
    results[f"{MODEL} + RMem (trained here)"] = score_results(predictions, data_root, "val")
    print("[4/4] segmented and scored the val split with the restricted memory\n")
    print(f"{'method':<28} {'J_tr':>6} {'J':>6}")
    for name, scores in results.items():
        print(f"{name:<28} {100 * scores.j_tr:>6.1f} {100 * scores.j:>6.1f}")
    summary = {name: {"J_tr": s.j_tr, "J": s.j} for name, s in results.items()}
    (args.work_dir / "summary.json").write_text(json.dumps(summary, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
