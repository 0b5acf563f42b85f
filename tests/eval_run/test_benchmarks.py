"""``python -m aot_plus.eval --dataset NAME`` end to end on each benchmark's synthetic layout with the tiny
random-init AOT-T: the frames written (names, ids, later objects from their frame on), the archive for
the servers, the local scores, and the one-line errors of bad input."""

from __future__ import annotations

import json
import logging
import shutil
import zipfile
from pathlib import Path

import numpy as np
import pytest
import yaml

from aot_plus.data.synthetic_layouts import generate_layout
from aot_plus.eval import main

from .helpers import HEIGHT, MODEL, WIDTH, read_ids

SETS = {
    "davis2017": {"videos": 4, "frames": 5},
    "youtubevos": {"videos": 2, "frames": 9, "step": 2},
    "longvideos": {"videos": 2, "frames": 9, "step": 2},
    "lvos": {"videos": 2, "frames": 9, "step": 2},
}
LATE_VIDEO, LATE_ID, LATE_FRAME = "0000_split", 2, 4
"""Video 0 of the YouTube-VOS and LVOS layouts: its object 2 appears on frame 4."""


@pytest.fixture(scope="module")
def roots(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    base = tmp_path_factory.mktemp("benchmarks")
    made = {
        layout: generate_layout(layout, base / layout, seed=0, height=HEIGHT, width=WIDTH, **options)
        for layout, options in SETS.items()
    }
    made["lvos_first_frame"] = generate_layout(
        "lvos", base / "lvos_first_frame", seed=0, height=HEIGHT, width=WIDTH, late_objects=False, **SETS["lvos"]
    )
    ytb = base / "YTB"  # the official <root>/<year>/valid layout
    shutil.copytree(made["youtubevos"], ytb / "2019")
    shutil.copytree(made["youtubevos"] / "valid", ytb / "2018" / "valid")  # no valid_all_frames
    made["YTB"] = ytb
    return made


def run_eval(dataset: str, root: Path, out: Path, *extra: str) -> int:
    args = ["--model", MODEL, "--random-init", "--device", "cpu", "--dataset", dataset]
    return main([*args, "--data-root", str(root), "--out", str(out), "--score-workers", "1", *extra])


def pngs(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.glob("*.png"))


def test_davis2017_val_writes_every_frame_and_scores_jf(roots, tmp_path, one_thread, capsys):
    root, out = roots["davis2017"], tmp_path / "out"
    assert run_eval("davis2017", root, out) == 0
    assert "J&F / J / F = " in capsys.readouterr().out
    for name in ("0001_cut", "0002_recolor"):
        assert pngs(out / name) == [f"{t:05d}.png" for t in range(5)]
        first = root / "Annotations" / "480p" / name / "00000.png"
        assert (out / name / "00000.png").read_bytes() == first.read_bytes()  # the official copy
    assert (out / "global_results-val.csv").is_file()
    settings = yaml.safe_load((out / "config.yaml").read_text())["settings"]
    assert settings["dataset"] == {"name": "davis2017", "resolution": "480p", "single_object": False}
    assert settings["inference"]["max_size"] == 1040.0


def test_davis2017_full_resolution_and_test_dev(roots, tmp_path, one_thread, caplog):
    root = roots["davis2017"]
    assert run_eval("davis2017", root, tmp_path / "full", "--resolution", "Full-Resolution") == 0
    assert read_ids(tmp_path / "full" / "0001_cut" / "00003.png").shape == (2 * HEIGHT, 2 * WIDTH)
    assert (tmp_path / "full" / "global_results-val.csv").is_file()
    with caplog.at_level(logging.INFO):
        assert run_eval("davis2017", root, tmp_path / "dev", "--split", "test", "--zip") == 0
    assert pngs(tmp_path / "dev" / "0003_split_cut") == [f"{t:05d}.png" for t in range(5)]
    assert not list((tmp_path / "dev").glob("*.csv"))
    assert "davis2017 test-dev is scored by its server" in caplog.text
    with zipfile.ZipFile(tmp_path / "dev" / "davis2017_test-dev.zip") as archive:
        assert archive.namelist() == [f"0003_split_cut/{t:05d}.png" for t in range(5)]


def test_davis2016_is_single_object(roots, tmp_path, one_thread, capsys):
    out = tmp_path / "out"
    assert run_eval("davis2016", roots["davis2017"], out) == 0
    assert "davis2016" in capsys.readouterr().out
    for name in ("0001_cut", "0002_recolor"):
        assert all(set(np.unique(read_ids(out / name / png)).tolist()) <= {0, 1} for png in pngs(out / name))
        first = read_ids(roots["davis2017"] / "Annotations" / "480p" / name / "00000.png")
        assert np.array_equal(read_ids(out / name / "00000.png"), (first > 0).astype(np.uint8))


def check_late_object(folder: Path, written: list[int], digits: int, reference: Path) -> None:
    """The late object is in no output before its frame, and its mask is pasted on that frame."""
    for t in written:
        ids = read_ids(folder / f"{t:0{digits}d}.png")
        if t < LATE_FRAME:
            assert LATE_ID not in ids
    given = read_ids(reference) == LATE_ID
    assert given.any() and (read_ids(folder / f"{LATE_FRAME:0{digits}d}.png")[given] == LATE_ID).all()


def test_youtubevos_writes_the_server_frames_and_zips_them(roots, tmp_path, one_thread, caplog):
    root, out, log = roots["YTB"], tmp_path / "out", tmp_path / "memory.json"
    with caplog.at_level(logging.INFO):
        assert run_eval("youtubevos2019", root, out, "--zip", "--memory-log", str(log)) == 0
    assert "youtubevos2019 valid is scored by its server" in caplog.text
    frames = json.loads(log.read_text())["sequences"]
    assert len(frames[LATE_VIDEO]["frames"]) == 9  # valid_all_frames read whole ...
    annotations = out / "Annotations"
    sparse = [f"{t:05d}.png" for t in range(0, 9, 2)]
    for video in (LATE_VIDEO, "0001_cut"):
        assert pngs(annotations / video) == sparse  # ... but only the server's frames written
    label_dir = root / "2019" / "valid" / "Annotations" / LATE_VIDEO
    assert (annotations / LATE_VIDEO / "00000.png").read_bytes() == (label_dir / "00000.png").read_bytes()
    check_late_object(annotations / LATE_VIDEO, list(range(0, 9, 2)), 5, label_dir / "00004.png")
    with zipfile.ZipFile(out / "youtubevos2019_valid.zip") as archive:
        names = archive.namelist()
        assert names == sorted(f"Annotations/{v}/{f}" for v in (LATE_VIDEO, "0001_cut") for f in sparse)
        assert (
            archive.read(f"Annotations/{LATE_VIDEO}/00004.png") == (annotations / LATE_VIDEO / "00004.png").read_bytes()
        )


def test_youtubevos_without_all_frames_reads_the_valid_frames(roots, tmp_path, one_thread):
    out, log = tmp_path / "out", tmp_path / "memory.json"
    assert run_eval("youtubevos2018", roots["YTB"], out, "--memory-log", str(log)) == 0
    sequences = json.loads(log.read_text())["sequences"]
    assert [entry["frame"] for entry in sequences[LATE_VIDEO]["frames"]] == [f"{t:05d}" for t in range(0, 9, 2)]
    assert sequences[LATE_VIDEO]["long_term_gap"] == 5
    label = roots["YTB"] / "2018" / "valid" / "Annotations" / LATE_VIDEO / "00004.png"
    check_late_object(out / "Annotations" / LATE_VIDEO, list(range(0, 9, 2)), 5, label)


def test_mose_without_meta_writes_every_frame(roots, tmp_path, one_thread):
    root = tmp_path / "MOSE"
    shutil.copytree(roots["youtubevos"] / "valid", root / "valid")
    (root / "valid" / "meta.json").unlink()
    assert run_eval("mose", root, tmp_path / "out") == 0
    assert pngs(tmp_path / "out" / "Annotations" / "0001_cut") == [f"{t:05d}.png" for t in range(0, 9, 2)]


def test_long_videos_write_every_frame_single_object_and_score_j_last(roots, tmp_path, one_thread, capsys):
    out = tmp_path / "out"
    assert run_eval("longvideos", roots["longvideos"], out) == 0
    assert "J_last = " in capsys.readouterr().out
    for name in ("0000_split", "0001_cut"):
        assert pngs(out / name) == [f"{t:05d}.png" for t in range(9)]
        assert all(set(np.unique(read_ids(out / name / png)).tolist()) <= {0, 1} for png in pngs(out / name))


def test_lvos_adds_later_objects_and_scores_when_all_start_on_frame_one(roots, tmp_path, one_thread, caplog, capsys):
    out = tmp_path / "out"
    with caplog.at_level(logging.INFO):
        assert run_eval("lvos", roots["lvos"], out) == 0
    assert "score with the LVOS toolkit" in caplog.text and not list(out.glob("*.csv"))
    folder = out / LATE_VIDEO
    assert pngs(folder) == [f"{t:08d}.png" for t in range(9)]
    reference = roots["lvos"] / "valid" / "valid" / "Annotations" / LATE_VIDEO / f"{LATE_FRAME:08d}.png"
    check_late_object(folder, list(range(9)), 8, reference)
    assert run_eval("lvos", roots["lvos_first_frame"], tmp_path / "scored") == 0
    assert "(longvideos: J&F-Mean" in capsys.readouterr().out
    assert (tmp_path / "scored" / "global_results-valid.csv").is_file()


@pytest.mark.parametrize(
    ("dataset", "layout", "damage", "message"),
    [
        ("youtubevos2019", "YTB", "2019/valid/meta.json", "meta.json: meta file (it lists each video's objects"),
        ("lvos", "lvos", "valid/valid/valid_meta.json", "valid_meta.json: meta file (it lists"),
        ("davis2017", "davis2017", None, "sequence list of split 'nope' not found"),
        ("lvos", "lvos", None, "--resolution 480p: for --dataset lvos it is not an option"),
    ],
)
def test_bad_inputs_end_in_one_error_line(roots, tmp_path, capsys, dataset, layout, damage, message):
    root = Path(shutil.copytree(roots[layout], tmp_path / "data"))
    extra = ["--split", "nope"] if dataset == "davis2017" else []
    if damage:
        (root / damage).unlink()
    elif dataset == "lvos":
        extra = ["--resolution", "480p"]
    assert run_eval(dataset, root, tmp_path / "out", *extra) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: ") and message in err[0]
