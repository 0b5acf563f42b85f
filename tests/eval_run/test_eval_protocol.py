"""The evaluation protocol pieces: memory-gap rule, object-id write-back, split reading, atomic writes, scoring."""

from __future__ import annotations

import json
import math
import shutil
import threading
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

import aot_plus
from aot_plus.data.io import read_image, read_mask
from aot_plus.data.vost import eval_tasks, long_term_gap, read_split
from aot_plus.eval import main
from aot_plus.inference.runner import read_video
from aot_plus.results import write_atomically
from aot_plus.scoring import score_results
from evaluation.palette import save_index_png

from .helpers import HEIGHT, MODEL, WIDTH, png_files, read_ids


@pytest.mark.parametrize(
    ("frames", "gap"),
    [(1, 5), (150, 5), (164, 5), (165, 6), (194, 6), (195, 6), (210, 7), (225, 8), (300, 10), (1000, 33)],
)
def test_long_term_gap_is_max_of_banker_rounded_n_over_30_and_5(frames, gap):
    assert long_term_gap(frames) == gap


def mask_with_ids_1_3_and_255() -> np.ndarray:
    mask = np.zeros((HEIGHT, WIDTH), np.uint8)
    mask[4:20, 4:30], mask[30:50, 40:70], mask[55:60, :10] = 1, 3, 255
    return mask


def test_first_label_ids_are_tracked_and_written_back_officially(one_thread):
    session = aot_plus.InferenceSession(aot_plus.build_model(MODEL), memory="restricted", long_term_gap=5)
    session.add_reference(np.full((HEIGHT, WIDTH, 3), 128, np.uint8), mask_with_ids_1_3_and_255())
    assert session.object_ids == [0, 1, 3, 255]
    assert session.objects.num_objects == 3
    indices = np.arange(11, dtype=np.uint8)[None]
    assert session.to_ids(indices)[0].tolist() == [0, 1, 3, 255, 0, 0, 0, 0, 0, 0, 0]


def test_the_reader_thread_stages_every_frame_after_the_first(dataset, val_sequences):
    """On a GPU the stage pins each frame (``pinned_frame``): on the reader thread, not in the frame loop."""
    task = eval_tasks(dataset, "val", val_sequences[:1])[0]
    threads = []

    def stage(frame: np.ndarray) -> torch.Tensor:
        threads.append(threading.current_thread().name)
        return torch.from_numpy(frame)

    frames, references = read_video(task, stage)
    frames = list(frames)
    assert len(frames) == len(task.frames) == 8 and list(references) == [0]
    assert isinstance(frames[0], np.ndarray) and all(isinstance(frame, torch.Tensor) for frame in frames[1:])
    for path, frame in zip(task.frames, frames):
        assert np.array_equal(np.asarray(frame), read_image(path)), path.name
    assert threads == ["frame-reader"] * 7


def relabelled_sequence(dataset: Path, sequence: str, root: Path) -> Path:
    """A one-sequence dataset whose first annotation holds the ids {0, 1, 3, 255}."""
    shutil.copytree(dataset / "JPEGImages_10fps" / sequence, root / "JPEGImages_10fps" / sequence)
    (root / "Annotations" / sequence).mkdir(parents=True)
    (root / "ImageSets").mkdir()
    (root / "ImageSets" / "val.txt").write_text(f"{sequence}\n")
    save_index_png(root / "Annotations" / sequence / "frame0000.png", mask_with_ids_1_3_and_255())
    return root


