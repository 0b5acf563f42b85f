"""End-to-end scores of hand-made cases through the public ``evaluate`` API."""

import logging

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from evaluation import EvaluationError, evaluate
from evaluation.palette import DAVIS_PALETTE
from tests.evaluation.cases import blank

GLOBAL = ["J-Mean", "J-Recall", "J-Decay", "J_last-Mean", "J_last-Recall", "J_last-Decay"]


def global_row(table: pd.DataFrame) -> list[float]:
    assert list(table.columns) == GLOBAL and len(table) == 1
    return table.iloc[0].tolist()


def per_object(table: pd.DataFrame) -> dict[str, tuple[float, float]]:
    assert list(table.columns) == ["Sequence", "J-Mean", "J_last-Mean"]
    return {row.Sequence: (row[1], row[2]) for row in table.itertuples(index=False)}


def assert_rows(table: pd.DataFrame, expected: dict[str, tuple[float, float]]) -> None:
    """The per-object rows are ``expected``, in its order, up to float rounding."""
    rows = per_object(table)
    assert list(rows) == list(expected)
    assert [v for pair in rows.values() for v in pair] == pytest.approx(
        [v for pair in expected.values() for v in pair], abs=1e-12
    )


def test_toy_case_gives_the_official_numbers(toy_case):
    """RMEM_SPEC §9.12: the numbers the official evaluation printed for this case."""
    results, dataset = toy_case
    global_table, per_sequence = evaluate(results, dataset, "val", workers=1)
    # seqA_1: J = 1/2 on odd and 8/17 on even frames; seqA_2: [1,1,1,1,0,0,1,1]; seqB_1: all 1.
    # Decay: bins of 8 values are [0:3] and [5:8]; of 2 values [0:1] and [1:2].
    seq_a1 = (4 * 0.5 + 4 * 8 / 17) / 8
    expected = [
        (seq_a1 + 6 / 8 + 1) / 3,
        (0 + 6 / 8 + 1) / 3,
        ((0.5 - 8 / 17) / 3 + (1 - 2 / 3) + 0) / 3,
        (seq_a1 + 1 + 1) / 3,
        (0 + 1 + 1) / 3,
        ((0.5 - 8 / 17) + 0 + 0) / 3,
    ]
    assert global_row(global_table) == pytest.approx(expected, abs=1e-12)
    official = [0.745098, 0.583333, 0.114379, 0.828431, 0.666667, 0.009804]
    assert global_row(global_table) == pytest.approx(official, abs=5e-7)
    assert_rows(per_sequence, {"seqA_1": (seq_a1, seq_a1), "seqA_2": (0.75, 1.0), "seqB_1": (1.0, 1.0)})


def two_object_case():
    """4x4, 5 annotated frames; the 3 scored ones have J1 = [1, .75, 2/3] and J2 = [.5, 1, 1]."""
    gt_frames, predictions = [], []
    for t in range(5):
        gt = blank()
        gt[0:2, 0:2] = 1
        if t <= 2:
            gt[3] = 2
        gt_frames.append(gt)
    for t in range(5):
        predicted = blank()
        if t == 1:
            predicted[0:2, 0:2] = 1  # exact: J1 = 1
            predicted[3, 0:2] = 2  # 2 of 4: J2 = 0.5
        elif t == 2:
            predicted[0:2, 0:2] = 1
            predicted[1, 1] = 0  # 3 of 4: J1 = 0.75
            predicted[3] = 2  # exact: J2 = 1
        elif t == 3:
            predicted[0:2, 0:3] = 1  # 4 + 2 false positives: J1 = 4/6; object 2 nowhere: J2 = 1
        predictions.append(predicted)  # frames 0 and 4 stay empty: they are not scored
    return {"two": gt_frames}, {"two": predictions}


def test_two_objects_empty_union_and_unscored_frames(make_case):
    results, dataset = make_case(*two_object_case())
    # A predicted frame without annotation is never read, even if it is garbage.
    (results / "two" / "00001.png").write_bytes(b"not a png")
    global_table, per_sequence = evaluate(results, dataset, workers=1)
    j1, j2 = [1, 0.75, 4 / 6], [0.5, 1, 1]
    # 3 scored frames: Decay bins [0:2] and [2:3]; J_last starts at floor(2.25) = 2.
    mean1, mean2 = sum(j1) / 3, sum(j2) / 3
    decay1, decay2 = (j1[0] + j1[1]) / 2 - j1[2], (j2[0] + j2[1]) / 2 - j2[2]
    assert_rows(per_sequence, {"two_1": (mean1, j1[2]), "two_2": (mean2, j2[2])})
    assert global_row(global_table) == pytest.approx(
        [(mean1 + mean2) / 2, (1 + 2 / 3) / 2, (decay1 + decay2) / 2, (j1[2] + j2[2]) / 2, 1.0, 0.0]
    )


def test_objects_are_the_ids_of_the_first_frame(make_case, caplog):
    """Id 1 is absent from the first frame but below its maximum (2): it is an object with an
    empty track there. Id 3 first appears later: it is no object, and predicting it is ignored."""
    gt_frames = [blank() for _ in range(4)]
    for gt in gt_frames:
        gt[0] = 2
    gt_frames[1][1] = 1
    gt_frames[1][3] = 3
    gt_frames[2][3] = 3
    predictions = [frame.copy() for frame in gt_frames]
    predictions[1][1] = 0
    predictions[1][1, 0:2] = 1  # 2 of 4 pixels of object 1: J = 0.5
    predictions[2][2, 0] = 1  # object 1 predicted where it is absent: J = 0
    results, dataset = make_case({"late": gt_frames}, {"late": predictions})
    with caplog.at_level(logging.WARNING, logger="evaluation"):
        global_table, per_sequence = evaluate(results, dataset, workers=1)
    assert per_object(per_sequence) == {"late_1": (0.25, 0.0), "late_2": (1.0, 1.0)}
    # Object 1: Recall 0 (0.5 is not above 0.5); Decay over 2 frames is J[0] - J[1] = 0.5.
    assert global_row(global_table) == [0.625, 0.5, 0.25, 0.5, 0.5, 0.0]
    assert any("late" in message and "[3]" in message for message in caplog.messages)


