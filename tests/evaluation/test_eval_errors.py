"""Every bad input gives one EvaluationError whose one-line message names the file."""

import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import evaluation.dataset
from evaluation import EvaluationError, evaluate
from evaluation.mask_io import read_id_mask, rgb_to_ids
from evaluation.palette import DAVIS_PALETTE, save_index_png
from tests.evaluation.cases import blank, write_dataset


def expect_error(path: Path, *args, **kwargs) -> str:
    """Run evaluate and return its error message, checking that it is one line naming ``path``."""
    with pytest.raises(EvaluationError) as caught:
        evaluate(*args, **kwargs)
    message = str(caught.value)
    assert "\n" not in message
    assert str(path) in message
    return message


def noisy_png(path: Path, size: int = 64) -> None:
    """A palette PNG of random ids, large enough that cutting it leaves image data unread."""
    save_index_png(path, np.random.default_rng(0).integers(0, 3, (size, size), dtype=np.uint8))


def test_sequence_without_prediction_folder(toy_case):
    results, dataset = toy_case
    shutil.rmtree(results / "seqB")
    assert "seqB" in expect_error(results / "seqB", results, dataset, workers=1)


def test_missing_scored_frame(toy_case):
    results, dataset = toy_case
    (results / "seqA" / "00020.png").unlink()
    expect_error(results / "seqA" / "00020.png", results, dataset, workers=1)


def test_missing_first_and_last_predictions_are_fine(toy_case):
    results, dataset = toy_case
    (results / "seqA" / "00000.png").unlink()
    (results / "seqA" / "00045.png").unlink()
    global_table, _ = evaluate(results, dataset, workers=1)
    assert global_table["J-Mean"][0] == pytest.approx(0.745098, abs=5e-7)


def test_prediction_of_another_size(toy_case):
    results, dataset = toy_case
    save_index_png(results / "seqA" / "00010.png", blank(8, 9))
    message = expect_error(results / "seqA" / "00010.png", results, dataset, workers=1)
    assert "8x9" in message and "8x8" in message


def test_annotations_of_different_sizes(toy_case):
    results, dataset = toy_case
    save_index_png(dataset / "Annotations" / "seqB" / "00010.png", blank(9, 8))
    expect_error(dataset / "Annotations" / "seqB" / "00010.png", results, dataset, workers=1)


def test_unreadable_png(toy_case):
    results, dataset = toy_case
    (results / "seqA" / "00015.png").write_bytes(b"\x89PNG\r\n\x1a\n not really")
    assert "unreadable" in expect_error(results / "seqA" / "00015.png", results, dataset, workers=1)


def test_truncated_png(tmp_path):
    gt = [np.zeros((64, 64), dtype=np.uint8) for _ in range(3)]
    gt[0][0, 0] = 1
    dataset = write_dataset(tmp_path / "dataset", {"noisy": gt})
    prediction = tmp_path / "results" / "noisy" / "00005.png"
    prediction.parent.mkdir(parents=True)
    noisy_png(prediction)
    prediction.write_bytes(prediction.read_bytes()[: prediction.stat().st_size // 2])
    expect_error(prediction, tmp_path / "results", dataset, workers=1)


def test_rgb_colour_outside_the_palette(toy_case):
    results, dataset = toy_case
    path = results / "seqA" / "00015.png"
    rgb = DAVIS_PALETTE[np.array(Image.open(path))].copy()
    rgb[3, 5] = (1, 2, 3)
    Image.fromarray(rgb).save(path)
    message = expect_error(path, results, dataset, workers=1)
    assert "(1, 2, 3)" in message and "row 3, col 5" in message


def test_unsupported_png_mode(tmp_path):
    path = tmp_path / "rgba.png"
    Image.new("RGBA", (4, 4)).save(path)
    with pytest.raises(EvaluationError, match="RGBA"):
        read_id_mask(path)


def test_palette_colours_map_back_to_their_ids():
    ids = np.arange(256, dtype=np.uint8).reshape(16, 16)
    mapped = rgb_to_ids(DAVIS_PALETTE[ids], Path("unused.png"))
    expected = ids.copy()
    expected[ids == 128] = 7  # (128, 128, 128) is both id 7 and grey 128: the lower id wins
    np.testing.assert_array_equal(mapped, expected)


def test_a_failing_worker_stops_the_parallel_run(toy_case):
    results, dataset = toy_case
    broken = results / "seqB" / "00010.png"
    broken.write_bytes(b"garbage")
    expect_error(broken, results, dataset, workers=2)


def test_missing_dataset_parts(toy_case, tmp_path):
    results, dataset = toy_case
    expect_error(dataset / "ImageSets" / "test.txt", results, dataset, split="test", workers=1)
    expect_error(tmp_path / "nowhere", results, tmp_path / "nowhere", workers=1)
    expect_error(tmp_path / "no_results", tmp_path / "no_results", dataset, workers=1)
    (dataset / "ImageSets" / "val.txt").write_text("seqA\nghost\n")
    expect_error(dataset / "Annotations" / "ghost", results, dataset, workers=1)


def test_too_few_annotated_frames(toy_case):
    results, dataset = toy_case
    for name in ("00010.png", "00015.png", "00020.png", "00025.png"):
        (dataset / "Annotations" / "seqB" / name).unlink()
    message = expect_error(dataset / "Annotations" / "seqB", results, dataset, workers=1)
    assert "2 annotated frame" in message


def test_dataset_keys_resolve_under_the_repository_root(toy_case, tmp_path, monkeypatch):
    results, dataset = toy_case
    monkeypatch.setattr(evaluation.dataset, "REPOSITORY_ROOT", tmp_path)
    message = expect_error(tmp_path / "datasets" / "VOST", results, "vost", workers=1)
    assert "'vost'" in message
    assert "'vots'" in expect_error("vots", results, "vots", workers=1)
    (tmp_path / "datasets").mkdir()
    dataset.rename(tmp_path / "datasets" / "VOST")
    global_table, _ = evaluate(results, "vost", workers=1)
    assert global_table["J-Mean"][0] == pytest.approx(0.745098, abs=5e-7)


def test_bad_worker_count(toy_case):
    results, dataset = toy_case
    with pytest.raises(EvaluationError, match="at least 1"):
        evaluate(results, dataset, workers=0)