def test_eval_writes_back_ids_and_honours_the_gap_flag(dataset, val_sequences, checkpoint, tmp_path, one_thread):
    sequence = val_sequences[0]
    root = relabelled_sequence(dataset, sequence, tmp_path / "VOST")
    out, log_path = tmp_path / "results", tmp_path / "memory.json"
    assert (
        main(
            [
                "--model",
                MODEL,
                "--ckpt",
                str(checkpoint),
                "--data-root",
                str(root),
                "--out",
                str(out),
                "--device",
                "cpu",
                "--long-term-gap",
                "2",
                "--memory-log",
                str(log_path),
                "--no-score",
            ]
        )
        == 0
    )

    model = aot_plus.build_model(MODEL)
    aot_plus.load_checkpoint(model, checkpoint)
    session = aot_plus.InferenceSession(model, memory="restricted", long_term_gap=2)
    frames = sorted((root / "JPEGImages_10fps" / sequence).glob("*.jpg"))
    session.add_reference(read_image(frames[0]), read_mask(root / "Annotations" / sequence / "frame0000.png"))
    write_back = np.zeros(256, np.uint8)
    write_back[:4] = [0, 1, 3, 255]
    written = png_files(out, sequence)
    for frame, png in zip(frames[1:], written[1:]):
        expected = write_back[session.step(read_image(frame)).label]
        assert np.array_equal(read_ids(png), expected)
    assert set(np.unique(np.stack([read_ids(p) for p in written])).tolist()) <= {0, 1, 3, 255}

    frames_log = json.loads(log_path.read_text())["sequences"][sequence]
    assert frames_log["long_term_gap"] == 2
    assert [f["memory"] for f in frames_log["frames"]] == [
        [0],
        [0],
        [0, 2],
        [0, 2],
        [0, 2, 4],
        [0, 2, 4],
        [0, 2, 4, 6],
        [0, 2, 4, 6],
    ]


def test_split_is_sorted_and_deduplicated_and_frames_sorted(tmp_path):
    root = tmp_path / "VOST"
    (root / "ImageSets").mkdir(parents=True)
    (root / "ImageSets" / "val.txt").write_text("b\n a \n\nb\n")
    assert read_split(root, "val") == ["a", "b"]
    for name in ("a", "b"):
        folder = root / "JPEGImages_10fps" / name
        folder.mkdir(parents=True)
        for stem in ("00010", "00005", "00000"):
            (folder / f"{stem}.jpg").write_bytes(b"")
        (root / "Annotations" / name).mkdir(parents=True)
        (root / "Annotations" / name / "00000.png").write_bytes(b"")
    tasks = eval_tasks(root, "val", ["b"])
    assert [task.name for task in tasks] == ["b"]
    assert tasks[0].frame_names == ["00000", "00005", "00010"]
    assert tasks[0].references == {0: root / "Annotations" / "b" / "00000.png"}
    assert tasks[0].written == (0, 1, 2) and tasks[0].long_term_gap == 5


def test_failed_write_leaves_neither_file_nor_temporary(tmp_path):
    target = tmp_path / "frame0001.png"

    def crash(temporary: Path) -> None:
        temporary.write_bytes(b"partial")
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        write_atomically(target, crash)
    assert list(tmp_path.iterdir()) == []
    write_atomically(target, lambda temporary: temporary.write_bytes(b"whole"))
    assert [p.name for p in tmp_path.iterdir()] == ["frame0001.png"] and target.read_bytes() == b"whole"


def empty_prediction_j(annotations: list[Path]) -> list[tuple[float, float]]:
    """(J, J_tr) per object for all-background predictions: J is 1 exactly where the object is absent."""
    masks = [np.where(m == 255, 0, m) for m in map(read_mask, annotations)]
    scored = masks[1:-1]
    last_part = math.floor(0.75 * len(scored))
    values = []
    for k in range(1, int(masks[0].max()) + 1):
        j = [0.0 if (mask == k).any() else 1.0 for mask in scored]
        values.append((float(np.mean(j)), float(np.mean(j[last_part:]))))
    return values


