"""Two reference predictors for any VOST-layout split, written in the results layout and scored.

- ``ground_truth``: the annotations themselves (the upper bound; J = J_tr = 1 up to empty-union rules).
- ``copy_first``: the first annotation copied to every annotated frame (what a model must beat).

    python -m aot_plus.baselines --data-root datasets/SynthVOST --out results/baselines
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

from .data.vost import annotation_paths, read_split
from .errors import ConfigError, run_command
from .scoring import VostScores, score_results

PREDICTORS = ("ground_truth", "copy_first")


def write_predictions(predictor: str, data_root: Path, split: str, out_dir: Path) -> None:
    """Writes ``out_dir/<sequence>/<frame>.png`` for every annotated frame of the split."""
    if predictor not in PREDICTORS:
        raise ConfigError(f"unknown predictor {predictor!r}; choose one of {', '.join(PREDICTORS)}")
    for sequence in read_split(data_root, split):
        annotations = annotation_paths(data_root, sequence)
        target = out_dir / sequence
        target.mkdir(parents=True, exist_ok=True)
        for annotation in annotations:
            source = annotation if predictor == "ground_truth" else annotations[0]
            shutil.copyfile(source, target / annotation.name)


def score_predictor(predictor: str, data_root: Path, split: str, out_dir: Path) -> VostScores:
    write_predictions(predictor, data_root, split, out_dir)
    return score_results(out_dir, data_root, split)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m aot_plus.baselines", description=__doc__.splitlines()[0])
    p.add_argument("--data-root", type=Path, required=True)
    p.add_argument("--split", default="val")
    p.add_argument("--out", type=Path, required=True, help="one sub-folder per predictor is written here")
    p.add_argument("--predictors", nargs="+", default=list(PREDICTORS), choices=PREDICTORS)
    args = p.parse_args(argv)

    def score_all() -> None:
        for predictor in args.predictors:
            scores = score_predictor(predictor, args.data_root, args.split, args.out / predictor)
            print(f"{predictor:<13} {scores.headline()}")

    return run_command(score_all)


if __name__ == "__main__":
    sys.exit(main())
