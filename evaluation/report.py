"""The result tables: building them from per-sequence J (and F), and writing/reading the official CSVs."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from evaluation.errors import EvaluationError
from evaluation.metrics import db_statistics, last_part_start
from evaluation.provenance import Record, record_path, write_record
from evaluation.sequence import SequenceScores

GLOBAL_COLUMNS = ["J-Mean", "J-Recall", "J-Decay", "J_last-Mean", "J_last-Recall", "J_last-Decay"]
PER_SEQUENCE_COLUMNS = ["Sequence", "J-Mean", "J_last-Mean"]
"""The columns of the VOST tables (J only)."""
CSV_FLOAT_FORMAT = "%.6f"
_STATISTICS = ("Mean", "Recall", "Decay")


def table_columns(boundary: bool = False, j_last: bool = True) -> tuple[list[str], list[str]]:
    """Global and per-sequence columns: J, then F and J&F if ``boundary``, then J_last if ``j_last``.

    ``table_columns()`` is the VOST layout; ``table_columns(True, False)`` is the DAVIS toolkit's, and
    ``table_columns(True, True)`` that of the RMem long-video fork.
    """
    measures = ["J", "F"] if boundary else ["J"]
    if j_last:
        measures.append("J_last")
    global_columns = ["J&F-Mean"] if boundary else []
    global_columns += [f"{measure}-{statistic}" for measure in measures for statistic in _STATISTICS]
    return global_columns, ["Sequence"] + [f"{measure}-Mean" for measure in measures]


def _object_statistics(
    sequence: SequenceScores, index: int, j_last: bool, toolkit_wrap: bool
) -> list[tuple[float, float, float]]:
    """(Mean, Recall, Decay) of object index+1 for J, then F if scored, then J_last if asked."""
    values = sequence.jaccard[index]
    statistics = [db_statistics(values, toolkit_wrap)]
    if sequence.boundary is not None:
        statistics.append(db_statistics(sequence.boundary[index], toolkit_wrap))
    if j_last:
        start = last_part_start(len(values))
        statistics.append(db_statistics(values[start:], toolkit_wrap))
    return statistics


def build_tables(
    scores: Sequence[SequenceScores], j_last: bool = True, toolkit_wrap: bool = False
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The global table (one row) and the per-object table, from sequences in evaluation order.

    Every statistic is computed per object; the global values are plain means over all objects of
    all sequences (object-weighted), in sequence order then object order, as the official code does.
    F columns (and J&F-Mean, the mean of the global J-Mean and F-Mean) come in when the scores have F.
    ``toolkit_wrap`` takes the Decay bin bounds modulo 256, as the DAVIS toolkit does.
    """
    boundary = bool(scores) and scores[0].boundary is not None
    global_columns, per_sequence_columns = table_columns(boundary, j_last)
    per_object_stats = []
    rows = []
    for sequence in scores:
        for index in range(sequence.jaccard.shape[0]):
            statistics = _object_statistics(sequence, index, j_last, toolkit_wrap)
            per_object_stats.append([value for triple in statistics for value in triple])
            rows.append((f"{sequence.name}_{index + 1}", *(triple[0] for triple in statistics)))
    if not per_object_stats:
        raise EvaluationError("no objects to evaluate: every first annotated frame is empty")
    global_values = [np.mean(np.array(column)) for column in zip(*per_object_stats)]
    if boundary:
        global_values.insert(0, (global_values[0] + global_values[3]) / 2.0)
    global_table = pd.DataFrame([global_values], columns=global_columns)
    per_sequence_table = pd.DataFrame(rows, columns=per_sequence_columns)
    return global_table, per_sequence_table


def csv_paths(results_path: str | Path, split: str, strict_void: bool, exact_decay: bool = False) -> tuple[Path, Path]:
    """Paths of the global and per-sequence CSVs; opt-in variants of an official protocol
    (``strict_void``, and ``exact_decay`` where the protocol wraps the Decay bins) get their own names."""
    results_path = Path(results_path)
    suffix = split + ("-strict-void" if strict_void else "") + ("-exact-decay" if exact_decay else "")
    return (
        results_path / f"global_results-{suffix}.csv",
        results_path / f"per-sequence_results-{suffix}.csv",
    )


def _write_atomically(table: pd.DataFrame, path: Path) -> None:
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        table.to_csv(temporary, index=False, float_format=CSV_FLOAT_FORMAT)
        os.replace(temporary, path)
    except OSError as err:  # a read-only or full disk: the old CSV, if any, stays as it was
        raise EvaluationError(f"{path}: cannot be written ({err.strerror or err})") from None
    finally:
        try:
            temporary.unlink(missing_ok=True)
        except OSError:
            pass


def save_tables(
    global_table: pd.DataFrame,
    per_sequence_table: pd.DataFrame,
    paths: tuple[Path, Path],
    inputs: Record | None = None,
) -> None:
    """Write both tables as CSV (6 decimals), each through a temporary file renamed into place.

    The record of the inputs beside them (:func:`evaluation.provenance.record_path`) is removed first,
    so that it never vouches for other tables, and ``inputs`` (from
    :func:`evaluation.provenance.inputs_record`), if given, is written as the new one after them.
    """
    record = record_path(paths)
    record.unlink(missing_ok=True)
    _write_atomically(global_table, paths[0])
    _write_atomically(per_sequence_table, paths[1])
    if inputs is not None:
        write_record(record, inputs)


def load_tables(
    paths: tuple[Path, Path], columns: tuple[list[str], list[str]] = (GLOBAL_COLUMNS, PER_SEQUENCE_COLUMNS)
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Read back the global and per-sequence CSVs, checking that they have ``columns``."""
    tables = []
    for path, expected in zip(paths, columns):
        try:
            table = pd.read_csv(path)
        except (OSError, ValueError, pd.errors.ParserError) as err:
            raise EvaluationError(f"{path}: cannot read the saved results ({err})") from err
        if list(table.columns) != expected:
            raise EvaluationError(
                f"{path}: columns {list(table.columns)} are not the expected {expected}; pass --re to recompute"
            )
        tables.append(table)
    return tables[0], tables[1]
