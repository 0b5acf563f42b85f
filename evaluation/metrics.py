"""Region similarity J and the DAVIS-2017 statistics (Mean, Recall, Decay) over per-frame values.

The arithmetic follows the official VOST evaluation operation for operation (the same float64
divisions and numpy reductions) so that the numbers agree to the last bits.
"""
from __future__ import annotations

import math
import warnings

import numpy as np

RECALL_THRESHOLD = 0.5
DECAY_BINS = 4


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


def decay_bin_bounds(length: int) -> np.ndarray:
    """Start indices of the 4 overlapping Decay bins and the last index, as int64.

    Bin i is ``values[bounds[i]:bounds[i + 1] + 1]``. The official code casts these indices to
    uint8, which wraps for sequences of more than 256 values; int64 is the fix.
    """
    return (np.round(np.linspace(1, length, DECAY_BINS + 1) + 1e-10) - 1).astype(np.int64)


def db_statistics(values: np.ndarray) -> tuple[float, float, float]:
    """(Mean, Recall, Decay) of per-frame values; NaN for an empty input.

    Recall is the share of values above 0.5; Decay is the mean of the first quarter bin minus the
    mean of the last one.
    """
    values = np.asarray(values, dtype=np.float64)
    bounds = decay_bin_bounds(len(values))
    bins = [values[bounds[i] : bounds[i + 1] + 1] for i in range(DECAY_BINS)]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", category=RuntimeWarning)
        mean = np.nanmean(values)
        recall = np.nanmean(values > RECALL_THRESHOLD)
        decay = np.nanmean(bins[0]) - np.nanmean(bins[-1])
    return float(mean), float(recall), float(decay)


def last_part_start(num_frames: int) -> int:
    """Index where J_tr (``J_last``) starts: floor(0.75·n), so it covers the last quarter of frames."""
    return int(math.floor(num_frames * 0.75))
