"""Region similarity J, boundary measure F and the DAVIS-2017 statistics (Mean, Recall, Decay).

The arithmetic follows the official VOST and DAVIS evaluations operation for operation (the same float64
divisions and numpy reductions) so that the numbers agree to the last bits.
"""

from __future__ import annotations

import math
import warnings

import numpy as np

from evaluation.boundary import boundary_f, boundary_radius

RECALL_THRESHOLD = 0.5
DECAY_BINS = 4
TOOLKIT_INDEX_MODULUS = 256
"""The official code stores the Decay bin bounds as uint8, so they are taken modulo 256."""


def frame_jaccard(
    gt: np.ndarray, prediction: np.ndarray, num_objects: int, void: np.ndarray | None = None
) -> np.ndarray:
    """J of objects 1..num_objects on one frame, as a (num_objects,) float64 array.

    gt and prediction are 2-D id maps of the same shape; any other id is background for all objects.
    J is |S ∩ G| / |S ∪ G|, and 1.0 when the union is empty. Pixels where ``void`` is True are left
    out of both the intersection and the union.
    """
    keep = None if void is None else ~void
    jaccard = np.ones(num_objects, dtype=np.float64)
    for index in range(num_objects):
        in_gt = gt == index + 1
        in_prediction = prediction == index + 1
        if keep is not None:
            in_gt &= keep
            in_prediction &= keep
        union = np.count_nonzero(in_gt | in_prediction)
        if union:
            jaccard[index] = np.count_nonzero(in_gt & in_prediction) / union
    return jaccard


def decay_bin_bounds(length: int, toolkit_wrap: bool = False) -> np.ndarray:
    """Start indices of the 4 overlapping Decay bins and the last index, as int64.

    Bin i is ``values[bounds[i]:bounds[i + 1] + 1]``. The official code casts these indices to
    uint8, which wraps for sequences of more than 256 values; int64 is the fix. ``toolkit_wrap=True``
    reproduces the wrap (the bounds modulo 256), which is what the DAVIS toolkit writes.
    """
    bounds = (np.round(np.linspace(1, length, DECAY_BINS + 1) + 1e-10) - 1).astype(np.int64)
    return bounds % TOOLKIT_INDEX_MODULUS if toolkit_wrap else bounds


def db_statistics(values: np.ndarray, toolkit_wrap: bool = False) -> tuple[float, float, float]:
    """(Mean, Recall, Decay) of per-frame values; NaN for an empty input.

    Recall is the share of values above 0.5; Decay is the mean of the first quarter bin minus the
    mean of the last one, with the bins of ``decay_bin_bounds(len(values), toolkit_wrap)``.
    """
    values = np.asarray(values, dtype=np.float64)
    bounds = [int(bound) for bound in decay_bin_bounds(len(values), toolkit_wrap)]
    bins = [values[bounds[i] : bounds[i + 1] + 1] for i in range(DECAY_BINS)]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", category=RuntimeWarning)
        mean = np.nanmean(values)
        recall = np.nanmean(values > RECALL_THRESHOLD)
        decay = np.nanmean(bins[0]) - np.nanmean(bins[-1])
    return float(mean), float(recall), float(decay)


def _object_window(gt: np.ndarray, prediction: np.ndarray, label: int) -> tuple[slice, slice] | None:
    """Rows and columns holding every pixel of ``label`` in either map plus a margin of one pixel
    (clipped to the frame), or None when the label is in neither."""
    present = (gt == label) | (prediction == label)
    rows = np.flatnonzero(present.any(axis=1))
    if rows.size == 0:
        return None
    cols = np.flatnonzero(present.any(axis=0))
    height, width = present.shape
    return (
        slice(max(rows[0] - 1, 0), min(rows[-1] + 2, height)),
        slice(max(cols[0] - 1, 0), min(cols[-1] + 2, width)),
    )


def frame_scores(
    gt: np.ndarray,
    prediction: np.ndarray,
    num_objects: int,
    void: np.ndarray | None = None,
    boundary: bool = True,
) -> tuple[np.ndarray, np.ndarray | None]:
    """J and F of objects 1..num_objects on one frame, as two (num_objects,) float64 arrays.

    The arguments are those of :func:`frame_jaccard`, and J is the same. F (None unless ``boundary``) is
    the DAVIS boundary measure with the radius of the whole frame (see ``evaluation.boundary``). Pixels
    where ``void`` is True are removed from both masks before either measure. Each object is scored on
    the window around its pixels, which changes no count: J only counts object pixels, and every
    boundary pixel and every pixel the boundary rule looks at lie in the window.
    """
    keep = None if void is None else ~void
    radius = boundary_radius(gt.shape)
    jaccard = np.ones(num_objects, dtype=np.float64)
    boundary_scores = np.ones(num_objects, dtype=np.float64) if boundary else None
    for index in range(num_objects):
        window = _object_window(gt, prediction, index + 1)
        if window is None:
            continue  # empty union: J = 1, and no boundary on either side: F = 1
        in_gt = gt[window] == index + 1
        in_prediction = prediction[window] == index + 1
        if keep is not None:
            in_gt &= keep[window]
            in_prediction &= keep[window]
        union = np.count_nonzero(in_gt | in_prediction)
        if union:
            jaccard[index] = np.count_nonzero(in_gt & in_prediction) / union
        if boundary_scores is not None:
            boundary_scores[index] = boundary_f(in_gt, in_prediction, radius)
    return jaccard, boundary_scores


def last_part_start(num_frames: int) -> int:
    """Index where J_tr (``J_last``) starts: floor(0.75·n), so it covers the last quarter of frames."""
    return int(math.floor(num_frames * 0.75))