def void_case():
    """4x4, 3 frames; GT object 1 = row 0, void (255) at row 1 cols 0-1 (also in the first frame).
    The scored frame predicts row 0 and the two void pixels as object 1, and a 255 at (3, 3)."""
    gt_frames = []
    for _ in range(3):
        gt = blank()
        gt[0] = 1
        gt[1, 0:2] = 255
        gt_frames.append(gt)
    predicted = gt_frames[1].copy()
    predicted[1, 0:2] = 1
    predicted[3, 3] = 255
    return {"void": gt_frames}, {"void": [gt_frames[0], predicted, gt_frames[2]]}


def test_void_counts_as_background_by_default(make_case, caplog):
    results, dataset = make_case(*void_case())
    with caplog.at_level(logging.WARNING, logger="evaluation"):
        _, per_sequence = evaluate(results, dataset, workers=1)
    # I = 4, U = 4 + 2 predicted void pixels. Void is no object and predicted 255 is background.
    assert per_object(per_sequence) == {"void_1": (4 / 6, 4 / 6)}
    assert caplog.messages == []


def test_strict_void_leaves_void_pixels_out(make_case):
    results, dataset = make_case(*void_case())
    _, per_sequence = evaluate(results, dataset, strict_void=True, workers=1)
    assert per_object(per_sequence) == {"void_1": (1.0, 1.0)}


def test_toy_case_with_strict_void(toy_case):
    results, dataset = toy_case
    global_table, per_sequence = evaluate(results, dataset, strict_void=True, workers=1)
    # The predicted void pixel of seqA no longer counts: object 1 has J = 8/16 on every frame.
    assert per_object(per_sequence) == {
        "seqA_1": (0.5, 0.5),
        "seqA_2": (0.75, 1.0),
        "seqB_1": (1.0, 1.0),
    }
    assert global_row(global_table) == pytest.approx([2.25 / 3, 1.75 / 3, 1 / 9, 2.5 / 3, 2 / 3, 0.0])


def test_global_scores_are_object_weighted(make_case):
    """Three perfect objects in one video and one missed object in another: 3/4, not 1/2."""
    many = blank()
    many[0], many[1], many[2] = 1, 2, 3
    single = blank()
    single[0] = 1
    results, dataset = make_case(
        {"many": [many] * 3, "single": [single] * 3},
        {"many": [many] * 3, "single": [single, blank(), single]},
    )
    global_table, per_sequence = evaluate(results, dataset, workers=1)
    video_weighted = (1.0 + 0.0) / 2
    assert global_row(global_table)[0] == 0.75 != video_weighted
    assert global_row(global_table)[3] == 0.75
    assert list(per_sequence["Sequence"]) == ["many_1", "many_2", "many_3", "single_1"]


def test_rows_follow_the_split_file_then_object_number(make_case):
    ten = np.arange(16, dtype=np.uint8).reshape(4, 4) % 11  # ids 0..10
    one = blank()
    one[0, 0] = 1
    frames = {"zeta": [ten] * 3, "alpha": [one] * 3}
    results, dataset = make_case(frames, frames)
    _, per_sequence = evaluate(results, dataset, workers=1)
    assert list(per_sequence["Sequence"]) == [f"zeta_{k}" for k in range(1, 11)] + ["alpha_1"]


def test_parallel_and_inline_give_identical_tables(toy_case):
    results, dataset = toy_case
    inline = evaluate(results, dataset, workers=1)
    parallel = evaluate(results, dataset, workers=2)
    for inline_table, parallel_table in zip(inline, parallel):
        pd.testing.assert_frame_equal(inline_table, parallel_table, check_exact=True)


def test_rgb_and_greyscale_predictions_read_as_ids(toy_case):
    results, dataset = toy_case
    expected = evaluate(results, dataset, workers=1)
    for index, path in enumerate(sorted(results.rglob("*.png"))):
        ids = np.array(Image.open(path))
        image = Image.fromarray(DAVIS_PALETTE[ids]) if index % 2 else Image.fromarray(ids, mode="L")
        image.save(path)
    assert {Image.open(path).mode for path in results.rglob("*.png")} == {"RGB", "L"}
    for expected_table, table in zip(expected, evaluate(results, dataset, workers=1)):
        pd.testing.assert_frame_equal(expected_table, table, check_exact=True)


def test_a_sequence_without_objects_adds_no_row(make_case, caplog):
    one = blank()
    one[0] = 1
    empty = [blank(), one, one]  # object 1 appears after the first frame: it is no object
    results, dataset = make_case({"empty": empty, "one": [one] * 3}, {"empty": empty, "one": [one] * 3})
    with caplog.at_level(logging.WARNING, logger="evaluation"):
        global_table, per_sequence = evaluate(results, dataset, workers=1)
    assert per_object(per_sequence) == {"one_1": (1.0, 1.0)}
    assert global_row(global_table) == [1.0, 1.0, 0.0, 1.0, 1.0, 0.0]
    assert any(message.startswith("empty: ") and "no object" in message for message in caplog.messages)
    (dataset / "ImageSets" / "val.txt").write_text("empty\n")
    with pytest.raises(EvaluationError, match="no objects to evaluate"):
        evaluate(results, dataset, workers=1)
