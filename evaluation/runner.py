"""The evaluation of a whole split: checking the inputs, scoring sequences in parallel, tabulating."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable
from concurrent.futures import ProcessPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path

import pandas as pd
from tqdm import tqdm

from evaluation.benchmarks import BENCHMARKS, Benchmark, get_benchmark, scores_boundary
from evaluation.dataset import (
    DEFAULT_RESOLUTION,
    annotation_paths,
    check_densely_annotated,
    read_sequence_names,
    resolve_dataset_root,
    resolve_davis_root,
)
from evaluation.errors import EvaluationError
from evaluation.report import build_tables
from evaluation.sequence import SequenceScores, SequenceTask, score_sequence

logger = logging.getLogger(__name__)


def available_cores() -> int:
    """CPU cores this process may run on."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def build_tasks(
    results_path: Path,
    dataset_root: Path,
    split: str,
    strict_void: bool,
    benchmark: Benchmark = BENCHMARKS["vost"],
    boundary: bool = False,
    resolution: str = DEFAULT_RESOLUTION,
) -> list[SequenceTask]:
    """One task per sequence of the split, after checking that every scored frame was predicted
    (and, for the dense DAVIS benchmarks, that every frame is annotated)."""
    if not results_path.is_dir():
        raise EvaluationError(f"{results_path}: results folder not found")
    resolution = resolution if benchmark.davis_layout else ""
    tasks = []
    for name in read_sequence_names(dataset_root, split, benchmark.image_sets):
        annotations = annotation_paths(dataset_root, name, resolution)
        if benchmark.dense:
            check_densely_annotated(dataset_root, name, resolution, annotations, benchmark.name)
        prediction_dir = results_path / name
        if not prediction_dir.is_dir():
            raise EvaluationError(f"{prediction_dir}: no prediction folder for sequence {name!r}")
        task = SequenceTask(
            name,
            tuple(annotations),
            prediction_dir,
            strict_void,
            boundary=boundary,
            single_object=benchmark.single_object,
            strict_ids=benchmark.strict_ids,
        )
        for annotation in task.scored_annotations:
            prediction = task.prediction_path(annotation)
            if not prediction.is_file():
                raise EvaluationError(f"{prediction}: predicted frame missing for sequence {name!r}")
        tasks.append(task)
    return tasks


def _progress(items: Iterable, total: int) -> tqdm:
    return tqdm(items, total=total, desc="Evaluating sequences", unit="seq", dynamic_ncols=True)


def _score_in_parallel(tasks: list[SequenceTask], workers: int) -> list[SequenceScores]:
    """Score tasks on a process pool; a worker's error is re-raised here and stops the rest."""
    scores: list[SequenceScores | None] = [None] * len(tasks)
    with ProcessPoolExecutor(max_workers=workers) as pool:
        futures = {pool.submit(score_sequence, task): index for index, task in enumerate(tasks)}
        try:
            # Closing the bar before an error propagates keeps the error the last line printed.
            with _progress(as_completed(futures), len(tasks)) as progress:
                for future in progress:
                    scores[futures[future]] = future.result()
        except BrokenProcessPool as err:
            raise EvaluationError(
                "an evaluation worker process died (out of memory?); rerun with fewer --workers"
            ) from err
        finally:
            pool.shutdown(wait=True, cancel_futures=True)
    return scores


def score_tasks(tasks: list[SequenceTask], workers: int | None = None) -> list[SequenceScores]:
    """Scores of every task, in task order; ``workers`` processes (default: all cores, 1: inline)."""
    if workers is not None and workers < 1:
        raise EvaluationError(f"workers must be at least 1, got {workers}")
    workers = min(workers or available_cores(), len(tasks))
    if workers == 1:
        with _progress(tasks, len(tasks)) as progress:
            return [score_sequence(task) for task in progress]
    return _score_in_parallel(tasks, workers)


