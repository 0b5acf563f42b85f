"""Scoring a results folder with the standalone ``evaluation`` package: the official VOST protocol, or a
DAVIS-style benchmark (davis2017, davis2016, longvideos). The CSVs are written into the results folder."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

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


def _score_and_save(
    results_path: Path, dataset_root: str | Path, split: str, workers: int | None, **options: Any
) -> tuple[pd.DataFrame, tuple[Path, Path]]:
    """The global table of ``evaluation.evaluate`` and the paths of the two CSVs it wrote."""
    try:
        global_table, per_sequence_table = evaluate(results_path, dataset_root, split=split, workers=workers, **options)
        paths = csv_paths(results_path, split, False)
        save_tables(global_table, per_sequence_table, paths)
    except EvaluationError as err:
        raise ScoringError(str(err)) from None
    return global_table, paths


def score_results(
    results_path: str | Path, dataset_root: str | Path, split: str = "val", workers: int | None = None
) -> VostScores:
    """Scores ``results_path/<seq>/<frame>.png`` with the VOST protocol and writes the two CSVs there."""
    table, paths = _score_and_save(Path(results_path), dataset_root, split, workers)
    return VostScores(float(table["J-Mean"].iloc[0]), float(table["J_last-Mean"].iloc[0]), paths)


@dataclass(frozen=True)
class BenchmarkScores:
    """The global row of a DAVIS-style score table (fractions in 0..1)."""

    benchmark: str
    values: dict[str, float]
    csv_paths: tuple[Path, Path]

    def headline(self) -> str:
        v = self.values
        text = f"J&F / J / F = {100 * v['J&F-Mean']:.1f} / {100 * v['J-Mean']:.1f} / {100 * v['F-Mean']:.1f}"
        if "J_last-Mean" in v:
            text += f", J_last = {100 * v['J_last-Mean']:.1f}"
        return f"{text}  ({self.benchmark}: J&F-Mean {v['J&F-Mean']!r}, J-Mean {v['J-Mean']!r}, F-Mean {v['F-Mean']!r})"


def score_benchmark(
    results_path: str | Path,
    dataset_root: str | Path,
    split: str,
    benchmark: str,
    resolution: str = "",
    workers: int | None = None,
) -> BenchmarkScores:
    """Scores a results folder with an ``evaluation`` benchmark (J, F, J&F) and writes its CSVs there."""
    options = {"benchmark": benchmark, **({"resolution": resolution} if resolution else {})}
    table, paths = _score_and_save(Path(results_path), dataset_root, split, workers, **options)
    return BenchmarkScores(benchmark, {str(c): float(table[c].iloc[0]) for c in table.columns}, paths)
