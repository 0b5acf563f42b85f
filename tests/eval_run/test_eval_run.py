"""End-to-end runs of ``eval_vost.sh`` / ``python -m aot_plus.eval`` on a tiny synthetic dataset, on CPU."""

from __future__ import annotations

import json
import logging
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
import yaml
from PIL import Image

from aot_plus import InferenceSession, build_model
from aot_plus.data.io import read_frames, read_mask
from aot_plus.eval import main
from evaluation.palette import DAVIS_PALETTE, save_index_png

from .helpers import (
    FRAMES,
    HEIGHT,
    MODEL,
    REPO_ROOT,
    WIDTH,
    error_line,
    png_files,
    read_ids,
    run_wrapper,
    single_thread_env,
)

HEADLINE = re.compile(r"^J_tr / J = (\d+\.\d) / (\d+\.\d)  \(J_last-Mean (\S+), J-Mean (\S+)\)$", re.M)


def frame_stems(dataset: Path, sequence: str) -> list[str]:
    return sorted(p.stem for p in (dataset / "JPEGImages_10fps" / sequence).glob("*.jpg"))


def test_wrapper_writes_official_outputs(fresh_run, dataset, val_sequences):
    for sequence in val_sequences:
        stems = frame_stems(dataset, sequence)
        assert len(stems) == FRAMES
        written = png_files(fresh_run.out, sequence)
        assert [p.stem for p in written] == stems
        assert [p.name for p in (fresh_run.out / sequence).glob(".*")] == [".finished.json"], "temporaries left"
        gt_first = dataset / "Annotations" / sequence / f"{stems[0]}.png"
        assert written[0].read_bytes() == gt_first.read_bytes()
        allowed = set(np.unique(read_ids(gt_first)).tolist()) | {0}
        for path in written[1:]:
            with Image.open(path) as image:
                assert image.mode == "P"
                assert image.size == (WIDTH, HEIGHT)
                assert image.getpalette()[:768] == DAVIS_PALETTE.reshape(-1).tolist()
                assert set(np.unique(np.array(image)).tolist()) <= allowed


def test_wrapper_logs_speed_memory_and_progress(fresh_run, val_sequences):
    out = fresh_run.process.stdout
    for sequence in val_sequences:
        line = re.search(
            rf"^{sequence}: {FRAMES} frames, long-term gap 5, ([\d.]+) FPS \(([\d.]+) end to end\), "
            r"peak process RSS [\d.]+ GiB$",
            out,
            re.M,
        )
        assert line and float(line[2]) <= float(line[1])  # the wall clock also counts reading and writing
    assert f"segmented 2 sequence(s), {2 * FRAMES} frames" in out
    assert "Segmenting" in fresh_run.process.stderr and f"{2 * FRAMES}/{2 * FRAMES}" in fresh_run.process.stderr


def test_wrapper_scores_and_prints_j_tr_and_j(fresh_run):
    table = pd.read_csv(fresh_run.out / "global_results-val.csv")
    assert (fresh_run.out / "per-sequence_results-val.csv").is_file()
    headlines = HEADLINE.findall(fresh_run.process.stdout)
    assert len(headlines) == 1
    j_tr_pct, j_pct, j_tr, j = headlines[0]
    assert float(j_tr) == pytest.approx(table["J_last-Mean"][0], abs=5e-7)
    assert float(j) == pytest.approx(table["J-Mean"][0], abs=5e-7)
    assert (j_tr_pct, j_pct) == (f"{100 * float(j_tr):.1f}", f"{100 * float(j):.1f}")


def test_memory_log_has_every_frame_with_the_gap_rule(fresh_run, dataset, val_sequences):
    log = json.loads(fresh_run.memory_log.read_text())
    assert (log["model"], log["memory"]["policy"]) == (MODEL, "restricted")
    assert sorted(log["sequences"]) == val_sequences
    for sequence in val_sequences:
        entry = log["sequences"][sequence]
        assert entry["long_term_gap"] == 5  # max(round(8 / 30), 5)
        assert [f["frame"] for f in entry["frames"]] == frame_stems(dataset, sequence)
        assert [f["memory"] for f in entry["frames"]] == [[0]] * 5 + [[0, 5]] * 3