def test_score_results_writes_csvs_and_reports_j_tr_and_j(dataset, val_sequences, tmp_path):
    """Sequence A predicted perfectly (J = 1 for each object), B as all background."""
    perfect, empty = val_sequences
    out = tmp_path / "results"
    shutil.copytree(dataset / "Annotations" / perfect, out / perfect)
    (out / empty).mkdir()
    for annotation in sorted((dataset / "Annotations" / empty).glob("*.png")):
        save_index_png(out / empty / annotation.name, np.zeros((HEIGHT, WIDTH), np.uint8))
    first_mask = read_mask(sorted((dataset / "Annotations" / perfect).glob("*.png"))[0])
    per_object = [(1.0, 1.0)] * int(first_mask[first_mask != 255].max())
    per_object += empty_prediction_j(sorted((dataset / "Annotations" / empty).glob("*.png")))
    expected_j = float(np.mean([j for j, _ in per_object]))
    expected_j_tr = float(np.mean([j_tr for _, j_tr in per_object]))
    assert 0 < expected_j < 1

    scores = score_results(out, dataset, "val")
    assert scores.j == pytest.approx(expected_j) and scores.j_tr == pytest.approx(expected_j_tr)
    assert scores.csv_paths == (out / "global_results-val.csv", out / "per-sequence_results-val.csv")
    assert all(path.is_file() for path in scores.csv_paths)
    assert scores.headline() == (
        f"J_tr / J = {100 * expected_j_tr:.1f} / {100 * expected_j:.1f}  "
        f"(J_last-Mean {scores.j_tr!r}, J-Mean {scores.j!r})"
    )


def test_memory_config_reaches_the_policy_and_bad_options_are_refused(
    dataset, val_sequences, checkpoint, tmp_path, one_thread, capsys
):
    config = tmp_path / "fifo.yaml"
    config.write_text(
        "include: " + str(Path(aot_plus.__file__).parents[1] / "configs/memory/fifo.yaml") + "\nrecent_frames: 2\n"
    )
    out, log_path = tmp_path / "results", tmp_path / "memory.json"
    assert (
        main(
            [
                "--model",
                MODEL,
                "--ckpt",
                str(checkpoint),
                "--data-root",
                str(dataset),
                "--out",
                str(out),
                "--device",
                "cpu",
                "--memory",
                str(config),
                "--long-term-gap",
                "1",
                "--sequences",
                val_sequences[0],
                "--memory-log",
                str(log_path),
            ]
        )
        == 0
    )
    frames_log = json.loads(log_path.read_text())["sequences"][val_sequences[0]]["frames"]
    assert [f["memory"] for f in frames_log][-1] == [0, len(frames_log) - 2, len(frames_log) - 1]
    saved = yaml.safe_load((out / "config.yaml").read_text())
    assert saved["settings"]["memory"] == {"policy": "fifo", "first_frames": 1, "recent_frames": 2}
    assert saved["settings"]["inference"]["long_term_gap"] == 1
    assert saved["provenance"]["weights"] == str(checkpoint.resolve())

    # The same through a KEY=VALUE override of the shipped fifo config.
    out_2, log_2 = tmp_path / "results_2", tmp_path / "memory_2.json"
    assert (
        main(
            [
                "--model",
                MODEL,
                "--ckpt",
                str(checkpoint),
                "--data-root",
                str(dataset),
                "--out",
                str(out_2),
                "--device",
                "cpu",
                "--memory",
                "fifo",
                "--long-term-gap",
                "1",
                "--sequences",
                val_sequences[0],
                "--memory-log",
                str(log_2),
                "memory.recent_frames=2",
            ]
        )
        == 0
    )
    assert json.loads(log_2.read_text())["sequences"] == json.loads(log_path.read_text())["sequences"]

    config.write_text("policy: fifo\nrecent_frame: 2\n")
    assert (
        main(
            [
                "--model",
                MODEL,
                "--ckpt",
                str(checkpoint),
                "--data-root",
                str(dataset),
                "--out",
                str(out),
                "--memory",
                str(config),
            ]
        )
        == 2
    )
    assert f"{config}: unknown option(s) recent_frame for memory policy 'fifo'" in capsys.readouterr().err
    assert (
        main(
            [
                "--model",
                MODEL,
                "--ckpt",
                str(checkpoint),
                "--data-root",
                str(dataset),
                "--out",
                str(out),
                "memory.recent_frames=zero",
            ]
        )
        == 2
    )
    assert "recent_frames must be an integer >= 1, got 'zero'" in capsys.readouterr().err
