"""The boundary measure F: match radius, boundary pixels, the disk, and F of shapes counted by hand."""

import math

import numpy as np
import pytest

from evaluation.boundary import boundary_f, boundary_map, boundary_radius, count_matched, frame_boundary_f
from evaluation.metrics import frame_scores
from tests.evaluation.cases import rectangle


@pytest.mark.parametrize(
    "shape, radius",
    [
        ((480, 854), 8),  # diagonal 979.65 -> 7.84
        ((1080, 1920), 18),  # 2202.9 -> 17.6
        ((75, 100), 1),  # 125 -> 0.008 * 125 is 1.0 in float64 (0.008 is a hair above), ceil 1
        ((75, 101), 2),  # 125.8 -> 1.006
        ((100, 120), 2),  # 156.2 -> 1.25
        ((200, 200), 3),  # 282.8 -> 2.26
        ((12, 16), 1),  # 20 -> 0.16
        ((1, 1), 1),
    ],
)
def test_radius_is_ceil_of_0008_times_the_diagonal(shape, radius):
    assert boundary_radius(shape) == radius


def test_boundary_of_a_square_is_the_outline_of_the_box_one_pixel_up_and_left():
    # A pixel is on the boundary when its right, lower or lower-right neighbour differs: the square's
    # own last row and column, and the row above and the column left of it (with their corner).
    mask = rectangle(8, 8, (2, 5), (3, 6))  # rows 2-4, cols 3-5
    expected = np.zeros((8, 8), dtype=bool)
    expected[1, 2:6] = expected[4, 2:6] = True  # rows 1 and 4, cols 2-5
    expected[1:5, 2] = expected[1:5, 5] = True  # cols 2 and 5, rows 1-4
    np.testing.assert_array_equal(boundary_map(mask), expected)
    assert expected.sum() == 4 * 3


def test_no_boundary_along_the_bottom_and_right_borders():
    # Rows 5-7 x cols 4-7 touch the bottom and the right border: only the row above (4, cols 3-7) and
    # the column left of it (3, rows 4-7) are boundary; the object's own pixels are not.
    mask = rectangle(8, 8, (5, 8), (4, 8))
    expected = np.zeros((8, 8), dtype=bool)
    expected[4, 3:8] = True
    expected[4:8, 3] = True
    np.testing.assert_array_equal(boundary_map(mask), expected)
    assert not boundary_map(np.ones((5, 6), dtype=bool)).any()
    # A single pixel in the bottom-right corner: its left, upper and upper-left neighbours.
    corner = np.zeros((4, 4), dtype=bool)
    corner[3, 3] = True
    assert sorted(zip(*np.nonzero(boundary_map(corner)))) == [(2, 2), (2, 3), (3, 2)]


@pytest.mark.parametrize(
    "radius, offset, within",
    [
        (1, (0, 1), True),
        (1, (1, 1), False),
        (2, (0, 2), True),
        (2, (1, 1), True),
        (2, (1, 2), False),
        (3, (2, 2), True),
        (3, (0, 3), True),
        (3, (1, 3), False),
        (8, (0, 8), True),
        (8, (5, 6), True),
        (8, (4, 7), False),
        (8, (6, 6), False),
    ],
)
def test_the_footprint_is_the_disk_dx2_plus_dy2_at_most_r2(radius, offset, within):
    for dy, dx in {offset, offset[::-1], (-offset[0], offset[1]), (offset[0], -offset[1])}:
        points = np.zeros((40, 40), dtype=bool)
        targets = np.zeros((40, 40), dtype=bool)
        points[20, 20] = True
        targets[20 + dy, 20 + dx] = True
        assert count_matched(points, targets, radius) == int(within)


def test_matches_near_the_frame_edge():
    points = np.zeros((3, 3), dtype=bool)
    targets = np.zeros((3, 3), dtype=bool)
    points[0, 0] = points[2, 2] = True
    targets[0, 2] = True
    assert count_matched(points, targets, 2) == 2  # (0, 0) -> dx 2; (2, 2) -> dy 2
    assert count_matched(points, targets, 1) == 0


def square_pair(height: int, width: int, shift: int) -> tuple[np.ndarray, np.ndarray]:
    """A 5x5 ground-truth square at rows 2-6, cols 2-6 and the same square ``shift`` columns right."""
    return rectangle(height, width, (2, 7), (2, 7)), rectangle(height, width, (2, 7), (2 + shift, 7 + shift))


def test_shifted_square_with_radius_1():
    # Each boundary is the outline of a 6x6 box (20 pixels). Shifted by 2 with r = 1, the predicted
    # outline misses: the last pixel of its top and bottom rows, its whole right column (4 pixels
    # between the corners) and 2 of the 4 of its left column (the two next to the GT's top and bottom
    # rows match): 1 + 1 + 4 + 2 = 8 of 20. The ground truth is the mirror image. P = R = 12/20.
    gt, prediction = square_pair(12, 16, 2)
    assert boundary_radius(gt.shape) == 1
    assert frame_boundary_f(gt, prediction) == pytest.approx(0.6, abs=1e-15)
    jaccard, boundary = frame_scores(gt, prediction, 1)
    assert jaccard.tolist() == [15 / 35]  # overlap 5x3, union 25 + 25 - 15
    assert boundary[0] == pytest.approx(0.6, abs=1e-15)


