"""Scoring one sequence: per-object, per-frame J over its scored frames.

This is the unit of work of the parallel evaluation, so it takes and returns small picklable records.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from evaluation.errors import EvaluationError
from evaluation.mask_io import read_id_mask
from evaluation.metrics import frame_jaccard

VOID_ID = 255


@dataclass(frozen=True)
class SequenceTask:
    """What to score: a sequence's annotated frames and the folder of its predicted frames."""

    name: str
    annotation_paths: tuple[Path, ...]
    prediction_dir: Path
    strict_void: bool

    @property
    def scored_annotations(self) -> tuple[Path, ...]:
        """The scored ground-truth frames: all annotated frames but the first and the last."""
        return self.annotation_paths[1:-1]

    def prediction_path(self, annotation: Path) -> Path:
        """The predicted PNG for an annotated frame (same frame name)."""
        return self.prediction_dir / f"{annotation.stem}.png"


@dataclass(frozen=True)
class SequenceScores:
    """J of a sequence: ``jaccard[k, t]`` is object k+1 on scored frame t (float64)."""

    name: str
    jaccard: np.ndarray
    ignored_ids: tuple[int, ...]
    """Predicted ids above the number of objects (255 excluded), which were not scored."""


def _check_shape(path: Path, mask: np.ndarray, expected: tuple[int, ...], what: str) -> None:
    """Raise unless ``mask`` has the (H, W) shape of the reference that ``what`` names."""
    if mask.shape != expected:
        raise EvaluationError(
            f"{path}: size {mask.shape[0]}x{mask.shape[1]} (HxW) differs from {what}, "
            f"{expected[0]}x{expected[1]}"
        )


def count_objects(first_annotation: np.ndarray) -> int:
    """Number of objects: the largest id of the first annotated frame, void excluded."""
    ids = first_annotation[first_annotation != VOID_ID]
    return int(ids.max()) if ids.size else 0


def score_sequence(task: SequenceTask) -> SequenceScores:
    """Per-object J on every scored frame of a sequence."""
    first = read_id_mask(task.annotation_paths[0])
    num_objects = count_objects(first)
    frame_shape = first.shape
    scored = task.scored_annotations
    jaccard = np.zeros((num_objects, len(scored)), dtype=np.float64)
    ignored: set[int] = set()
    for index, annotation_path in enumerate(scored):
        gt = read_id_mask(annotation_path)
        _check_shape(annotation_path, gt, frame_shape, "the first annotation of the sequence")
        prediction_path = task.prediction_path(annotation_path)
        prediction = read_id_mask(prediction_path)
        _check_shape(prediction_path, prediction, gt.shape, f"its ground truth {annotation_path.name}")
        void = gt == VOID_ID
        gt = np.where(void, 0, gt)
        prediction = np.where(prediction == VOID_ID, 0, prediction)
        if prediction.max() > num_objects:
            ignored.update(int(i) for i in np.unique(prediction[prediction > num_objects]))
        jaccard[:, index] = frame_jaccard(
            gt, prediction, num_objects, void if task.strict_void else None
        )
    return SequenceScores(task.name, jaccard, tuple(sorted(ignored)))
