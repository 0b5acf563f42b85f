"""Tiny VOST-layout datasets and prediction folders, built from id maps, for the evaluation tests."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from evaluation.palette import save_index_png

Frames = Sequence[np.ndarray]


def frame_name(index: int) -> str:
    """File stem of the index-th frame, VOST style."""
    return f"{index * 5:05d}"


def write_frames(folder: Path, frames: Frames) -> None:
    """Save id maps as palette PNGs named by ``frame_name``."""
    folder.mkdir(parents=True, exist_ok=True)
    for index, frame in enumerate(frames):
        save_index_png(folder / f"{frame_name(index)}.png", frame)


def write_dataset(root: Path, ground_truth: Mapping[str, Frames], split: str = "val") -> Path:
    """A VOST-layout dataset: Annotations/<seq>/*.png and ImageSets/<split>.txt in dict order."""
    for name, frames in ground_truth.items():
        write_frames(root / "Annotations" / name, frames)
    (root / "ImageSets").mkdir(parents=True, exist_ok=True)
    (root / "ImageSets" / f"{split}.txt").write_text("".join(f"{name}\n" for name in ground_truth))
    return root


def write_results(root: Path, predictions: Mapping[str, Frames]) -> Path:
    """A results folder with one subfolder of predicted frames per sequence."""
    for name, frames in predictions.items():
        write_frames(root / name, frames)
    return root


def blank(height: int = 4, width: int = 4) -> np.ndarray:
    """An all-background id map."""
    return np.zeros((height, width), dtype=np.uint8)


def toy_frames() -> tuple[dict[str, list[np.ndarray]], dict[str, list[np.ndarray]]]:
    """The RMEM_SPEC §9.12 toy case, as (ground truth, predictions) per sequence.

    seqA: 8x8, 10 annotated frames. Object 1 is rows 0-1 (16 px); the prediction is row 0 (8 px),
    so J = 8/16 on odd frames; on even frames the GT void pixel (7, 7) is also predicted as object 1,
    so J = 8/17. Object 2 is row 4 until it leaves at t >= 7; it is predicted exactly up to t = 4
    and not at all afterwards, so over the scored frames t = 1..8 its J is [1, 1, 1, 1, 0, 0, 1, 1].
    seqB: 6 frames, one object predicted exactly, plus an extra predicted id 3 on odd frames.
    """
    gt_a, predicted_a = [], []
    for t in range(10):
        gt = blank(8, 8)
        gt[0:2] = 1
        if t < 7:
            gt[4] = 2
        gt[7, 7] = 255
        predicted = blank(8, 8)
        predicted[0] = 1
        if t <= 4:
            predicted[4] = 2
        if t % 2 == 0:
            predicted[7, 7] = 1
        gt_a.append(gt)
        predicted_a.append(predicted)
    # The first and last frames are not scored: make them wrong so that scoring them would show.
    predicted_a[0] = blank(8, 8)
    predicted_a[9] = np.full((8, 8), 2, dtype=np.uint8)
    gt_b, predicted_b = [], []
    for t in range(6):
        gt = blank(8, 8)
        gt[2:5, 2:5] = 1
        predicted = gt.copy()
        if t % 2:
            predicted[6, 0:3] = 3
        gt_b.append(gt)
        predicted_b.append(predicted)
    return {"seqA": gt_a, "seqB": gt_b}, {"seqA": predicted_a, "seqB": predicted_b}


def davis_frame_name(index: int) -> str:
    """File stem of the index-th frame, DAVIS style."""
    return f"{index:05d}"


def write_davis_dataset(
    root: Path,
    ground_truth: Mapping[str, Frames],
    year: str = "2017",
    annotated: Mapping[str, Sequence[int]] | None = None,
    resolution: str = "480p",
) -> Path:
    """A DAVIS-layout dataset: an empty ``JPEGImages/<res>/<seq>/<frame>.jpg`` for every frame (only the
    names are read), ``Annotations/<res>/<seq>/<frame>.png`` for the frames listed in ``annotated``
    (default: all) and ``ImageSets/<year>/val.txt`` in dict order."""
    for name, frames in ground_truth.items():
        images = root / "JPEGImages" / resolution / name
        masks = root / "Annotations" / resolution / name
        images.mkdir(parents=True, exist_ok=True)
        masks.mkdir(parents=True, exist_ok=True)
        keep = set(range(len(frames)) if annotated is None or name not in annotated else annotated[name])
        for index, frame in enumerate(frames):
            (images / f"{davis_frame_name(index)}.jpg").touch()
            if index in keep:
                save_index_png(masks / f"{davis_frame_name(index)}.png", frame)
    (root / "ImageSets" / year).mkdir(parents=True, exist_ok=True)
    (root / "ImageSets" / year / "val.txt").write_text("".join(f"{name}\n" for name in ground_truth))
    return root


def write_davis_results(root: Path, predictions: Mapping[str, Frames]) -> Path:
    """A results folder with DAVIS frame names, one subfolder per sequence."""
    for name, frames in predictions.items():
        (root / name).mkdir(parents=True, exist_ok=True)
        for index, frame in enumerate(frames):
            save_index_png(root / name / f"{davis_frame_name(index)}.png", frame)
    return root


def rectangle(height: int, width: int, rows: tuple[int, int], cols: tuple[int, int], label: int = 1) -> np.ndarray:
    """An id map with ``label`` on rows[0]..rows[1]-1 x cols[0]..cols[1]-1 (half-open ranges)."""
    frame = blank(height, width)
    frame[rows[0] : rows[1], cols[0] : cols[1]] = label
    return frame