@pytest.mark.parametrize("shape", [(100, 120), (200, 200)])
def test_shifted_square_within_a_larger_radius_is_perfect(shape):
    # With r >= 2, every boundary pixel is 2 columns from its copy on the other boundary.
    gt, prediction = square_pair(*shape, 2)
    assert boundary_radius(shape) >= 2
    assert frame_boundary_f(gt, prediction) == 1.0
    assert frame_scores(gt, prediction, 1)[0].tolist() == [15 / 35]


def test_special_cases_without_a_boundary():
    empty = np.zeros((6, 6), dtype=bool)
    square = rectangle(6, 6, (1, 3), (1, 3)).astype(bool)
    full = np.ones((6, 6), dtype=bool)  # no boundary at all: it touches every border
    assert boundary_f(empty, empty, 1) == 1.0  # nothing on either side
    assert boundary_f(square, empty, 1) == 0.0  # missed: precision 1, recall 0
    assert boundary_f(empty, square, 1) == 0.0  # predicted where absent: precision 0, recall 1
    assert boundary_f(full, full, 1) == 1.0
    assert boundary_f(full, square, 1) == 0.0


def reference_boundary(mask: np.ndarray) -> np.ndarray:
    """The rule as the official code states it: differs from the right, lower or lower-right neighbour,
    with 0 past the frame; on the last row only the right neighbour counts, on the last column only
    the lower one, and the bottom-right pixel is never a boundary."""
    height, width = mask.shape

    def at(y: int, x: int) -> bool:
        return bool(mask[y, x]) if y < height and x < width else False

    out = np.zeros_like(mask, dtype=bool)
    for y in range(height):
        for x in range(width):
            if y == height - 1 and x == width - 1:
                continue
            if y == height - 1:
                out[y, x] = at(y, x) != at(y, x + 1)
            elif x == width - 1:
                out[y, x] = at(y, x) != at(y + 1, x)
            else:
                out[y, x] = at(y, x) != at(y, x + 1) or at(y, x) != at(y + 1, x) or at(y, x) != at(y + 1, x + 1)
    return out


def reference_dilation(mask: np.ndarray, radius: int) -> np.ndarray:
    height, width = mask.shape
    out = np.zeros_like(mask)
    for dy in range(-radius, radius + 1):
        for dx in range(-radius, radius + 1):
            if dx * dx + dy * dy <= radius * radius:
                src = mask[max(-dy, 0) : height - max(dy, 0), max(-dx, 0) : width - max(dx, 0)]
                out[max(dy, 0) : height - max(-dy, 0), max(dx, 0) : width - max(-dx, 0)] |= src
    return out


def reference_f(gt: np.ndarray, prediction: np.ndarray) -> float:
    radius = math.ceil(0.008 * math.hypot(*gt.shape))
    gt_boundary, predicted_boundary = reference_boundary(gt), reference_boundary(prediction)
    n_gt, n_predicted = gt_boundary.sum(), predicted_boundary.sum()
    if n_gt == 0 or n_predicted == 0:
        return 1.0 if n_gt == n_predicted else 0.0
    precision = (predicted_boundary & reference_dilation(gt_boundary, radius)).sum() / n_predicted
    recall = (gt_boundary & reference_dilation(predicted_boundary, radius)).sum() / n_gt
    return 0.0 if precision + recall == 0 else 2 * precision * recall / (precision + recall)


@pytest.mark.parametrize("shape", [(9, 14), (31, 40), (90, 110), (130, 150)])
def test_random_id_maps_against_a_brute_force_reference(shape):
    rng = np.random.default_rng(sum(shape))
    for _ in range(4):
        gt = np.zeros(shape, dtype=np.uint8)
        prediction = np.zeros(shape, dtype=np.uint8)
        for frame in (gt, prediction):
            for label in rng.integers(1, 4, size=5):
                y, x = rng.integers(0, shape[0]), rng.integers(0, shape[1])
                frame[y : y + rng.integers(1, shape[0]), x : x + rng.integers(1, shape[1])] = label
            frame[rng.random(shape) < 0.02] = rng.integers(0, 4)
        jaccard, boundary = frame_scores(gt, prediction, 3)
        for label in (1, 2, 3):
            g, p = gt == label, prediction == label
            union = (g | p).sum()
            assert jaccard[label - 1] == ((g & p).sum() / union if union else 1.0)
            assert boundary[label - 1] == pytest.approx(reference_f(g, p), abs=1e-15)
