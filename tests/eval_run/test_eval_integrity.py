"""Results that know what made them, and bad input or faults answered with one line (aot_plus.eval)."""

from __future__ import annotations

import errno
import logging
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

import aot_plus
from aot_plus.data.io import read_image
from aot_plus.eval import main
from aot_plus.results import RECORD_FILE, folder_lock
from evaluation.palette import save_index_png

from .helpers import MODEL, error_line, png_files, read_ids


def eval_args(dataset: Path, out: Path, checkpoint: Path, *extra: str) -> list[str]:
    return [
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
        "--no-score",
        *extra,
    ]


@pytest.fixture(scope="module")
def other_checkpoint(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("other") / "aott_seed1.pth"
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(1)
        aot_plus.save_checkpoint(aot_plus.build_model(MODEL), path)
    return path


# ------------------------------------------------------------------------------------ provenance
def test_copied_ground_truth_is_never_scored_as_a_result(
    dataset, val_sequences, checkpoint, tmp_path, capsys, one_thread
):
    out = tmp_path / "results"
    for sequence in val_sequences:
        shutil.copytree(dataset / "Annotations" / sequence, out / sequence)
    assert main(eval_args(dataset, out, checkpoint)) == 2
    assert error_line(capsys) == (
        f"error: {out}: holds predictions with no record of the run that made them "
        "(config.yaml); choose another --out or pass --overwrite to replace them"
    )
    assert main(eval_args(dataset, out, checkpoint, "--overwrite")) == 0
    for sequence in val_sequences:  # every frame is the model's now, not the ground truth
        predicted = [path.read_bytes() for path in png_files(out, sequence)[1:]]
        copied = [
            (dataset / "Annotations" / sequence / path.name).read_bytes()
            for path in png_files(out, sequence)[1:]
            if (dataset / "Annotations" / sequence / path.name).is_file()
        ]
        assert not set(predicted) & set(copied)


def test_another_checkpoint_into_the_same_folder_is_refused(
    dataset, checkpoint, other_checkpoint, tmp_path, capsys, one_thread
):
    out = tmp_path / "results"
    assert main(eval_args(dataset, out, checkpoint)) == 0
    record = yaml.safe_load((out / "config.yaml").read_text())
    assert record["settings"]["weights_sha256"] == aot_plus.results.sha256_of(checkpoint)
    assert record["settings"]["memory"]["policy"] == "restricted" and record["settings"]["split"] == "val"
    assert record["provenance"]["weights"] == str(checkpoint.resolve())
    assert record["provenance"]["code"].startswith("0.1.0")
    before = {p: p.read_bytes() for p in out.rglob("*.png")}

    assert main(eval_args(dataset, out, other_checkpoint)) == 2
    line = error_line(capsys)
    assert line.startswith(f"error: {out}: holds results made with other settings (weights_sha256: ")
    assert line.endswith("; choose another --out or pass --overwrite to replace them")
    assert main(eval_args(dataset, out, checkpoint, "inference.precision=bf16")) == 2
    assert "inference.precision: 'fp32' -> 'bf16'" in error_line(capsys)
    assert {p: p.read_bytes() for p in out.rglob("*.png")} == before

    assert main(eval_args(dataset, out, other_checkpoint, "--overwrite")) == 0
    assert {p: p.read_bytes() for p in out.rglob("*.png")} != before
    assert yaml.safe_load((out / "config.yaml").read_text())["settings"][
        "weights_sha256"
    ] == aot_plus.results.sha256_of(other_checkpoint)


def test_a_sequence_is_finished_only_while_its_record_matches_the_files(
    dataset, val_sequences, checkpoint, tmp_path, caplog, one_thread
):
    out = tmp_path / "results"
    assert main(eval_args(dataset, out, checkpoint)) == 0
    changed, intact = val_sequences
    assert (out / changed / RECORD_FILE).is_file()
    edited = png_files(out, changed)[3]
    good = edited.read_bytes()
    save_index_png(edited, np.ones_like(read_ids(edited)))  # edited by hand
    intact_mtimes = {p: p.stat().st_mtime_ns for p in png_files(out, intact)}
    caplog.set_level(logging.INFO)
    caplog.clear()
    assert main(eval_args(dataset, out, checkpoint)) == 0
    assert "skipping 1 finished sequence(s)" in caplog.text
    assert edited.read_bytes() == good
    assert {p: p.stat().st_mtime_ns for p in png_files(out, intact)} == intact_mtimes


def test_default_results_folder_depends_on_the_checkpoint(
    dataset, checkpoint, other_checkpoint, tmp_path, monkeypatch, one_thread
):
    monkeypatch.chdir(tmp_path)
    base = ["--model", MODEL, "--data-root", str(dataset), "--device", "cpu", "--no-score", "--sequences"]
    sequence = (dataset / "ImageSets" / "val.txt").read_text().split()[0]
    assert main([*base, sequence, "--ckpt", str(checkpoint)]) == 0
    assert main([*base, sequence, "--ckpt", str(other_checkpoint)]) == 0
    assert sorted(p.name for p in (tmp_path / "results").iterdir()) == [
        "aott_restricted_aott_random",
        "aott_restricted_aott_seed1",
    ]


# -------------------------------------------------------------------------------- paths and frames
@pytest.mark.parametrize("name", ["../escape", "/etc", ".hidden", "a/b"])
def test_sequence_names_that_leave_the_folders_are_refused(dataset_copy, checkpoint, tmp_path, capsys, name):
    listing = dataset_copy / "ImageSets" / "val.txt"
    listing.write_text(listing.read_text() + f"{name}\n")
    assert main(eval_args(dataset_copy, tmp_path / "results", checkpoint)) == 2
    assert error_line(capsys) == (
        f"error: {listing}: line 3: {name!r} is not a sequence folder name (no path separators, no leading '.')"
    )
    assert not (tmp_path / "results").exists() and not (tmp_path / "escape").exists()


def test_a_truncated_frame_in_the_middle_is_named(
    dataset_copy, val_sequences, checkpoint, tmp_path, capsys, one_thread
):
    frame = sorted((dataset_copy / "JPEGImages_10fps" / val_sequences[0]).glob("*.jpg"))[4]
    frame.write_bytes(frame.read_bytes()[: frame.stat().st_size // 2])
    assert main(eval_args(dataset_copy, tmp_path / "results", checkpoint)) == 2
    assert error_line(capsys).startswith(f"error: {frame}: truncated JPEG file (no end marker;")
    assert not (tmp_path / "results" / val_sequences[0] / RECORD_FILE).exists()


def test_a_missing_frame_is_a_gap_not_a_shifted_schedule(
    dataset_copy, val_sequences, checkpoint, tmp_path, capsys, one_thread
):
    folder = dataset_copy / "JPEGImages_10fps" / val_sequences[0]
    (folder / "frame0003.jpg").unlink()
    assert main(eval_args(dataset_copy, tmp_path / "results", checkpoint)) == 2
    assert error_line(capsys) == (
        f"error: {folder}: frames missing between frame0002 and frame0004 (the others are "
        "1 apart); restore them, or pass --allow-frame-gaps to segment the frames that exist"
    )
    assert main(eval_args(dataset_copy, tmp_path / "results", checkpoint, "--allow-frame-gaps")) == 0
    assert len(png_files(tmp_path / "results", val_sequences[0])) == 7


def test_an_annotated_frame_without_its_image_names_the_image(
    dataset_copy, val_sequences, checkpoint, tmp_path, capsys
):
    folder = dataset_copy / "JPEGImages_10fps" / val_sequences[1]
    last = sorted(folder.glob("*.jpg"))[-2]  # frame 6, annotated; removing the last two keeps numbering gapless
    for path in sorted(folder.glob("*.jpg"))[-2:]:
        path.unlink()
    annotation = dataset_copy / "Annotations" / val_sequences[1] / f"{last.stem}.png"
    assert main(eval_args(dataset_copy, tmp_path / "results", checkpoint)) == 2
    assert error_line(capsys) == f"error: {annotation}: the annotated frame has no image {last}"


def test_complete_frames_decode_exactly_as_opencv(dataset):
    import cv2

    for path in sorted((dataset / "JPEGImages_10fps").rglob("*.jpg")):
        assert np.array_equal(read_image(path), cv2.imread(str(path))[:, :, ::-1])


# ------------------------------------------------------------------------------------- faults
def test_malformed_memory_yaml_is_one_line(dataset, checkpoint, tmp_path, capsys):
    config = tmp_path / "broken.yaml"
    config.write_text("policy: restricted\nrecent_frames: [4\n")
    assert main(eval_args(dataset, tmp_path / "results", checkpoint, "--memory", str(config))) == 2
    assert error_line(capsys).startswith(f"error: {config.resolve()}: line 3 not valid YAML")


def test_an_unwritable_results_folder_is_one_line(dataset, checkpoint, tmp_path, capsys, monkeypatch):
    blocker = tmp_path / "a_file"
    blocker.write_text("")
    assert main(eval_args(dataset, blocker / "results", checkpoint)) == 2
    assert error_line(capsys) == f"error: {blocker / 'results'}: the results folder cannot be written (Not a directory)"

    def read_only(self, *args, **kwargs):
        raise OSError(errno.EROFS, "Read-only file system", str(self))

    monkeypatch.setattr(Path, "mkdir", read_only)  # root ignores permission bits: a read-only disk instead
    assert main(eval_args(dataset, tmp_path / "results", checkpoint)) == 2
    assert error_line(capsys) == (
        f"error: {tmp_path / 'results'}: the results folder cannot be written (Read-only file system)"
    )


def test_a_full_disk_keeps_finished_sequences_and_says_so(
    dataset, val_sequences, checkpoint, tmp_path, capsys, monkeypatch, one_thread
):
    out = tmp_path / "results"
    written = []
    real_save = aot_plus.results.save_index_png

    def save_until_full(path, ids):
        if val_sequences[1] in str(path) and len([p for p in written if val_sequences[1] in p]) >= 3:
            raise OSError(errno.ENOSPC, "No space left on device", str(path))
        written.append(str(path))
        real_save(path, ids)

    monkeypatch.setattr(aot_plus.results, "save_index_png", save_until_full)
    assert main(eval_args(dataset, out, checkpoint)) == 2
    line = error_line(capsys)
    assert line.startswith(f"error: {out / val_sequences[1]}/") and line.endswith(
        ": cannot be written (No space left on device)"
    )
    assert (out / val_sequences[0] / RECORD_FILE).is_file()
    assert not (out / val_sequences[1] / RECORD_FILE).exists()
    assert not [p for p in out.rglob(".*.tmp.png")]

    monkeypatch.setattr(aot_plus.results, "save_index_png", real_save)
    assert main(eval_args(dataset, out, checkpoint)) == 0
    assert (out / val_sequences[1] / RECORD_FILE).is_file()


def test_a_second_writer_into_the_folder_is_refused(dataset, checkpoint, tmp_path, capsys):
    out = tmp_path / "results"
    with folder_lock(out):
        assert main(eval_args(dataset, out, checkpoint)) == 2
    assert error_line(capsys) == (
        f"error: {out}: another run (pid {__import__('os').getpid()}) is writing into "
        "this results folder; wait for it to finish or choose another --out"
    )
    assert not png_files(out, (dataset / "ImageSets" / "val.txt").read_text().split()[0])


def test_the_code_version_of_a_source_tree_without_the_installed_package(monkeypatch):
    from importlib import metadata

    from aot_plus import results

    version, installed = metadata.version("rmem"), results.code_version()
    assert installed.startswith(version)

    def not_installed(name: str) -> str:
        raise metadata.PackageNotFoundError(name)

    monkeypatch.setattr(results.metadata, "version", not_installed)
    uninstalled = results.code_version()
    assert uninstalled.startswith("uninstalled")
    assert uninstalled.removeprefix("uninstalled") == installed.removeprefix(version)  # the same commit part