def test_wrapper_resumes_an_interrupted_run(fresh_run, dataset, checkpoint, val_sequences, tmp_path, one_thread):
    out = tmp_path / "results"
    shutil.copytree(fresh_run.out, out)
    broken, intact = val_sequences
    png_files(out, broken)[-1].unlink()  # killed before the last frame was written
    stale = out / broken / f".frame{FRAMES - 1:04d}.4242.tmp.png"
    stale.write_bytes(b"half a PNG")
    intact_mtimes = {p: p.stat().st_mtime_ns for p in png_files(out, intact)}

    process = run_wrapper([], MODEL=MODEL, CKPT=str(checkpoint), DATA_ROOT=str(dataset), OUT_DIR=str(out), GPUS="0")
    assert process.returncode == 0, process.stderr
    assert "skipping 1 finished sequence(s)" in process.stdout
    assert re.search(rf"^{broken}: {FRAMES} frames", process.stdout, re.M)
    assert not re.search(rf"^{intact}:", process.stdout, re.M)
    assert {p: p.stat().st_mtime_ns for p in png_files(out, intact)} == intact_mtimes
    assert not stale.exists()
    for sequence in val_sequences:
        assert [p.read_bytes() for p in png_files(out, sequence)] == [
            p.read_bytes() for p in png_files(fresh_run.out, sequence)
        ]
    assert HEADLINE.findall(process.stdout) == HEADLINE.findall(fresh_run.process.stdout)

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
                "--overwrite",
                "--no-score",
            ]
        )
        == 0
    )
    for path, mtime in intact_mtimes.items():
        assert path.stat().st_mtime_ns > mtime
        assert path.read_bytes() == (fresh_run.out / intact / path.name).read_bytes()


def test_random_init_warns_and_uses_the_seed_0_weights(fresh_run, dataset, val_sequences, tmp_path, one_thread, caplog):
    caplog.set_level(logging.INFO)
    sequence = val_sequences[0]
    out = tmp_path / "results"
    assert (
        main(
            [
                "--model",
                MODEL,
                "--random-init",
                "--data-root",
                str(dataset),
                "--out",
                str(out),
                "--device",
                "cpu",
                "--sequences",
                sequence,
            ]
        )
        == 0
    )
    assert "RANDOM weights" in caplog.text
    assert "not scoring: --sequences selects part of the split" in caplog.text
    assert sorted(p.name for p in out.iterdir()) == [".lock", sequence, "config.yaml"]
    record = yaml.safe_load((out / "config.yaml").read_text())
    assert record["settings"]["weights_sha256"] == "random" and record["provenance"]["weights"] == "random"
    assert [p.read_bytes() for p in png_files(out, sequence)] == [
        p.read_bytes() for p in png_files(fresh_run.out, sequence)
    ]