def prepare_tasks(
    results_path: str | Path,
    dataset_path: str | Path,
    split: str = "val",
    strict_void: bool = False,
    *,
    benchmark: str = "vost",
    metrics: tuple[str, ...] | None = None,
    resolution: str = DEFAULT_RESOLUTION,
) -> list[SequenceTask]:
    """The checked tasks of :func:`evaluate`, one per sequence of the split, in split order."""
    spec = get_benchmark(benchmark)
    boundary = scores_boundary(spec, metrics)
    if spec.davis_layout:
        dataset_root = resolve_davis_root(dataset_path)
    else:
        dataset_root = resolve_dataset_root(dataset_path)
    return build_tasks(Path(results_path), dataset_root, split, strict_void, spec, boundary, resolution)


def _warn_about(task: SequenceTask, sequence: SequenceScores) -> None:
    """The warnings of one scored sequence, through the ``evaluation`` logger."""
    if sequence.jaccard.shape[0] == 0:
        logger.warning("%s: no object in its first annotated frame; nothing to score", sequence.name)
    if sequence.ignored_ids:
        logger.warning(
            "%s: predicted ids %s are above the %d object(s) of the first annotated frame and are ignored",
            sequence.name,
            list(sequence.ignored_ids),
            sequence.jaccard.shape[0],
        )
    if sequence.binary_mask_ids:
        logger.warning(
            "%s: the predictions hold only the values 0 and 255 (binary masks?) while the ground truth "
            "has the object ids %s; 255 is read as background, so every object scores 0 (write the "
            "object ids instead)",
            task.prediction_dir,
            list(sequence.binary_mask_ids),
        )


def score_split(tasks: list[SequenceTask], workers: int | None = None) -> list[SequenceScores]:
    """Scores of tasks from :func:`prepare_tasks` (in task order), each sequence's warnings logged."""
    scores = score_tasks(tasks, workers)
    for task, sequence in zip(tasks, scores):
        _warn_about(task, sequence)
    return scores


def tabulate(
    scores: list[SequenceScores], benchmark: str = "vost", exact_decay: bool = False
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The global and per-sequence tables of :func:`score_split`'s scores, as :func:`evaluate` gives them."""
    spec = get_benchmark(benchmark)
    return build_tables(scores, spec.j_last, spec.toolkit_decay and not exact_decay)


def evaluate_tasks(
    tasks: list[SequenceTask],
    benchmark: str = "vost",
    exact_decay: bool = False,
    workers: int | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Score tasks from :func:`prepare_tasks` and tabulate them as :func:`evaluate` does."""
    get_benchmark(benchmark)  # an unknown benchmark fails before the scoring, not after it
    return tabulate(score_split(tasks, workers), benchmark, exact_decay)


def evaluate(
    results_path: str | Path,
    dataset_path: str | Path,
    split: str = "val",
    strict_void: bool = False,
    workers: int | None = None,
    *,
    benchmark: str = "vost",
    metrics: tuple[str, ...] | None = None,
    resolution: str = DEFAULT_RESOLUTION,
    exact_decay: bool = False,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Score the predictions in ``results_path/<seq>/<frame>.png`` as the official evaluation does.

    With the default ``benchmark="vost"``, dataset_path is a VOST-layout folder or one of the official
    keys ``vost`` / ``long_videos``, and the result is that of the VOST evaluation: the global table
    (columns ``J-Mean`` ... ``J_last-Decay``, one row) and the per-object table (``Sequence`` =
    ``<seq>_<object>``, ``J-Mean``, ``J_last-Mean``), values in 0..1; ``metrics=("J", "F")`` adds F and
    J&F. ``benchmark`` ``"davis2017"``, ``"davis2016"`` or ``"longvideos"`` reads a DAVIS-layout folder
    (``resolution`` picks its ``480p`` or ``Full-Resolution`` subfolders) and gives the DAVIS toolkit's
    columns (plus J_last for longvideos); ``exact_decay=True`` computes their Decay without the
    toolkit's uint8 wrap of the bin bounds. ``strict_void=True`` leaves ground-truth void (255) pixels
    out of J and F (not the official protocol). Raises EvaluationError, naming the file, on bad input.
    """
    tasks = prepare_tasks(
        results_path, dataset_path, split, strict_void, benchmark=benchmark, metrics=metrics, resolution=resolution
    )
    return evaluate_tasks(tasks, benchmark, exact_decay, workers)
