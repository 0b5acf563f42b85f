"""J per frame and the Mean / Recall / Decay statistics, against values computed by hand."""

import math

import numpy as np
import pytest

from evaluation.metrics import db_statistics, decay_bin_bounds, frame_jaccard, last_part_start

GT = np.array([[1, 1, 1, 0], [2, 2, 0, 0], [0, 0, 0, 0]])
PREDICTION = np.array([[1, 1, 0, 0], [2, 2, 2, 0], [4, 0, 0, 1]])


def test_frame_jaccard_two_objects_and_an_empty_union():
    # Object 1: GT (0,0),(0,1),(0,2); predicted (0,0),(0,1),(2,3) -> I = 2, U = 4.
    # Object 2: GT (1,0),(1,1); predicted (1,0),(1,1),(1,2) -> I = 2, U = 3.
    # Object 3: in neither -> empty union -> 1. Id 4 is above the 3 objects: background.
    jaccard = frame_jaccard(GT, PREDICTION, num_objects=3)
    assert jaccard.dtype == np.float64
    assert jaccard.tolist() == [2 / 4, 2 / 3, 1.0]


def test_frame_jaccard_void_pixels_leave_both_intersection_and_union():
    void = np.zeros(GT.shape, dtype=bool)
    void[2, 3] = True  # the false positive of object 1
    void[0, 0] = True  # a true positive of object 1
    # Object 1 without those pixels: I = 1 ((0,1)), U = 2 ((0,1),(0,2)).
    assert frame_jaccard(GT, PREDICTION, 3, void).tolist() == [1 / 2, 2 / 3, 1.0]


def test_frame_jaccard_object_absent_but_predicted_scores_zero():
    gt = np.zeros((2, 2), dtype=np.uint8)
    prediction = np.array([[0, 1], [0, 0]], dtype=np.uint8)
    assert frame_jaccard(gt, prediction, 2).tolist() == [0.0, 1.0]


def test_db_statistics_golden_values():
    # Mean 2.5/4; Recall: 2 of 4 values are > 0.5 (0.5 is not); Decay bins for 4 values are
    # [0:2] and [2:4]: mean(1, .5) - mean(0, 1) = 0.25.
    assert db_statistics(np.array([1, 0.5, 0, 1])) == (0.625, 0.5, 0.25)
    assert db_statistics(np.array([0.2])) == (0.2, 0.0, 0.0)


def test_db_statistics_of_nothing_is_nan():
    assert all(math.isnan(value) for value in db_statistics(np.array([])))


@pytest.mark.parametrize(
    "length, bounds",
    [
        (1, [0, 0, 0, 0, 0]),
        (2, [0, 0, 1, 1, 1]),
        (3, [0, 1, 1, 2, 2]),
        (8, [0, 2, 4, 5, 7]),  # linspace gives 4.5 at the middle; +1e-10 rounds it up
        (257, [0, 64, 128, 192, 256]),  # 256 wraps to 0 in the official uint8
        (300, [0, 75, 150, 224, 299]),  # linspace(1, 300, 5) = 1, 75.75, 150.5, 225.25, 300
    ],
)
def test_decay_bin_bounds(length, bounds):
    assert decay_bin_bounds(length).tolist() == bounds


def test_decay_of_300_values_is_finite_and_correct():
    # The official uint8 bins wrap here (299 -> 43) and give NaN; the fix gives
    # mean(values[0:76]) - mean(values[224:300]) = 1 - 0.
    values = np.array([1.0] * 100 + [0.5] * 100 + [0.0] * 100)
    mean, recall, decay = db_statistics(values)
    assert mean == 0.5
    assert recall == 100 / 300
    assert decay == 1.0


def test_decay_of_a_long_ramp_matches_the_two_bins():
    values = np.arange(400) / 400.0
    bin0 = values[0:101].sum() / 101  # bounds for 400: [0, 100, 200, 299, 399]
    bin3 = values[299:400].sum() / 101
    assert db_statistics(values)[2] == pytest.approx(bin0 - bin3, abs=1e-15)
    assert decay_bin_bounds(400).tolist() == [0, 100, 200, 299, 399]


@pytest.mark.parametrize("num_frames, start", [(1, 0), (2, 1), (4, 3), (5, 3), (8, 6), (10, 7)])
def test_last_part_start_is_floor_three_quarters(num_frames, start):
    assert last_part_start(num_frames) == start