def test_wrapper_passes_test_time_augmentation_and_names_its_default_folder(
    dataset, val_sequences, tmp_path, one_thread
):
    # A copy of the repository's entry points, so that the default folder lands in tmp_path/results.
    root = tmp_path / "repo"
    root.mkdir()
    shutil.copy(REPO_ROOT / "eval_vost.sh", root)
    for name in ("aot_plus", "evaluation", "configs", ".venv"):
        (root / name).symlink_to(REPO_ROOT / name)
    sequence = val_sequences[0]
    process = subprocess.run(
        ["bash", str(root / "eval_vost.sh"), "--flip", "--ms", "1.0", "0.75", "--sequences", sequence],
        env=single_thread_env(MODEL=MODEL, CKPT="random", DATA_ROOT=str(dataset), GPUS="0"),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert process.returncode == 0, process.stderr
    out = root / "results" / f"{MODEL}_restricted_random" / "val_flip_ms1-0.75"
    inference = yaml.safe_load((out / "config.yaml").read_text())["settings"]["inference"]
    assert inference["flip"] is True and inference["scales"] == [1.0, 0.75]

    # The same views driven through the session directly, with the weights --random-init draws.
    torch.manual_seed(0)
    model = build_model(MODEL)
    session = InferenceSession(model, long_term_gap=5, scales=(1.0, 0.75), flip=True)
    frames = sorted((dataset / "JPEGImages_10fps" / sequence).glob("*.jpg"))
    first_mask = read_mask(dataset / "Annotations" / sequence / frames[0].with_suffix(".png").name)
    images = list(read_frames(frames))
    expected = [first_mask] + [session.to_ids(step.label) for step in _steps(session, images, first_mask)]
    written = png_files(out, sequence)
    assert [p.stem for p in written] == [f.stem for f in frames]
    for path, ids in zip(written, expected):
        assert np.array_equal(read_ids(path), ids), path.name


def _steps(session: InferenceSession, images: list[np.ndarray], mask: np.ndarray):
    session.add_reference(images[0], mask)
    return [session.step(image) for image in images[1:]]


def test_torchrun_splits_the_sequences_across_two_cpu_processes(
    fresh_run, dataset, checkpoint, val_sequences, tmp_path
):
    out, memory_log = tmp_path / "results", tmp_path / "memory.json"
    command = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        "--nproc_per_node",
        "2",
        "-m",
        "aot_plus.eval",
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
        "--memory-log",
        str(memory_log),
    ]
    process = subprocess.run(command, env=single_thread_env(), capture_output=True, text=True, timeout=300)
    assert process.returncode == 0, process.stderr
    for rank, sequence in enumerate(val_sequences):
        assert re.search(rf"^\[rank {rank}\] {sequence}: {FRAMES} frames", process.stdout, re.M)
        assert [p.read_bytes() for p in png_files(out, sequence)] == [
            p.read_bytes() for p in png_files(fresh_run.out, sequence)
        ]
    assert json.loads(memory_log.read_text()) == json.loads(fresh_run.memory_log.read_text())
    assert HEADLINE.findall(process.stdout) == HEADLINE.findall(fresh_run.process.stdout)


# ------------------------------------------------------------------------------------- bad input
def eval_args(dataset: Path, out: Path, *extra: str) -> list[str]:
    return [
        "--model",
        MODEL,
        "--random-init",
        "--data-root",
        str(dataset),
        "--out",
        str(out),
        "--device",
        "cpu",
        *extra,
    ]


def test_missing_dataset_names_the_download(tmp_path, capsys):
    assert main(eval_args(tmp_path / "VOST", tmp_path / "results")) == 2
    line = error_line(capsys)
    assert line.startswith(
        f"error: {tmp_path / 'VOST'}: dataset folder not found; download VOST from https://www.vostdataset.org/"
    )
    assert not (tmp_path / "results").exists()


def test_missing_split_list_is_named(dataset_copy, tmp_path, capsys):
    (dataset_copy / "ImageSets" / "val.txt").unlink()
    assert main(eval_args(dataset_copy, tmp_path / "results")) == 2
    listing = dataset_copy / "ImageSets" / "val.txt"
    assert error_line(capsys) == f"error: {listing}: sequence list of split 'val' not found"


def test_missing_first_annotation_is_named(dataset_copy, val_sequences, tmp_path, capsys):
    missing = dataset_copy / "Annotations" / val_sequences[1] / "frame0000.png"
    missing.unlink()
    assert main(eval_args(dataset_copy, tmp_path / "results")) == 2
    assert error_line(capsys) == f"error: {missing}: first-frame annotation of sequence {val_sequences[1]!r} not found"
    assert not (tmp_path / "results").exists()


