"""The VOST layout on disk, for evaluation and training (RMEM_SPEC §5.1-5.2)::

    JPEGImages_10fps/<seq>/<frame>.jpg   every frame at 10 fps (inference reads these)
    JPEGImages/<seq>/<frame>.jpg         the annotated frames (training reads these)
    Annotations/<seq>/<frame>.png        palette PNGs: 0 background, 1..K objects, 255 ignore
    ImageSets/<split>.txt                one sequence name per line

Evaluation, as the official ``VOST_Test``: each sequence of the split starts from the annotation of its
first 10-fps frame, every later frame is predicted and written, with the long-term gap
``max(round(N / 30), 5)``.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from ..errors import DatasetError
from .protocol import VideoTask
from .sequences import GapRule, read_sequence_list, select_names

FRAMES_FOLDER = "JPEGImages_10fps"
TRAIN_FRAMES_FOLDER = "JPEGImages"
ANNOTATIONS_FOLDER = "Annotations"
SPLITS_FOLDER = "ImageSets"
MIN_LONG_TERM_GAP = 5
FRAMES_PER_GAP_STEP = 30
WEBSITE = "https://www.vostdataset.org/"


def long_term_gap(num_frames: int) -> int:
    """The official per-sequence long-term memory gap: ``max(round(N / 30), 5)`` for N 10-fps frames.

    ``round`` is Python's (half to even), so 195 frames give 6, not 7.
    """
    return GapRule(MIN_LONG_TERM_GAP, FRAMES_PER_GAP_STEP)(num_frames)


def read_split(root: str | Path, split: str) -> list[str]:
    """Sorted, de-duplicated sequence names of ``ImageSets/<split>.txt`` (the official ``np.unique``).

    A name must be a plain folder name (`sequences.check_name`): one with a path separator, ``..`` or a
    leading ``.`` would read or write outside the dataset and results folders.
    """
    root = Path(root)
    if not root.is_dir():
        raise DatasetError(
            f"{root}: dataset folder not found; download VOST from {WEBSITE} and put it there "
            f"({FRAMES_FOLDER}/, {ANNOTATIONS_FOLDER}/, {SPLITS_FOLDER}/), or pass --data-root"
        )
    return read_sequence_list(root / SPLITS_FOLDER / f"{split}.txt", split)


# ------------------------------------------------------------------------------------------ evaluation
def eval_task(root: Path, name: str, allow_gaps: bool = False) -> VideoTask:
    """The frames and first annotation of one sequence, checking that both exist, that the frame numbers
    have no gap (unless ``allow_gaps``) and that every annotated frame has its image."""
    frame_dir = root / FRAMES_FOLDER / name
    if not frame_dir.is_dir():
        raise DatasetError(f"{frame_dir}: frame folder of sequence {name!r} not found")
    frames = tuple(
        sorted(
            (p for p in frame_dir.iterdir() if p.suffix.lower() == ".jpg" and not p.name.startswith(".")),
            key=lambda p: p.name,
        )
    )
    if not frames:
        raise DatasetError(f"{frame_dir}: no .jpg frames")
    if not allow_gaps:
        check_no_gaps(frame_dir, [frame.stem for frame in frames])
    first_mask = root / ANNOTATIONS_FOLDER / name / f"{frames[0].stem}.png"
    if not first_mask.is_file():
        raise DatasetError(f"{first_mask}: first-frame annotation of sequence {name!r} not found")
    stems = {frame.stem for frame in frames}
    for annotation in sorted((root / ANNOTATIONS_FOLDER / name).glob("*.png")):
        if annotation.stem not in stems:
            raise DatasetError(f"{annotation}: the annotated frame has no image {frame_dir / annotation.stem}.jpg")
    return VideoTask(name, frames, {0: first_mask}, tuple(range(len(frames))), long_term_gap(len(frames)))


def check_no_gaps(folder: Path, stems: Sequence[str]) -> None:
    """DatasetError if the frame numbers (``<prefix><digits>``) skip a frame: consecutive numbers must all
    differ by the sequence's usual step. Names without a common prefix and number are not checked."""
    parsed = [re.fullmatch(r"(.*?)(\d+)", stem) for stem in stems]
    if len(stems) < 3 or not all(parsed) or len({m.group(1) for m in parsed}) != 1:
        return
    numbers = [int(m.group(2)) for m in parsed]
    steps = [b - a for a, b in zip(numbers, numbers[1:])]
    usual = Counter(steps).most_common(1)[0][0]
    for (before, after), step in zip(zip(stems, stems[1:]), steps):
        if step != usual:
            raise DatasetError(
                f"{folder}: frames missing between {before} and {after} (the others are {usual} apart); "
                "restore them, or pass --allow-frame-gaps to segment the frames that exist"
            )


def eval_tasks(
    root: str | Path, split: str, names: Sequence[str] | None = None, allow_gaps: bool = False
) -> list[VideoTask]:
    """The sequences of ``split`` in sorted order, or only ``names`` (each must be in the split)."""
    root = Path(root)
    listed = select_names(read_split(root, split), names, root / SPLITS_FOLDER / f"{split}.txt")
    return [eval_task(root, name, allow_gaps) for name in listed]


def annotation_paths(root: str | Path, name: str) -> list[Path]:
    """The annotation PNGs of one sequence, sorted by name."""
    folder = Path(root) / ANNOTATIONS_FOLDER / name
    annotations = sorted(folder.glob("*.png"))
    if not annotations:
        raise DatasetError(f"{folder}: no annotation PNGs")
    return annotations


# -------------------------------------------------------------------------------------------- training
@dataclass(frozen=True)
class TrainSequence:
    """One training video: its name and its annotated frames (file stems, sorted)."""

    name: str
    image_dir: Path
    label_dir: Path
    frames: tuple[str, ...]


def train_sequences(root: str | Path, split: str) -> list[TrainSequence]:
    """The sequences of ``split``, each checked to have a JPEG and a PNG for every annotated frame."""
    root = Path(root)
    names = read_split(root, split)
    for folder in (root / TRAIN_FRAMES_FOLDER, root / ANNOTATIONS_FOLDER):
        if not folder.is_dir():
            raise DatasetError(f"{folder}: missing (expected the VOST layout under {root})")
    return [_train_sequence(root, name) for name in names]


def _train_sequence(root: Path, name: str) -> TrainSequence:
    image_dir, label_dir = root / TRAIN_FRAMES_FOLDER / name, root / ANNOTATIONS_FOLDER / name
    for folder in (image_dir, label_dir):
        if not folder.is_dir():
            raise DatasetError(f"{folder}: missing folder of sequence {name}")
    images = {path.stem for path in image_dir.glob("*.jpg")}
    labels = {path.stem for path in label_dir.glob("*.png")}
    unlabelled, unpictured = sorted(images - labels), sorted(labels - images)
    if unlabelled:
        stem = unlabelled[0]
        raise DatasetError(f"{label_dir / (stem + '.png')}: missing annotation for {image_dir / (stem + '.jpg')}")
    if unpictured:
        stem = unpictured[0]
        raise DatasetError(f"{image_dir / (stem + '.jpg')}: missing image for {label_dir / (stem + '.png')}")
    return TrainSequence(name, image_dir, label_dir, tuple(sorted(images)))
