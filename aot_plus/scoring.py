"""Scoring a results folder with the standalone ``evaluation`` package (the official VOST protocol)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from evaluation import EvaluationError, csv_paths, evaluate, save_tables

from .errors import ScoringError


@dataclass(frozen=True)
class VostScores:
    """J (``J-Mean``) and J_tr (``J_last-Mean``) of a results folder, as fractions in 0..1."""

    j: float
    j_tr: float
    csv_paths: tuple[Path, Path]

    def headline(self) -> str:
        return f"J_tr / J = {100 * self.j_tr:.1f} / {100 * self.j:.1f}  (J_last-Mean {self.j_tr!r}, J-Mean {self.j!r})"


def score_results(
    results_path: str | Path, dataset_root: str | Path, split: str = "val", workers: int | None = None
) -> VostScores:
    """Scores ``results_path/<seq>/<frame>.png`` and writes the two CSVs there."""
    results_path = Path(results_path)
    try:
        global_table, per_sequence_table = evaluate(results_path, dataset_root, split=split, workers=workers)
    except EvaluationError as err:
        raise ScoringError(str(err)) from None
    paths = csv_paths(results_path, split, False)
    try:
        save_tables(global_table, per_sequence_table, paths)
    except OSError as err:
        raise ScoringError(f"{paths[0].parent}: cannot write the score tables ({err.strerror or err})") from None
    return VostScores(float(global_table["J-Mean"].iloc[0]), float(global_table["J_last-Mean"].iloc[0]), paths)
