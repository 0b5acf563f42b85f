"""Per-frame scores (``--per-frame``): J (and F when scored) of every object on every scored frame.

The global and per-sequence tables average frames away; a plot of J over time, or a look at where two
methods part, needs the frames themselves. ``per-frame_results-<suffix>.csv`` holds one row per
(sequence, object, scored frame): ``Sequence``, ``Object`` (the id, from 1), ``Frame`` (the annotation's
file stem) and ``J`` (then ``F`` when the benchmark scores it). Like the other CSVs it is reused only
while its inputs are unchanged, through its own record ``per-frame_results-<suffix>.inputs.json``, so
that writing it never changes what the other tables' record vouches for.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from evaluation.benchmarks import get_benchmark
from evaluation.errors import EvaluationError
from evaluation.provenance import Record, inputs_record, scoring_options, stale_reason, write_record
from evaluation.report import CSV_FLOAT_FORMAT, csv_paths
from evaluation.runner import prepare_tasks, score_split
from evaluation.sequence import SequenceScores, SequenceTask

PER_FRAME_COLUMNS = ["Sequence", "Object", "Frame", "J"]
"""The columns of the per-frame CSV; ``F`` follows ``J`` when the benchmark scores it."""


def per_frame_csv_path(results_path: str | Path, split: str, strict_void: bool, exact_decay: bool = False) -> Path:
    """``per-frame_results-<suffix>.csv`` beside the other CSVs, with their suffix."""
    global_path = csv_paths(results_path, split, strict_void, exact_decay)[0]
    return global_path.with_name(global_path.name.replace("global_results-", "per-frame_results-", 1))


def per_frame_record_path(path: Path) -> Path:
    """The record of the inputs of a per-frame CSV: ``<its stem>.inputs.json``."""
    return path.with_suffix(".inputs.json")


def per_frame_table(tasks: Sequence[SequenceTask], scores: Sequence[SequenceScores]) -> pd.DataFrame:
    """One row per sequence, object and scored frame, in task, object and frame order."""
    rows = []
    boundary = bool(scores) and scores[0].boundary is not None
    for task, sequence in zip(tasks, scores):
        frames = [path.stem for path in task.scored_annotations]
        for index in range(sequence.jaccard.shape[0]):
            for t, frame in enumerate(frames):
                row = [sequence.name, index + 1, frame, float(sequence.jaccard[index, t])]
                if boundary:
                    row.append(float(sequence.boundary[index, t]))
                rows.append(row)
    return pd.DataFrame(rows, columns=PER_FRAME_COLUMNS + (["F"] if boundary else []))


def save_per_frame(table: pd.DataFrame, path: Path, inputs: Record | None = None) -> None:
    """Writes the CSV (6 decimals) through a temporary file; its record first goes, then ``inputs`` is
    written as the new one, so that a record never vouches for another table."""
    record = per_frame_record_path(path)
    record.unlink(missing_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        table.to_csv(temporary, index=False, float_format=CSV_FLOAT_FORMAT)
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)
    if inputs is not None:
        write_record(record, inputs)


def load_per_frame(path: Path) -> pd.DataFrame:
    """Reads a per-frame CSV back (``Frame`` stays text: ``00005`` is a file stem, not the number 5)."""
    try:
        table = pd.read_csv(path, dtype={"Sequence": str, "Frame": str})
    except (OSError, ValueError, pd.errors.ParserError) as err:
        raise EvaluationError(f"{path}: cannot read the saved per-frame results ({err})") from err
    if list(table.columns)[: len(PER_FRAME_COLUMNS)] != PER_FRAME_COLUMNS:
        raise EvaluationError(
            f"{path}: columns {list(table.columns)} do not start with {PER_FRAME_COLUMNS}; pass --re to recompute"
        )
    return table


def per_frame_reuse_blocker(path: Path, inputs: Record, recompute: bool) -> str | None:
    """None if the per-frame CSV at ``path`` can be reused for ``inputs``; otherwise why not ("" when
    there is nothing to say: asked to recompute, or no CSV yet)."""
    if recompute or not path.is_file():
        return ""
    return stale_reason(per_frame_record_path(path), inputs)


def per_frame_results(
    results_path: str | Path,
    dataset_path: str | Path,
    split: str = "val",
    strict_void: bool = False,
    workers: int | None = None,
    recompute: bool = False,
) -> pd.DataFrame:
    """The per-frame VOST J of a results folder: its saved CSV when its inputs are unchanged, else
    scored now and saved (what ``python -m evaluation ... --per-frame`` writes)."""
    spec = get_benchmark("vost")
    tasks = prepare_tasks(results_path, dataset_path, split, strict_void)
    inputs = inputs_record(tasks, scoring_options(spec, False, strict_void, False, ""))
    path = per_frame_csv_path(results_path, split, strict_void)
    if per_frame_reuse_blocker(path, inputs, recompute) is None:
        return load_per_frame(path)
    table = per_frame_table(tasks, score_split(tasks, workers))
    save_per_frame(table, path, inputs)
    return table