def test_missing_frame_folder_is_named(dataset_copy, val_sequences, tmp_path, capsys):
    folder = dataset_copy / "JPEGImages_10fps" / val_sequences[0]
    shutil.rmtree(folder)
    assert main(eval_args(dataset_copy, tmp_path / "results")) == 2
    assert error_line(capsys) == f"error: {folder}: frame folder of sequence {val_sequences[0]!r} not found"


def test_unknown_sequence_is_named(dataset, tmp_path, capsys):
    assert main(eval_args(dataset, tmp_path / "results", "--sequences", "nope")) == 2
    assert error_line(capsys) == f"error: {dataset / 'ImageSets' / 'val.txt'}: does not list nope"


def test_missing_checkpoint_names_the_released_file(dataset, tmp_path, capsys):
    path = tmp_path / "pretrain_models" / "aotplus_R50_DeAOTL_Temp_pe_Slot_4_ema_20000.pth"
    assert (
        main(
            [
                "--model",
                "r50_deaotl",
                "--ckpt",
                str(path),
                "--data-root",
                str(dataset),
                "--out",
                str(tmp_path / "results"),
                "--device",
                "cpu",
            ]
        )
        == 2
    )
    line = error_line(capsys)
    assert line.startswith(
        f"error: {path}: checkpoint not found; download aotplus_R50_DeAOTL_Temp_pe_Slot_4_ema_20000.pth"
    )
    assert "put it in pretrain_models/" in line and "--random-init" in line


def test_checkpoint_of_another_model_is_refused(dataset, checkpoint, tmp_path, capsys):
    assert (
        main(
            [
                "--model",
                "aots",
                "--ckpt",
                str(checkpoint),
                "--data-root",
                str(dataset),
                "--out",
                str(tmp_path / "results"),
                "--device",
                "cpu",
            ]
        )
        == 2
    )
    line = error_line(capsys)
    assert line.startswith(f"error: {checkpoint}: does not match AOT")
    assert "missing: " in line


def test_wrapper_explains_what_to_download(dataset, tmp_path):
    process = run_wrapper([], DATA_ROOT=str(tmp_path / "VOST"), GPUS="0")
    assert process.returncode == 2
    assert process.stderr.startswith(
        f"eval_vost.sh: dataset folder {tmp_path / 'VOST'} not found: download VOST from https://www.vostdataset.org/"
    )
    missing = tmp_path / "aotplus_R50_AOTL_Temp_pe_Slot_4_ema_20000.pth"
    process = run_wrapper([], MODEL="r50_aotl", CKPT=str(missing), DATA_ROOT=str(dataset), GPUS="0")
    assert process.returncode == 2
    assert process.stderr.startswith(
        f"eval_vost.sh: checkpoint {missing} not found: download aotplus_R50_AOTL_Temp_pe_Slot_4_ema_20000.pth"
    )
    assert "pretrain_models/" in process.stderr


def test_unknown_model_is_named(dataset, tmp_path, capsys):
    assert (
        main(
            [
                "--model",
                "r99",
                "--random-init",
                "--data-root",
                str(dataset),
                "--out",
                str(tmp_path / "results"),
                "--device",
                "cpu",
            ]
        )
        == 2
    )
    assert error_line(capsys).startswith("error: unknown model 'r99'; available: aotb, aots, aott, r50_aotl")


def test_annotation_of_another_size_is_named(dataset_copy, val_sequences, tmp_path, capsys):
    first_mask = dataset_copy / "Annotations" / val_sequences[0] / "frame0000.png"
    save_index_png(first_mask, np.zeros((HEIGHT // 2, WIDTH // 2), np.uint8))
    assert main(eval_args(dataset_copy, tmp_path / "results")) == 2
    assert error_line(capsys) == (
        f"error: {first_mask}: is {WIDTH // 2}x{HEIGHT // 2}, but the first frame frame0000.jpg is {WIDTH}x{HEIGHT}"
    )
    assert [p.name for p in (tmp_path / "results").iterdir()] == [".lock"]  # nothing written
