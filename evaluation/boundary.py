"""Boundary measure F of the DAVIS 2017 evaluation, computed exactly but without full-frame morphology.

DAVIS defines F per object and frame from the one-pixel boundaries of the predicted and the ground-truth
masks: a boundary pixel of one counts as matched when a boundary pixel of the other lies within a disk of
radius ``ceil(0.008 * image diagonal)`` around it (the official code dilates each boundary map with that
disk and intersects). Precision is the matched share of the predicted boundary, recall that of the
ground-truth boundary, and F their harmonic mean.

Here the disk test is answered from running sums along the rows of the other boundary map: the disk is a
stack of horizontal segments, so "some boundary pixel within the disk" is, for each of its 2r+1 rows, one
difference of two running sums. Only boundary pixels are looked at, which gives the same counts as the
dilation on the whole frame, and :func:`evaluation.metrics.frame_scores` calls this on a small window.
"""

from __future__ import annotations

import math

import numpy as np

BOUNDARY_TOLERANCE = 0.008
"""The match distance as a fraction of the image diagonal."""


def boundary_radius(shape: tuple[int, ...]) -> int:
    """Match distance in pixels for a frame of (height, width) ``shape``: ceil(0.008 * diagonal).

    The diagonal is the float64 square root of height² + width², as numpy's norm of the shape computes it.
    """
    height, width = shape[:2]
    return math.ceil(BOUNDARY_TOLERANCE * math.sqrt(height * height + width * width))


def disk_half_widths(radius: int) -> np.ndarray:
    """``half_widths[d]``: the largest dx with dx² + d² <= radius², for d = 0..radius.

    Row dy of the disk of integer offsets (dx, dy) with dx² + dy² <= radius² spans
    dx = -half_widths[|dy|] .. half_widths[|dy|]; this is the footprint the official code dilates with.
    """
    return np.array([math.isqrt(radius * radius - d * d) for d in range(radius + 1)], dtype=np.int64)


def boundary_map(mask: np.ndarray) -> np.ndarray:
    """The one-pixel boundary of a binary mask, as a bool array of its shape.

    A pixel is a boundary pixel when it differs from its right, its lower or its lower-right neighbour.
    Past the last row and the last column the mask is taken to repeat its edge, so that an object
    touching the bottom or right border has no boundary along that border (as in the official code).
    """
    mask = np.asarray(mask, dtype=bool)
    extended = np.pad(mask, ((0, 1), (0, 1)), mode="edge")
    right = extended[:-1, 1:]
    below = extended[1:, :-1]
    below_right = extended[1:, 1:]
    return (mask ^ right) | (mask ^ below) | (mask ^ below_right)


def count_matched(points: np.ndarray, targets: np.ndarray, radius: int) -> int:
    """How many True pixels of ``points`` have a True pixel of ``targets`` within ``radius``.

    Within the radius means an integer offset (dx, dy) with dx² + dy² <= radius². Both arrays are 2-D
    bool maps of the same shape; pixels outside them count as False.
    """
    rows, cols = np.nonzero(points)
    if rows.size == 0:
        return 0
    height, width = targets.shape
    # Running sums along each row of the targets, framed by `radius` empty rows and columns so that
    # every disk row of every point falls inside: sums[y, x] counts targets[y - r, :x - r].
    framed = np.zeros((height + 2 * radius, width + 2 * radius), dtype=np.int32)
    framed[radius : radius + height, radius : radius + width] = targets
    sums = np.zeros((framed.shape[0], framed.shape[1] + 1), dtype=np.int32)
    np.cumsum(framed, axis=1, out=sums[:, 1:])
    offsets = np.arange(-radius, radius + 1)
    half_widths = disk_half_widths(radius)[np.abs(offsets)]
    framed_rows = rows[:, None] + radius + offsets
    framed_cols = cols[:, None] + radius
    hits = sums[framed_rows, framed_cols + half_widths + 1] - sums[framed_rows, framed_cols - half_widths]
    return int(np.count_nonzero(hits.any(axis=1)))


def boundary_f(gt: np.ndarray, prediction: np.ndarray, radius: int) -> float:
    """F of one object on one frame from its binary ground-truth and predicted masks.

    ``radius`` is :func:`boundary_radius` of the whole frame (the masks may be a window of it that
    holds both objects with a margin of one pixel). With no boundary on either side F is 1; with a
    boundary on one side only it is 0.
    """
    gt_boundary = boundary_map(gt)
    predicted_boundary = boundary_map(prediction)
    gt_count = int(np.count_nonzero(gt_boundary))
    predicted_count = int(np.count_nonzero(predicted_boundary))
    if gt_count == 0 or predicted_count == 0:
        return 1.0 if gt_count == predicted_count else 0.0
    precision = count_matched(predicted_boundary, gt_boundary, radius) / float(predicted_count)
    recall = count_matched(gt_boundary, predicted_boundary, radius) / float(gt_count)
    if precision + recall == 0:
        return 0.0
    return 2 * precision * recall / (precision + recall)


def frame_boundary_f(gt: np.ndarray, prediction: np.ndarray) -> float:
    """F of two whole-frame binary masks, with the radius of their frame size."""
    return boundary_f(gt, prediction, boundary_radius(np.shape(gt)))
