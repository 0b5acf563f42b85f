"""DAVIS 2017 / 2016 and long-video scoring (J, F, J&F) and F in VOST mode, on cases counted by hand.

The frames are tiny, so the boundary match radius ceil(0.008 * diagonal) is 1 pixel: a boundary pixel
matches when a boundary pixel of the other mask is the same pixel or one of its 4 neighbours. The
boundary of a filled h x w rectangle away from the bottom and right borders is the outline of the
(h+1) x (w+1) box that starts one pixel above and left of it: 2h + 2w pixels.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from evaluation import EvaluationError, evaluate
from evaluation.cli import main
from tests.evaluation.cases import (
    blank,
    rectangle,
    write_dataset,
    write_davis_dataset,
    write_davis_results,
    write_results,
)
from tests.evaluation.test_eval_cli import TOY_GLOBAL_CSV, TOY_PER_SEQUENCE_CSV

DAVIS_GLOBAL = ["J&F-Mean", "J-Mean", "J-Recall", "J-Decay", "F-Mean", "F-Recall", "F-Decay"]
J_LAST = ["J_last-Mean", "J_last-Recall", "J_last-Decay"]
H, W = 12, 16  # diagonal 20: radius 1

# A 5x5 square at rows 2-6, cols 2-6, and the three predictions the scored frames get below:
# exact (J = F = 1); shifted 2 columns right (J = 15/35: overlap 5x3, union 35; F = 0.6: each outline
# has 20 pixels and 12 of them are within 1 pixel of the other outline, see test_boundary); empty (0, 0).
SQUARE = rectangle(H, W, (2, 7), (2, 7))
SHIFTED = rectangle(H, W, (2, 7), (4, 9))
SQUARE_J = [1.0, 15 / 35, 0.0]
SQUARE_F = [1.0, 0.6, 0.0]


def mean(values):
    return sum(values) / len(values)


def three_value_stats(values):
    """Mean, Recall and Decay of 3 values by hand: the Decay bins of 3 values are [0:2] and [2:3]."""
    return [mean(values), sum(v > 0.5 for v in values) / 3, (values[0] + values[1]) / 2 - values[2]]


def row(table: pd.DataFrame) -> dict[str, float]:
    assert len(table) == 1
    return table.iloc[0].to_dict()


@pytest.fixture
def davis_case(tmp_path):
    def build(ground_truth, predictions, year="2017", annotated=None):
        dataset = write_davis_dataset(tmp_path / "DAVIS", ground_truth, year, annotated)
        results = write_davis_results(tmp_path / "results", predictions)
        return results, dataset

    return build


def square_case():
    """5 frames of the square; the scored frames 1-3 are predicted exact, shifted and empty, and the
    unscored first and last frames are predicted all wrong."""
    wrong = np.ones((H, W), dtype=np.uint8)
    return {"sq": [SQUARE] * 5}, {"sq": [wrong, SQUARE, SHIFTED, blank(H, W), wrong]}


def expected_square_row() -> dict[str, float]:
    j, f = three_value_stats(SQUARE_J), three_value_stats(SQUARE_F)
    return dict(zip(DAVIS_GLOBAL, [(j[0] + f[0]) / 2, *j, *f]))


def test_davis2017_square(davis_case):
    results, dataset = davis_case(*square_case())
    global_table, per_sequence = evaluate(results, dataset, benchmark="davis2017", workers=1)
    assert list(global_table.columns) == DAVIS_GLOBAL
    assert row(global_table) == pytest.approx(expected_square_row(), abs=1e-12)
    assert list(per_sequence.columns) == ["Sequence", "J-Mean", "F-Mean"]
    assert per_sequence["Sequence"].tolist() == ["sq_1"]
    assert per_sequence.iloc[0, 1:].tolist() == pytest.approx([mean(SQUARE_J), mean(SQUARE_F)], abs=1e-12)


def test_davis2017_command_line_writes_six_decimals(davis_case, capsys):
    results, dataset = davis_case(*square_case())
    argv = [
        "--benchmark",
        "davis2017",
        "--task",
        "semi-supervised",
        "--results_path",
        str(results),
        "--davis_path",
        str(dataset),
        "--set",
        "val",
        "--workers",
        "1",
    ]
    assert main(argv) == 0
    expected = expected_square_row()
    assert (results / "global_results-val.csv").read_text() == (
        ",".join(DAVIS_GLOBAL) + "\n" + ",".join(f"{expected[c]:.6f}" for c in DAVIS_GLOBAL) + "\n"
    )
    assert (results / "per-sequence_results-val.csv").read_text() == (
        f"Sequence,J-Mean,F-Mean\nsq_1,{mean(SQUARE_J):.6f},{mean(SQUARE_F):.6f}\n"
    )
    assert "0.504762" in capsys.readouterr().out  # J&F = (10/21 + 1.6/3) / 2
    # Saved results are read back unless --re, with the DAVIS columns.
    assert main(argv[:-2]) == 0
    assert "Using precomputed results" in capsys.readouterr().out


def void_case():
    """GT: a 4x4 object at rows 2-5, cols 2-5 and void at rows 2-5, cols 6-7. The scored frame
    predicts the object and the void pixels."""
    gt = rectangle(H, W, (2, 6), (2, 6))
    gt[2:6, 6:8] = 255
    predicted = rectangle(H, W, (2, 6), (2, 8))
    return {"void": [gt] * 3}, {"void": [gt, predicted, gt]}


def test_void_pixels_are_not_excluded(davis_case):
    results, dataset = davis_case(*void_case())
    _, per_sequence = evaluate(results, dataset, benchmark="davis2017", workers=1)
    # J: 16 of 24 predicted pixels are the object. F: GT outline 16 pixels (box rows 1-5, cols 1-5),
    # predicted outline 20 (rows 1-5, cols 1-7). Unmatched predicted: col 7 of the top and bottom rows
    # and rows 2-4 of col 7: P = 15/20. Unmatched GT: (3, 5) only (its neighbours (2, 5) and (4, 5)
    # are inside the predicted outline, which has no pixel there): R = 15/16. F = 2PR/(P+R) = 5/6.
    assert per_sequence.iloc[0, 1:].tolist() == pytest.approx([16 / 24, 5 / 6], abs=1e-12)
    _, strict = evaluate(results, dataset, strict_void=True, benchmark="davis2017", workers=1)
    assert strict.iloc[0, 1:].tolist() == [1.0, 1.0]  # without the void pixels both masks are equal


def test_empty_union_and_an_object_absent_from_the_first_frame(davis_case):
    """Object 2 defines K = 2, so object 1 exists although the first frame lacks it. Scored frames:
    1: neither has object 1 (empty union, J = F = 1); 2: it is in the GT but not predicted (0, 0);
    3: it is predicted but absent (0, 0). Object 2 is exact everywhere."""
    gt = [rectangle(H, W, (2, 7), (2, 7), label=2) for _ in range(5)]
    gt[2][9:11, 10:14] = 1
    predictions = [frame.copy() for frame in gt]
    predictions[2][9:11, 10:14] = 0
    predictions[3][9:11, 10:14] = 1
    results, dataset = davis_case({"late": gt}, {"late": predictions})
    global_table, per_sequence = evaluate(results, dataset, benchmark="davis2017", workers=1)
    one = three_value_stats([1.0, 0.0, 0.0])  # 1/3, 1/3, 0.5
    expected = [(one[i] + v) / 2 for i, v in enumerate([1.0, 1.0, 0.0])]
    assert row(global_table) == pytest.approx(dict(zip(DAVIS_GLOBAL, [expected[0], *expected, *expected])))
    assert per_sequence["Sequence"].tolist() == ["late_1", "late_2"]
    np.testing.assert_allclose(per_sequence.iloc[:, 1:].to_numpy(float), [[1 / 3, 1 / 3], [1, 1]], atol=1e-12)


def long_case(frames: int, correct: int):
    """A 4x4 sequence of ``frames`` frames, object 1 at rows 0-1, cols 0-1, predicted exactly on the
    first ``correct`` scored frames and not at all afterwards: J = F = 1 then 0."""
    gt = rectangle(4, 4, (0, 2), (0, 2))
    predictions = [gt] * (correct + 1) + [blank()] * (frames - correct - 1)
    return {"long": [gt] * frames}, {"long": predictions}


def test_decay_bins_wrap_past_255_frames_as_the_toolkit_unless_exact_decay(davis_case):
    # 402 frames: 400 scored, 150 right then 250 wrong. The bin bounds round(linspace(1, 400, 5)) - 1
    # are 0, 100, 200, 299, 399; the toolkit's uint8 makes the last two 299 - 256 = 43 and 143.
    # Toolkit: mean(v[0:101]) - mean(v[43:144]) = 1 - 1 = 0. Intended: mean(v[0:101]) - mean(v[299:400]) = 1.
    results, dataset = davis_case(*long_case(402, 150))
    argv = ["--benchmark", "davis2017", "--results_path", str(results), "--davis_path", str(dataset), "--workers", "1"]
    assert main(argv) == 0
    assert main([*argv, "--exact-decay"]) == 0
    toolkit = pd.read_csv(results / "global_results-val.csv").iloc[0]
    exact = pd.read_csv(results / "global_results-val-exact-decay.csv").iloc[0]
    assert toolkit["J-Mean"] == exact["J-Mean"] == toolkit["F-Mean"] == 0.375  # 150 / 400
    assert toolkit["J-Recall"] == toolkit["F-Recall"] == 0.375
    assert toolkit["J-Decay"] == toolkit["F-Decay"] == 0.0
    assert exact["J-Decay"] == exact["F-Decay"] == 1.0


def test_vost_decay_is_always_exact(tmp_path):
    ground_truth, predictions = long_case(402, 150)
    dataset = write_dataset(tmp_path / "vost", ground_truth)
    results = write_results(tmp_path / "results", predictions)
    global_table, _ = evaluate(results, dataset, workers=1)
    assert global_table["J-Decay"][0] == 1.0


def two_object_frames(swapped: bool, void_prediction: bool):
    """8x8: object 1 on rows 0-1, object 2 on rows 2-3, GT void at (7, 7). The prediction has the two
    ids swapped and, optionally, a 255 on the void pixel."""
    gt = rectangle(8, 8, (0, 2), (0, 8), label=1)
    gt[2:4] = 2
    gt[7, 7] = 255
    predicted = gt.copy()
    predicted[7, 7] = 255 if void_prediction else 0
    if swapped:
        predicted[0:2], predicted[2:4] = 2, 1
    return {"pair": [gt] * 3}, {"pair": [gt, predicted, gt]}


def test_davis2016_merges_all_objects_into_one(davis_case):
    results, dataset = davis_case(*two_object_frames(swapped=True, void_prediction=True), year="2016")
    global_table, per_sequence = evaluate(results, dataset, benchmark="davis2016", workers=1)
    # Merged: GT rows 0-3 (the void pixel is background), prediction rows 0-3 and (7, 7) (255 is an
    # id > 0 too). J = 32/33. Boundaries: GT row 3 only (the object touches the top, left and right
    # borders); predicted row 3 and (6, 6), (6, 7), (7, 6) around the corner pixel, which match
    # nothing: P = 8/11, R = 1, F = 16/19.
    assert per_sequence["Sequence"].tolist() == ["pair_1"]
    assert per_sequence.iloc[0, 1:].tolist() == pytest.approx([32 / 33, 16 / 19], abs=1e-12)
    assert row(global_table)["J&F-Mean"] == pytest.approx((32 / 33 + 16 / 19) / 2, abs=1e-12)


def test_davis2017_scores_the_objects_separately(davis_case):
    results, dataset = davis_case(*two_object_frames(swapped=True, void_prediction=False))
    _, per_sequence = evaluate(results, dataset, benchmark="davis2017", workers=1)
    # Swapped ids: J = 0. Object 1: GT boundary row 1, predicted rows 1 and 3 (rows 2-3 filled):
    # P = 8/16, R = 1, F = 2/3. Object 2 is the mirror case: P = 1, R = 1/2, F = 2/3.
    np.testing.assert_allclose(per_sequence.iloc[:, 1:].to_numpy(float), [[0, 2 / 3], [0, 2 / 3]], atol=1e-12)


def sparse_case():
    """13 frames, annotated at 0, 3, 6, 9 and 12; frames 3, 6, 9 are scored (exact, shifted, empty).
    The predictions of unannotated frames are garbage: they must never be read."""
    ground_truth = {"sparse": [SQUARE] * 13}
    predictions = [SQUARE] * 13
    predictions[6], predictions[9] = SHIFTED, blank(H, W)
    return ground_truth, {"sparse": predictions}, {"sparse": [0, 3, 6, 9, 12]}


def test_longvideos_scores_only_annotated_frames(davis_case):
    ground_truth, predictions, annotated = sparse_case()
    results, dataset = davis_case(ground_truth, predictions, annotated=annotated)
    for index in (1, 2, 4, 5, 7, 8, 10, 11):
        (results / "sparse" / f"{index:05d}.png").write_bytes(b"not a png")
    global_table, per_sequence = evaluate(results, dataset, benchmark="longvideos", workers=1)
    # 3 scored frames: J_last starts at floor(0.75 * 3) = 2, the last scored frame (J = 0). RMem's
    # fork would start at floor(0.75 * 5), counting the first and last annotated frames.
    expected = expected_square_row()
    expected.update(dict(zip(J_LAST, [0.0, 0.0, 0.0])))
    assert list(global_table.columns) == DAVIS_GLOBAL + J_LAST
    assert row(global_table) == pytest.approx(expected, abs=1e-12)
    assert list(per_sequence.columns) == ["Sequence", "J-Mean", "F-Mean", "J_last-Mean"]
    assert per_sequence.iloc[0, 1:].tolist() == pytest.approx([mean(SQUARE_J), mean(SQUARE_F), 0.0], abs=1e-12)


def test_sparse_annotations_are_an_error_in_davis2017(davis_case, capsys):
    ground_truth, predictions, annotated = sparse_case()
    results, dataset = davis_case(ground_truth, predictions, annotated=annotated)
    argv = ["--benchmark", "davis2017", "--results_path", str(results), "--davis_path", str(dataset)]
    assert main(argv) == 1
    error = capsys.readouterr().err.strip().splitlines()[-1]
    assert error.startswith("error: ") and "'sparse'" in error and "--benchmark longvideos" in error
    assert "8 of the 13 frames" in error
    assert not list(results.glob("*.csv"))


def test_missing_jpeg_frames_are_an_error(davis_case):
    results, dataset = davis_case(*square_case())
    for path in (dataset / "JPEGImages" / "480p" / "sq").iterdir():
        path.unlink()
    with pytest.raises(EvaluationError, match="JPEGImages/480p/sq"):
        evaluate(results, dataset, benchmark="davis2017", workers=1)


def test_predicted_id_above_the_object_count_is_an_error_and_writes_nothing(davis_case, capsys):
    ground_truth, predictions = two_object_frames(swapped=False, void_prediction=False)
    predictions["pair"][1][5, 5] = 3
    results, dataset = davis_case(ground_truth, predictions)
    argv = ["--benchmark", "davis2017", "--results_path", str(results), "--davis_path", str(dataset), "--workers", "1"]
    assert main(argv) == 1
    error = capsys.readouterr().err.strip().splitlines()[-1]
    assert error.startswith(f"error: {results / 'pair' / '00001.png'}: predicted ids [3]")
    assert not list(results.glob("*.csv"))
    # The toolkit counts a predicted 255 as an id too.
    predictions["pair"][1][5, 5] = 255
    write_davis_results(results, predictions)
    with pytest.raises(EvaluationError, match=r"predicted ids \[255\]"):
        evaluate(results, dataset, benchmark="davis2017", workers=1)


def test_parallel_davis_scoring_equals_inline(davis_case):
    ground_truth, predictions = square_case()
    more_gt, more_predictions = two_object_frames(swapped=True, void_prediction=False)
    more_gt = {name: [np.pad(f, ((0, 4), (0, 8))) for f in frames] for name, frames in more_gt.items()}
    more_predictions = {
        name: [np.pad(f, ((0, 4), (0, 8))) for f in frames] for name, frames in more_predictions.items()
    }
    results, dataset = davis_case({**ground_truth, **more_gt}, {**predictions, **more_predictions})
    inline = evaluate(results, dataset, benchmark="davis2017", workers=1)
    parallel = evaluate(results, dataset, benchmark="davis2017", workers=2)
    for inline_table, parallel_table in zip(inline, parallel):
        pd.testing.assert_frame_equal(inline_table, parallel_table, check_exact=True)


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--benchmark", "davis2017"], "needs --davis_path"),
        (["--task", "unsupervised"], "only the semi-supervised task"),
        (["--benchmark", "davis2017", "--davis_path", "x", "--metrics", "J"], "always scores J,F"),
        (["--metrics", "J,T"], "expected J or J,F"),
    ],
)
def test_usage_errors(extra, message, tmp_path, capsys):
    with pytest.raises(SystemExit) as caught:
        main(["--results_path", str(tmp_path), *extra])
    assert caught.value.code == 2
    assert message in capsys.readouterr().err


def test_vost_metrics_j_f_adds_f_and_keeps_the_default_output(toy_case):
    results, dataset = toy_case
    base = ["--results_path", str(results), "--dataset_path", str(dataset), "--workers", "1"]
    assert main(base) == 0
    assert (results / "global_results-val.csv").read_text() == TOY_GLOBAL_CSV
    assert (results / "per-sequence_results-val.csv").read_text() == TOY_PER_SEQUENCE_CSV
    assert main([*base, "--metrics", "J,F", "--re"]) == 0
    global_row = pd.read_csv(results / "global_results-val.csv").iloc[0]
    per_sequence = pd.read_csv(results / "per-sequence_results-val.csv")
    assert list(global_row.index) == DAVIS_GLOBAL + J_LAST
    assert list(per_sequence.columns) == ["Sequence", "J-Mean", "F-Mean", "J_last-Mean"]
    old_global = pd.read_csv(pd.io.common.StringIO(TOY_GLOBAL_CSV)).iloc[0]
    for column in ["J-Mean", "J-Recall", "J-Decay", *J_LAST]:
        assert global_row[column] == old_global[column]
    # F of the toy case (8x8 frames, radius 1). seqA object 1: GT rows 0-1 has boundary row 1,
    # the prediction row 0 has boundary row 0: all matched, F = 1 on odd frames. On even frames the
    # prediction adds the corner pixel (7, 7), whose boundary (6, 6), (6, 7), (7, 6) matches nothing:
    # P = 8/11, R = 1, F = 16/19. Object 2 is [1, 1, 1, 1, 0, 0, 1, 1] (missed at t = 5, 6; absent
    # and not predicted at t = 7, 8). seqB is exact (the predicted id 3 is no object): 1.
    a = 16 / 19
    f_a1 = [1, a, 1, a, 1, a, 1, a]
    f_a2 = [1, 1, 1, 1, 0, 0, 1, 1]
    f_mean = (mean(f_a1) + mean(f_a2) + 1) / 3
    f_recall = (1 + 6 / 8 + 1) / 3
    # 8 values: Decay bins [0:3] and [5:8].
    f_decay = ((mean(f_a1[0:3]) - mean(f_a1[5:8])) + (mean(f_a2[0:3]) - mean(f_a2[5:8])) + 0) / 3
    j_mean = ((4 * 0.5 + 4 * 8 / 17) / 8 + 0.75 + 1) / 3
    assert [global_row[c] for c in ["J&F-Mean", "F-Mean", "F-Recall", "F-Decay"]] == pytest.approx(
        [(j_mean + f_mean) / 2, f_mean, f_recall, f_decay], abs=5e-7
    )
    assert per_sequence["F-Mean"].tolist() == pytest.approx([mean(f_a1), 0.75, 1.0], abs=5e-7)
    # Back to the default without --re: the saved tables are of other metrics, so they are recomputed.
    assert main(base) == 0
    assert (results / "global_results-val.csv").read_text() == TOY_GLOBAL_CSV
