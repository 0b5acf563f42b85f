"""The result tables: building them from per-sequence J, and writing/reading the official CSVs."""
from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from evaluation.errors import EvaluationError
from evaluation.metrics import db_statistics, last_part_start
from evaluation.sequence import SequenceScores

GLOBAL_COLUMNS = ["J-Mean", "J-Recall", "J-Decay", "J_last-Mean", "J_last-Recall", "J_last-Decay"]
PER_SEQUENCE_COLUMNS = ["Sequence", "J-Mean", "J_last-Mean"]
CSV_FLOAT_FORMAT = "%.6f"


def build_tables(scores: Sequence[SequenceScores]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The global table (one row) and the per-object table, from sequences in evaluation order.

    Every statistic is computed per object; the global values are plain means over all objects of
    all sequences (object-weighted), in sequence order then object order, as the official code does.
    """
    per_object_stats = []
    rows = []
    for sequence in scores:
        start = last_part_start(sequence.jaccard.shape[1])
        for index, values in enumerate(sequence.jaccard):
            whole = db_statistics(values)
            last = db_statistics(values[start:])
            per_object_stats.append(whole + last)
            rows.append((f"{sequence.name}_{index + 1}", whole[0], last[0]))
    if not per_object_stats:
        raise EvaluationError("no objects to evaluate: every first annotated frame is empty")
    global_values = [np.mean(np.array(column)) for column in zip(*per_object_stats)]
    global_table = pd.DataFrame([global_values], columns=GLOBAL_COLUMNS)
    per_sequence_table = pd.DataFrame(rows, columns=PER_SEQUENCE_COLUMNS)
    return global_table, per_sequence_table


def csv_paths(results_path: str | Path, split: str, strict_void: bool) -> tuple[Path, Path]:
    """Paths of the global and per-sequence CSVs; the opt-in strict-void scores get their own names."""
    results_path = Path(results_path)
    suffix = f"{split}-strict-void" if strict_void else split
    return (
        results_path / f"global_results-{suffix}.csv",
        results_path / f"per-sequence_results-{suffix}.csv",
    )


def _write_atomically(table: pd.DataFrame, path: Path) -> None:
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        table.to_csv(temporary, index=False, float_format=CSV_FLOAT_FORMAT)
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)


def save_tables(
    global_table: pd.DataFrame, per_sequence_table: pd.DataFrame, paths: tuple[Path, Path]
) -> None:
    """Write both tables as CSV (6 decimals), each through a temporary file renamed into place."""
    _write_atomically(global_table, paths[0])
    _write_atomically(per_sequence_table, paths[1])


def load_tables(paths: tuple[Path, Path]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Read back the global and per-sequence CSVs, checking their columns."""
    tables = []
    for path, columns in zip(paths, (GLOBAL_COLUMNS, PER_SEQUENCE_COLUMNS)):
        try:
            table = pd.read_csv(path)
        except (OSError, ValueError, pd.errors.ParserError) as err:
            raise EvaluationError(f"{path}: cannot read the saved results ({err})") from err
        if list(table.columns) != columns:
            raise EvaluationError(
                f"{path}: columns {list(table.columns)} are not the expected {columns}; "
                "pass --re to recompute"
            )
        tables.append(table)
    return tables[0], tables[1]
