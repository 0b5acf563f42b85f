"""Scoring one sequence: per-object, per-frame J (and F) over its scored frames.

This is the unit of work of the parallel evaluation, so it takes and returns small picklable records.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from evaluation.errors import EvaluationError
from evaluation.mask_io import read_id_mask
from evaluation.metrics import frame_scores

VOID_ID = 255


@dataclass(frozen=True)
class SequenceTask:
    """What to score: a sequence's annotated frames and the folder of its predicted frames.

    The defaults are the VOST protocol. ``boundary`` adds F; ``single_object`` merges every id into one
    object (DAVIS 2016; ground-truth void stays void); ``strict_ids`` makes a predicted id above the
    number of objects an error instead of a warning (the DAVIS toolkit, where 255 is such an id too).
    """

    name: str
    annotation_paths: tuple[Path, ...]
    prediction_dir: Path
    strict_void: bool
    boundary: bool = False
    single_object: bool = False
    strict_ids: bool = False

    @property
    def scored_annotations(self) -> tuple[Path, ...]:
        """The scored ground-truth frames: all annotated frames but the first and the last."""
        return self.annotation_paths[1:-1]

    def prediction_path(self, annotation: Path) -> Path:
        """The predicted PNG for an annotated frame (same frame name)."""
        return self.prediction_dir / f"{annotation.stem}.png"


@dataclass(frozen=True)
class SequenceScores:
    """J of a sequence: ``jaccard[k, t]`` is object k+1 on scored frame t (float64); F likewise."""

    name: str
    jaccard: np.ndarray
    ignored_ids: tuple[int, ...]
    """Predicted ids above the number of objects (255 excluded), which were not scored."""
    boundary: np.ndarray | None = None
    """F in the layout of ``jaccard``, when the task asked for it."""
    binary_mask_ids: tuple[int, ...] = ()
    """When every prediction holds only the values 0 and 255 (binary masks), which the VOST protocol
    reads as background: the object ids of the first annotated frame, none of them predicted. Empty
    otherwise."""


def _check_shape(path: Path, mask: np.ndarray, expected: tuple[int, ...], what: str) -> None:
    """Raise unless ``mask`` has the (H, W) shape of the reference that ``what`` names."""
    if mask.shape != expected:
        raise EvaluationError(
            f"{path}: size {mask.shape[0]}x{mask.shape[1]} (HxW) differs from {what}, {expected[0]}x{expected[1]}"
        )


def count_objects(first_annotation: np.ndarray) -> int:
    """Number of objects: the largest id of the first annotated frame, void excluded."""
    ids = first_annotation[first_annotation != VOID_ID]
    return int(ids.max()) if ids.size else 0


def _object_ids(annotation: np.ndarray) -> tuple[int, ...]:
    """The object ids (1..254) present in an annotation."""
    return tuple(int(i) for i in np.unique(annotation) if 0 < i < VOID_ID)


def _check_prediction_ids(task: SequenceTask, path: Path, prediction: np.ndarray, num_objects: int) -> None:
    """Raise, naming the file, if a prediction holds an id above the number of objects."""
    if prediction.max() > num_objects:
        ids = [int(i) for i in np.unique(prediction[prediction > num_objects])]
        raise EvaluationError(
            f"{path}: predicted ids {ids} are above the {num_objects} object(s) of sequence "
            f"{task.name!r} (the ids of its first annotated frame)"
        )


def score_sequence(task: SequenceTask) -> SequenceScores:
    """Per-object J (and F if the task asks) on every scored frame of a sequence."""
    first = read_id_mask(task.annotation_paths[0])
    num_objects = 1 if task.single_object else count_objects(first)
    frame_shape = first.shape
    scored = task.scored_annotations
    jaccard = np.zeros((num_objects, len(scored)), dtype=np.float64)
    boundary = np.zeros_like(jaccard) if task.boundary else None
    ignored: set[int] = set()
    # Whether every prediction so far holds only 0 and 255, and some 255 (VOST reads 255 as background).
    only_0_and_255 = num_objects > 0 and not task.single_object and not task.strict_ids
    saw_255 = False
    for index, annotation_path in enumerate(scored):
        gt = read_id_mask(annotation_path)
        _check_shape(annotation_path, gt, frame_shape, "the first annotation of the sequence")
        prediction_path = task.prediction_path(annotation_path)
        prediction = read_id_mask(prediction_path)
        _check_shape(prediction_path, prediction, gt.shape, f"its ground truth {annotation_path.name}")
        void = gt == VOID_ID
        gt = np.where(void, 0, gt)
        if task.single_object:
            gt = (gt > 0).view(np.uint8)
            prediction = (prediction > 0).view(np.uint8)
        elif task.strict_ids:
            _check_prediction_ids(task, prediction_path, prediction, num_objects)
        else:
            predicted_void = prediction == VOID_ID
            prediction = np.where(predicted_void, 0, prediction)
            largest = prediction.max()
            if largest > num_objects:
                ignored.update(int(i) for i in np.unique(prediction[prediction > num_objects]))
            if only_0_and_255:
                only_0_and_255 = bool(largest == 0)
                saw_255 = saw_255 or bool(predicted_void.any())
        frame_j, frame_f = frame_scores(gt, prediction, num_objects, void if task.strict_void else None, task.boundary)
        jaccard[:, index] = frame_j
        if boundary is not None:
            boundary[:, index] = frame_f
    binary_mask_ids = _object_ids(first) if only_0_and_255 and saw_255 else ()
    return SequenceScores(task.name, jaccard, tuple(sorted(ignored)), boundary, binary_mask_ids)
