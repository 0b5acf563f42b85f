"""The synthetic VOST-layout generator: layout, palette, ids, state changes, determinism, safety, CLI."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image
from scipy import ndimage

from aot_plus.data.synthetic import generate_dataset, main
from aot_plus.errors import ConfigError, RunError

VIDEOS, FRAMES, SEED, HEIGHT, WIDTH = 4, 16, 3, 72, 96
# Videos 0..3 cycle through these state changes, so a 4-video set holds a split, a cut and a recolor.
EXPECTED_NAMES = ["0000_split", "0001_cut", "0002_recolor", "0003_split_cut"]
# First DAVIS colours, typed from the DAVIS 2017 palette.
DAVIS_HEAD = [(0, 0, 0), (128, 0, 0), (0, 128, 0), (128, 128, 0), (0, 0, 128), (128, 0, 128), (0, 128, 128)]


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("synth") / "SynthVOST"
    return generate_dataset(out, videos=VIDEOS, frames=FRAMES, seed=SEED, height=HEIGHT, width=WIDTH)


def read_labels(root: Path, video: str) -> list[np.ndarray]:
    return [np.array(Image.open(p)) for p in sorted((root / "Annotations" / video).iterdir())]


def read_images(root: Path, video: str) -> list[np.ndarray]:
    return [cv2.imread(str(p)) for p in sorted((root / "JPEGImages" / video).iterdir())]


def file_bytes(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_layout_and_split_files(root: Path) -> None:
    assert sorted(p.name for p in root.iterdir()) == ["Annotations", "ImageSets", "JPEGImages", "JPEGImages_10fps"]
    train = (root / "ImageSets" / "train.txt").read_text().splitlines()
    val = (root / "ImageSets" / "val.txt").read_text().splitlines()
    assert train and val and not set(train) & set(val)
    assert sorted(train + val) == EXPECTED_NAMES
    every = [f"frame{t:04d}" for t in range(FRAMES)]
    even = every[::2]
    for folder in ("JPEGImages_10fps", "JPEGImages", "Annotations"):
        assert sorted(p.name for p in (root / folder).iterdir()) == EXPECTED_NAMES
    for video in EXPECTED_NAMES:
        assert [p.name for p in sorted((root / "JPEGImages_10fps" / video).iterdir())] == [f"{n}.jpg" for n in every]
        assert [p.name for p in sorted((root / "JPEGImages" / video).iterdir())] == [f"{n}.jpg" for n in even]
        assert [p.name for p in sorted((root / "Annotations" / video).iterdir())] == [f"{n}.png" for n in even]
        for name in even:
            sparse = (root / "JPEGImages" / video / f"{name}.jpg").read_bytes()
            assert sparse == (root / "JPEGImages_10fps" / video / f"{name}.jpg").read_bytes()
        assert all(image.shape == (HEIGHT, WIDTH, 3) for image in read_images(root, video))
        assert all(labels.shape == (HEIGHT, WIDTH) for labels in read_labels(root, video))


def test_annotations_are_palette_pngs_with_the_davis_palette(root: Path) -> None:
    for path in sorted((root / "Annotations").rglob("*.png")):
        with Image.open(path) as image:
            assert image.mode == "P"
            palette = np.array(image.getpalette()).reshape(-1, 3)
        assert [tuple(c) for c in palette[: len(DAVIS_HEAD)]] == DAVIS_HEAD
        assert tuple(palette[255]) == (255, 255, 255)


def test_first_frame_defines_every_object(root: Path) -> None:
    for video in EXPECTED_NAMES:
        labels = read_labels(root, video)
        first_ids = set(np.unique(labels[0]).tolist()) - {0}
        assert first_ids == set(range(1, len(first_ids) + 1)) and 1 <= len(first_ids) <= 3
        for later in labels[1:]:
            assert set(np.unique(later).tolist()) <= first_ids | {0, 255}


def test_objects_stay_visible(root: Path) -> None:
    least = 0.005 * HEIGHT * WIDTH
    for video in EXPECTED_NAMES:
        labels = read_labels(root, video)
        ids = set(np.unique(labels[0]).tolist()) - {0}
        for frame in labels:
            assert min(int((frame == i).sum()) for i in ids) >= least, video


def test_ignore_regions_are_rare_small_and_in_the_second_half(root: Path) -> None:
    ignored_frames = 0
    for video in EXPECTED_NAMES:
        for t, frame in enumerate(read_labels(root, video)):
            ignored = int((frame == 255).sum())
            if ignored:
                ignored_frames += 1
                assert 2 * t >= FRAMES // 2, f"{video} frame {2 * t}"
                assert ignored <= 0.2 * np.count_nonzero(frame), f"{video} frame {2 * t}"
    assert ignored_frames >= 2  # one video with a split and one with a cut


def test_split_object_falls_into_pieces_with_its_id(root: Path) -> None:
    labels = read_labels(root, "0000_split")
    ids = set(np.unique(labels[0]).tolist()) - {0}
    pieces = [max(ndimage.label(frame == i)[1] for i in ids) for frame in labels]
    assert max(pieces[len(pieces) // 2 :]) >= 2
    assert pieces[0] == 1


def test_recolored_object_changes_colour(root: Path) -> None:
    def colour_changes(video: str) -> list[float]:
        labels, images = read_labels(root, video), read_images(root, video)
        changes = []
        for i in set(np.unique(labels[0]).tolist()) - {0}:
            first = ndimage.binary_erosion(labels[0] == i, iterations=2)
            last = ndimage.binary_erosion(labels[-1] == i, iterations=2)
            changes.append(float(np.linalg.norm(images[0][first].mean(0) - images[-1][last].mean(0))))
        return changes

    assert max(colour_changes("0002_recolor")) > 80
    assert max(colour_changes("0000_split")) < 40


def test_masks_lie_on_the_drawn_objects(root: Path) -> None:
    """Objects are saturated and the background is not: the masks explain that split best unshifted."""
    for video in EXPECTED_NAMES:
        errors = {shift: 0 for shift in [(0, 0), (1, 0), (-1, 0), (0, 1), (0, -1)]}
        for labels, image in zip(read_labels(root, video), read_images(root, video)):
            saturated = cv2.cvtColor(image, cv2.COLOR_BGR2HSV)[..., 1] > 0.35 * 255
            for shift in errors:
                moved = np.roll(labels, shift, axis=(0, 1))
                errors[shift] += int(((moved > 0) != saturated)[moved != 255].sum())
        unshifted = errors.pop((0, 0))
        assert unshifted < min(errors.values()), (video, unshifted, errors)


def test_same_seed_gives_identical_files_and_another_seed_differs(root: Path, tmp_path: Path) -> None:
    again = generate_dataset(tmp_path / "again", videos=VIDEOS, frames=FRAMES, seed=SEED, height=HEIGHT, width=WIDTH)
    assert file_bytes(again) == file_bytes(root)
    other = generate_dataset(
        tmp_path / "other", videos=VIDEOS, frames=FRAMES, seed=SEED + 1, height=HEIGHT, width=WIDTH
    )
    for video in EXPECTED_NAMES:
        for name in ("JPEGImages_10fps/{}/frame0000.jpg", "Annotations/{}/frame0000.png"):
            assert (other / name.format(video)).read_bytes() != (root / name.format(video)).read_bytes()


def test_a_video_does_not_depend_on_how_many_are_made(root: Path, tmp_path: Path) -> None:
    alone = generate_dataset(tmp_path / "alone", videos=1, frames=FRAMES, seed=SEED, height=HEIGHT, width=WIDTH)
    assert (alone / "ImageSets" / "train.txt").read_text() == "0000_split\n"
    assert (alone / "ImageSets" / "val.txt").read_text() == ""
    for folder in ("JPEGImages_10fps", "Annotations"):
        mine = {k: v for k, v in file_bytes(alone).items() if k.startswith(folder)}
        assert mine == {k: v for k, v in file_bytes(root).items() if k.startswith(f"{folder}/0000_split/")}


def test_refuses_a_non_empty_folder_and_replaces_only_a_dataset(tmp_path: Path) -> None:
    small = dict(videos=2, frames=4, height=32, width=32)
    foreign = tmp_path / "mine"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("keep me")
    for overwrite in (False, True):
        with pytest.raises(RunError, match="mine"):
            generate_dataset(foreign, overwrite=overwrite, **small)
    assert (foreign / "notes.txt").read_text() == "keep me"

    target = tmp_path / "set"
    target.mkdir()
    generate_dataset(target, seed=0, **small)  # an empty folder is fine
    before = file_bytes(target)
    with pytest.raises(RunError, match="set"):
        generate_dataset(target, seed=1, **small)
    assert file_bytes(target) == before
    generate_dataset(target, seed=1, overwrite=True, **small)
    assert file_bytes(target) != before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mine", "set"]  # no temp folders left


def test_a_failed_run_leaves_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from aot_plus.data import synthetic

    def broken(*args: object) -> None:
        raise RuntimeError("disk full")

    monkeypatch.setattr(synthetic, "_write_video", broken)
    with pytest.raises(RuntimeError, match="disk full"):
        generate_dataset(tmp_path / "set", videos=2, frames=4, height=32, width=32)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("argument", "value"),
    [("videos", 0), ("frames", 3), ("height", 31), ("width", 16), ("seed", -1), ("val_fraction", 1.0)],
)
def test_bad_arguments_are_refused(tmp_path: Path, argument: str, value: float) -> None:
    with pytest.raises(ConfigError, match=argument):
        generate_dataset(tmp_path / "set", **{argument: value})
    assert not (tmp_path / "set").exists()


def test_command_line(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    out = tmp_path / "cli"
    command = [
        sys.executable,
        "-m",
        "aot_plus.data.synthetic",
        "--out",
        str(out),
        "--videos",
        "2",
        "--frames",
        "6",
        "--seed",
        "5",
        "--height",
        "40",
        "--width",
        "56",
    ]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    assert str(out) in done.stdout and "1 in ImageSets/train.txt, 1 in ImageSets/val.txt" in done.stdout
    assert len(list((out / "JPEGImages_10fps").rglob("*.jpg"))) == 12
    assert len(list((out / "Annotations").rglob("*.png"))) == 6
    assert cv2.imread(str(out / "JPEGImages" / "0000_split" / "frame0000.jpg")).shape == (40, 56, 3)

    assert main(command[3:]) == 2  # in-process: the same entry point, without a second interpreter
    message = capsys.readouterr().err
    assert message.startswith("error: ") and message.count("\n") == 1
    assert str(out) in message and "--overwrite" in message


def test_default_set(tmp_path: Path) -> None:
    start = time.perf_counter()
    out = generate_dataset(tmp_path / "default")
    seconds = time.perf_counter() - start
    print(f"default synthetic set (8 videos x 40 frames, 120x160) written in {seconds:.2f} s (target: well under 10 s)")
    assert len(list((out / "JPEGImages_10fps").rglob("*.jpg"))) == 8 * 40
    assert len(list((out / "Annotations").rglob("*.png"))) == 8 * 20
    assert len((out / "ImageSets" / "val.txt").read_text().splitlines()) == 2
