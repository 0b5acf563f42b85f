"""The record of the inputs that saved result CSVs were computed from, so that they are reused only while
those inputs are unchanged.

Beside ``global_results-<suffix>.csv`` and ``per-sequence_results-<suffix>.csv`` the command line writes
``global_results-<suffix>.inputs.json``, which holds:

- ``options``: what changes the numbers besides the inputs (benchmark, metrics, strict void, exact Decay,
  DAVIS resolution);
- ``split``: the sequence names of the split list, in the order read;
- ``predictions``: per sequence, a SHA-256 digest of the predicted PNGs that are scored (the path of each
  relative to the results folder, its size and its content; hashing is about 1% of the scoring time).

Saved CSVs are reused only when a new record equals the saved one; CSVs without a (readable) record are
recomputed. The ground truth is not in the record.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from evaluation.benchmarks import Benchmark
from evaluation.errors import EvaluationError
from evaluation.sequence import SequenceTask

RECORD_FORMAT = 1
"""Version of the record layout; a record of another version counts as no record."""
Record = dict[str, Any]
"""A record as JSON data: ``format``, ``options``, ``split`` and ``predictions``."""


def record_path(paths: tuple[Path, Path]) -> Path:
    """The record of the CSVs ``paths`` (global, per-sequence): ``<global CSV stem>.inputs.json``."""
    return paths[0].with_suffix(".inputs.json")


def scoring_options(
    benchmark: Benchmark, boundary: bool, strict_void: bool, exact_decay: bool, resolution: str
) -> dict[str, object]:
    """The options that change the numbers, as they apply to ``benchmark`` (None where unused)."""
    return {
        "benchmark": benchmark.name,
        "metrics": ["J", "F"] if boundary else ["J"],
        "strict_void": strict_void,
        "exact_decay": exact_decay and benchmark.toolkit_decay,
        "resolution": resolution if benchmark.davis_layout else None,
    }


def _read_prediction(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as err:
        raise EvaluationError(f"{path}: cannot read ({err.strerror or type(err).__name__})") from err


def predictions_digest(task: SequenceTask) -> str:
    """SHA-256 over the relative path, size and content of each scored prediction of a sequence."""
    digest = hashlib.sha256()
    for annotation in task.scored_annotations:
        path = task.prediction_path(annotation)
        data = _read_prediction(path)
        digest.update(f"{task.name}/{path.name}\0{len(data)}\0".encode())
        digest.update(hashlib.sha256(data).digest())
    return digest.hexdigest()


def inputs_record(tasks: Sequence[SequenceTask], options: dict[str, object]) -> Record:
    """The record of scoring ``tasks`` (one per sequence, in split order) with ``options``."""
    return {
        "format": RECORD_FORMAT,
        "options": options,
        "split": [task.name for task in tasks],
        "predictions": {
            "digest": "sha256 of each scored PNG's path (relative to the results folder), size and content",
            "files": sum(len(task.scored_annotations) for task in tasks),
            "sequences": {task.name: predictions_digest(task) for task in tasks},
        },
    }


def write_record(path: Path, record: Record) -> None:
    """Write a record as JSON through a temporary file renamed into place."""
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        temporary.write_text(json.dumps(record, indent=1) + "\n")
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)


def _read_record(path: Path) -> Record | None:
    """The saved record, or None if there is none, it is unreadable or of another format."""
    try:
        saved = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(saved, dict) or saved.get("format") != RECORD_FORMAT:
        return None
    return saved


def _changed_options(saved: object, current: dict[str, object]) -> str:
    if not isinstance(saved, dict):
        return "unknown before"
    return (
        ", ".join(
            f"{key}: {saved.get(key)!r} -> {value!r}" for key, value in current.items() if saved.get(key) != value
        )
        or "other options"
    )


def stale_reason(path: Path, record: Record) -> str | None:
    """Why the CSVs recorded in ``path`` cannot be reused for the inputs ``record``; None if they can."""
    saved = _read_record(path)
    if saved is None:
        return "no record of the inputs"
    if saved.get("options") != record["options"]:
        changed = _changed_options(saved.get("options"), record["options"])
        return f"scoring options changed since the CSVs were written ({changed})"
    if saved.get("split") != record["split"]:
        return "split changed since the CSVs were written"
    saved_predictions = saved.get("predictions")
    saved_sequences = saved_predictions.get("sequences") if isinstance(saved_predictions, dict) else None
    if not isinstance(saved_sequences, dict):
        return "no record of the inputs"
    for name, digest in record["predictions"]["sequences"].items():
        if saved_sequences.get(name) != digest:
            return f"predictions changed since the CSVs were written (sequence {name!r})"
    return None
