"""Checks on what the data files say: sequence names from the split lists, PNG signatures, and binary
0/255 predictions, which the VOST protocol reads as background."""

import logging
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from evaluation import EvaluationError, evaluate
from evaluation.mask_io import read_id_mask
from evaluation.palette import save_index_png
from tests.evaluation.cases import (
    blank,
    rectangle,
    write_dataset,
    write_davis_dataset,
    write_davis_results,
    write_frames,
    write_results,
)

BAD_NAMES = ["../outside", "/etc", "a/b", "a\\b", ".hidden", "..", ".", "x..y"]
SQUARE = rectangle(8, 8, (2, 5), (2, 5))


def split_case(tmp_path: Path, benchmark: str) -> tuple[Path, Path, Path]:
    """(results, dataset, split list) of one good sequence ``good`` for ``benchmark``."""
    frames = {"good": [SQUARE] * 3}
    if benchmark == "vost":
        dataset = write_dataset(tmp_path / "dataset", frames)
        return write_results(tmp_path / "results", frames), dataset, dataset / "ImageSets" / "val.txt"
    year = "2016" if benchmark == "davis2016" else "2017"
    dataset = write_davis_dataset(tmp_path / "DAVIS", frames, year=year)
    results = write_davis_results(tmp_path / "results", frames)
    return results, dataset, dataset / "ImageSets" / year / "val.txt"


@pytest.mark.parametrize("benchmark", ["vost", "davis2017", "davis2016", "longvideos"])
@pytest.mark.parametrize("name", BAD_NAMES)
def test_sequence_names_must_be_plain_folder_names(tmp_path, benchmark, name):
    results, dataset, split_list = split_case(tmp_path, benchmark)
    split_list.write_text(f"good\n\n{name}\n")
    with pytest.raises(EvaluationError) as caught:
        evaluate(results, dataset, benchmark=benchmark, workers=1)
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith(f"{split_list}: line 3: ")
    assert repr(name) in message


def test_a_name_outside_the_dataset_is_never_read(tmp_path):
    # Without the check, ../outside reads <dataset>/outside as annotations and scores it.
    results, dataset, split_list = split_case(tmp_path, "vost")
    write_frames(dataset / "outside", [SQUARE] * 3)  # <dataset>/Annotations/../outside
    write_frames(tmp_path / "outside", [SQUARE] * 3)  # <results>/../outside
    split_list.write_text("good\n../outside\n")
    with pytest.raises(EvaluationError, match="line 2"):
        evaluate(results, dataset, workers=1)


def test_names_with_dots_dashes_and_spaces_inside_are_fine(tmp_path):
    frames = {"bike-packing": [SQUARE] * 3, "555_tear_foil.v2": [SQUARE] * 3, "two words": [SQUARE] * 3}
    dataset = write_dataset(tmp_path / "dataset", frames)
    results = write_results(tmp_path / "results", frames)
    _, per_sequence = evaluate(results, dataset, workers=1)
    assert per_sequence["Sequence"].tolist() == ["bike-packing_1", "555_tear_foil.v2_1", "two words_1"]


def toy_results_and_dataset(tmp_path: Path) -> tuple[Path, Path]:
    frames = {"seq": [SQUARE] * 5}
    return write_results(tmp_path / "results", frames), write_dataset(tmp_path / "dataset", frames)


def test_a_jpeg_renamed_png_is_an_error(tmp_path):
    results, dataset = toy_results_and_dataset(tmp_path)
    path = results / "seq" / "00010.png"
    # A grey JPEG of the ids: Pillow would decode it to (nearly) the right ids and score it.
    Image.fromarray(SQUARE, mode="L").save(path, format="JPEG", quality=100)
    with pytest.raises(EvaluationError) as caught:
        evaluate(results, dataset, workers=1)
    assert str(caught.value) == f"{path}: not a PNG file (JPEG data)"


@pytest.mark.parametrize(
    "content, reason",
    [(b"", "empty file"), (b"GIF89a" + bytes(40), "no PNG signature"), (b"\x89PNG\r\n", "no PNG signature")],
)
def test_other_data_without_the_png_signature(tmp_path, content, reason):
    path = tmp_path / "mask.png"
    path.write_bytes(content)
    with pytest.raises(EvaluationError) as caught:
        read_id_mask(path)
    assert str(caught.value) == f"{path}: not a PNG file ({reason})"


def test_a_jpeg_annotation_is_an_error_too(tmp_path):
    results, dataset = toy_results_and_dataset(tmp_path)
    path = dataset / "Annotations" / "seq" / "00005.png"
    Image.fromarray(SQUARE, mode="L").save(path, format="JPEG")
    with pytest.raises(EvaluationError, match="not a PNG file"):
        evaluate(results, dataset, workers=1)


def binary_case(tmp_path: Path, value: int = 255) -> tuple[Path, Path]:
    """Two objects in the ground truth; every prediction is a 0/``value`` mask of both together."""
    gt = SQUARE.copy()
    gt[6, :] = 2
    predicted = np.where(gt > 0, value, 0).astype(np.uint8)
    results = write_results(tmp_path / "results", {"bin": [predicted] * 5, "ok": [gt] * 3})
    return results, write_dataset(tmp_path / "dataset", {"bin": [gt] * 5, "ok": [gt] * 3})


@pytest.mark.parametrize("workers", [1, 2])
def test_binary_0_255_predictions_are_warned_about_once_per_sequence(tmp_path, caplog, workers):
    results, dataset = binary_case(tmp_path)
    with caplog.at_level(logging.WARNING, logger="evaluation"):
        _, per_sequence = evaluate(results, dataset, workers=workers)
    assert per_sequence["J-Mean"].tolist() == [0.0, 0.0, 1.0, 1.0]  # 255 is background: bin scores 0
    binary = [message for message in caplog.messages if "0 and 255" in message]
    assert len(binary) == 1, caplog.messages
    assert binary[0].startswith(f"{results / 'bin'}: ") and "\n" not in binary[0]
    assert "[1, 2]" in binary[0]


def test_no_binary_warning_for_ids_empty_masks_or_davis2016(tmp_path, caplog):
    results, dataset = binary_case(tmp_path, value=1)
    with caplog.at_level(logging.WARNING, logger="evaluation"):
        evaluate(results, dataset, workers=1)
    for path in (results / "bin").iterdir():  # all background: an empty prediction, not a binary mask
        save_index_png(path, blank(8, 8))
    with caplog.at_level(logging.WARNING, logger="evaluation"):
        evaluate(results, dataset, workers=1)
    assert not [message for message in caplog.messages if "0 and 255" in message]
    gt = SQUARE.copy()
    davis = write_davis_dataset(tmp_path / "DAVIS", {"bin": [gt] * 3}, year="2016")
    davis_results = write_davis_results(tmp_path / "davis_results", {"bin": [gt * 255] * 3})
    with caplog.at_level(logging.WARNING, logger="evaluation"):
        _, per_sequence = evaluate(davis_results, davis, benchmark="davis2016", workers=1)
    assert per_sequence["J-Mean"].tolist() == [1.0]  # DAVIS 2016 reads any id above 0 as the object
    assert not [message for message in caplog.messages if "0 and 255" in message]
