"""Reading VOST-layout sequences for semi-supervised evaluation, as the official ``VOST_Test`` does.

Inference needs, per sequence listed in ``ImageSets/<split>.txt``, every frame of
``JPEGImages_10fps/<seq>/`` (sorted by name) and the annotation of the first frame,
``Annotations/<seq>/<first frame>.png``. Images are decoded with OpenCV and masks with PIL, exactly
like the official reader, so the inputs are bit-identical.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

FRAMES_FOLDER = "JPEGImages_10fps"
ANNOTATIONS_FOLDER = "Annotations"
MIN_LONG_TERM_GAP = 5
FRAMES_PER_GAP_STEP = 30


class DatasetError(ValueError):
    """A dataset that cannot be read as asked; the one-line message names the file or folder."""


@dataclass(frozen=True)
class EvalSequence:
    """One video to segment: its frames in order and the annotation of the first one."""

    name: str
    frames: tuple[Path, ...]
    first_mask: Path

    @property
    def frame_names(self) -> list[str]:
        """File stems of the frames (``frame0000``...); predictions are ``<stem>.png``."""
        return [path.stem for path in self.frames]

    def __len__(self) -> int:
        return len(self.frames)


def long_term_gap(num_frames: int) -> int:
    """The official per-sequence long-term memory gap: ``max(round(N / 30), 5)`` for N 10-fps frames.

    ``round`` is Python's (half to even), so 195 frames give 6, not 7.
    """
    return max(int(round(num_frames / FRAMES_PER_GAP_STEP)), MIN_LONG_TERM_GAP)


def read_split(root: str | Path, split: str) -> list[str]:
    """Sorted, de-duplicated sequence names of ``ImageSets/<split>.txt`` (the official ``np.unique``)."""
    root = Path(root)
    if not root.is_dir():
        raise DatasetError(f"{root}: dataset folder not found")
    list_path = root / "ImageSets" / f"{split}.txt"
    if not list_path.is_file():
        raise DatasetError(f"{list_path}: sequence list of split {split!r} not found")
    names = sorted({line.strip() for line in list_path.read_text().splitlines()} - {""})
    if not names:
        raise DatasetError(f"{list_path}: lists no sequences")
    return names


def find_sequence(root: str | Path, name: str) -> EvalSequence:
    """The frames and first annotation of one sequence, checking that both exist."""
    root = Path(root)
    frame_dir = root / FRAMES_FOLDER / name
    if not frame_dir.is_dir():
        raise DatasetError(f"{frame_dir}: frame folder of sequence {name!r} not found")
    frames = tuple(sorted((p for p in frame_dir.iterdir() if p.suffix.lower() == ".jpg" and not p.name.startswith(".")),
                          key=lambda p: p.name))
    if not frames:
        raise DatasetError(f"{frame_dir}: no .jpg frames")
    first_mask = root / ANNOTATIONS_FOLDER / name / f"{frames[0].stem}.png"
    if not first_mask.is_file():
        raise DatasetError(f"{first_mask}: first-frame annotation of sequence {name!r} not found")
    return EvalSequence(name, frames, first_mask)


def load_eval_sequences(root: str | Path, split: str, names: Sequence[str] | None = None) -> list[EvalSequence]:
    """The sequences of ``split`` in sorted order, or only ``names`` (each must be in the split)."""
    listed = read_split(root, split)
    if names is not None:
        unknown = [name for name in names if name not in listed]
        if unknown:
            raise DatasetError(f"{Path(root) / 'ImageSets' / f'{split}.txt'}: does not list {', '.join(unknown)}")
        listed = [name for name in listed if name in set(names)]
    return [find_sequence(root, name) for name in listed]


def read_image(path: str | Path) -> np.ndarray:
    """(H, W, 3) uint8 RGB, decoded by OpenCV like the official reader."""
    image = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if image is None:
        raise DatasetError(f"{path}: cannot be read as an image")
    return np.ascontiguousarray(image[:, :, ::-1])


def read_mask(path: str | Path) -> np.ndarray:
    """(H, W) uint8 object ids of an index (palette or grayscale) PNG; 255 is the ignore id."""
    try:
        with Image.open(path) as image:
            mask = np.array(image)
    except OSError as err:
        raise DatasetError(f"{path}: cannot be read as a PNG ({err})") from None
    if mask.ndim != 2 or mask.dtype != np.uint8:
        raise DatasetError(f"{path}: not an 8-bit index mask (got {mask.dtype} of shape {mask.shape}); "
                           "annotations must be palette or grayscale PNGs of object ids")
    return mask
