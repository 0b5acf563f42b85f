"""Your own videos: a video file read frame by frame with OpenCV, or a folder of jpg/png frames in natural
order, and object masks in the usual PNG forms (the inputs of ``aot_plus.demo``)."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from io import BytesIO
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from PIL import Image

from evaluation import EvaluationError
from evaluation.mask_io import rgb_to_ids

from ..errors import DatasetError
from .io import check_complete, check_size, read_image

VIDEO_SUFFIXES = (".mp4", ".avi", ".mov", ".webm", ".mkv", ".m4v")
INDEXED_CONTAINERS = (".mp4", ".avi", ".mov", ".m4v")
"""Containers that store their frame count; elsewhere OpenCV's count is an estimate from the duration."""
FRAME_SUFFIXES = (".jpg", ".jpeg", ".png")
FOLDER_FPS = 10.0
"""Frame rate of a folder of frames (VOST's 10-fps frames), and of a video that reports none."""


# ---------------------------------------------------------------------------------------------- frames
@dataclass(frozen=True)
class VideoFrame:
    number: int
    """0-based position in the whole video."""
    stem: str
    """Name of the frame's outputs: the file stem in a folder, the zero-padded number in a video file."""
    image: np.ndarray
    """(H, W, 3) uint8 RGB."""


def natural_key(name: str) -> list[Any]:
    """Sort key putting ``frame2`` before ``frame10``: digit runs compare as numbers."""
    return [int(part) if part.isdigit() else part.lower() for part in re.split(r"(\d+)", name)]


class VideoFile:
    """A video file read with OpenCV, one frame at a time."""

    def __init__(self, path: Path):
        self.path = path
        self.name = path.stem
        capture = cv2.VideoCapture(str(path))
        try:
            if not capture.isOpened():
                raise DatasetError(f"{path}: cannot be opened as a video (not a video file, truncated or corrupt?)")
            fps = capture.get(cv2.CAP_PROP_FPS)
            count = int(capture.get(cv2.CAP_PROP_FRAME_COUNT))
        finally:
            capture.release()
        self.fps = fps if fps > 0 and np.isfinite(fps) else FOLDER_FPS
        self.count = count if count > 0 else None
        """Frames the file reports (None: unknown)."""
        self.exact_count = self.count is not None and path.suffix.lower() in INDEXED_CONTAINERS

    def stem(self, number: int) -> str:
        return f"{number:05d}"

    def frames(self, start: int, end: int | None, stride: int) -> Iterator[VideoFrame]:
        """Frames ``start``, ``start + stride``, ... before ``end``; the others are grabbed, not decoded."""
        capture = cv2.VideoCapture(str(self.path))
        number = 0
        try:
            while end is None or number < end:
                if not capture.grab():
                    break
                if number >= start and (number - start) % stride == 0:
                    ok, bgr = capture.retrieve()
                    if not ok or bgr is None:
                        raise DatasetError(f"{self.path}: frame {number} cannot be decoded (corrupt video?)")
                    yield VideoFrame(number, self.stem(number), np.ascontiguousarray(bgr[:, :, ::-1]))
                number += 1
        finally:
            capture.release()
        if number == 0:
            raise DatasetError(f"{self.path}: holds no frames that OpenCV can read")
        expected = self.count if end is None or self.count is None else min(end, self.count)
        if self.exact_count and number < expected:
            raise DatasetError(
                f"{self.path}: frame {number} cannot be read, but the file reports {self.count} frames "
                "(truncated or corrupt video)"
            )


class FrameFolder:
    """A folder of jpg/png frames in natural order."""

    def __init__(self, path: Path):
        self.path = path
        self.name = path.name
        try:
            files = [
                p
                for p in path.iterdir()
                if p.suffix.lower() in FRAME_SUFFIXES and not p.name.startswith(".") and p.is_file()
            ]
        except OSError as err:
            raise DatasetError(f"{path}: cannot be read ({err.strerror or err})") from None
        if not files:
            raise DatasetError(f"{path}: holds no .jpg or .png frames")
        self.files = sorted(files, key=lambda p: natural_key(p.name))
        repeated = next((stem for stem, n in Counter(p.stem for p in self.files).items() if n > 1), None)
        if repeated is not None:
            raise DatasetError(f"{path}: two frames are named {repeated} (their masks would share a file)")
        self.fps = FOLDER_FPS
        self.count = len(self.files)
        self.exact_count = True

    def stem(self, number: int) -> str:
        return self.files[number].stem

    def frames(self, start: int, end: int | None, stride: int) -> Iterator[VideoFrame]:
        first = None
        for number in range(start, min(end or self.count, self.count), stride):
            path = self.files[number]
            image = read_image(path)
            if first is None:
                first = (path, image.shape)
            check_size(path, image.shape, first[1], f"the first frame {first[0].name}")
            yield VideoFrame(number, path.stem, image)


def open_video(path: Path) -> VideoFile | FrameFolder:
    """The frames of ``path``: a folder of frames, or a video file."""
    if path.is_dir():
        return FrameFolder(path)
    if not path.is_file():
        raise DatasetError(f"{path}: no such video file or frame folder")
    if path.suffix.lower() not in VIDEO_SUFFIXES:
        raise DatasetError(f"{path}: not a video ({', '.join(VIDEO_SUFFIXES)}) or a folder of jpg/png frames")
    return VideoFile(path)


def segmented_count(video: VideoFile | FrameFolder, start: int, end: int | None, stride: int) -> int | None:
    """How many frames ``--start/--end/--stride`` select (None when the video's length is unknown)."""
    if video.count is None:
        return None
    return len(range(start, min(end or video.count, video.count), stride))


# ----------------------------------------------------------------------------------------------- masks
def read_object_mask(path: Path) -> np.ndarray:
    """(H, W) uint8 object ids of a mask PNG: palette or single-channel ids, RGB in the DAVIS colours or
    grey, and a black-and-white mask (only 0 and 255) as the one object 1 rather than an ignore region."""
    try:
        data = path.read_bytes()
    except OSError as err:
        raise DatasetError(f"{path}: mask cannot be read ({err.strerror or err})") from None
    check_complete(path, data)
    try:
        with Image.open(BytesIO(data)) as image:
            mode, pixels = image.mode, np.array(image)
    except (OSError, SyntaxError, ValueError) as err:
        raise DatasetError(f"{path}: cannot be read as an image ({err})") from None
    if mode in ("RGB", "RGBA", "LA"):
        pixels = pixels[..., 0] if mode == "LA" else pixels[..., :3]
        if pixels.ndim == 3 and (pixels == pixels[..., :1]).all():
            pixels = pixels[..., 0]
        elif pixels.ndim == 3:
            try:
                pixels = rgb_to_ids(pixels, path)
            except EvaluationError as err:
                raise DatasetError(f"{err} (a colour mask must use the DAVIS colours)") from None
    if pixels.ndim != 2 or pixels.size == 0 or pixels.dtype.kind not in "biu":
        raise DatasetError(f"{path}: not a mask of object ids (PNG mode {mode}, shape {pixels.shape})")
    if pixels.min() < 0 or pixels.max() > 255:
        raise DatasetError(f"{path}: ids up to {int(pixels.max())}; object ids must be 1..254")
    mask = pixels.astype(np.uint8)
    values = np.unique(mask)
    if 255 in values and set(values.tolist()) <= {0, 255}:
        mask = (mask == 255).astype(np.uint8)  # a binary mask: white is the object, not "ignore"
    if not mask.any():
        raise DatasetError(f"{path}: holds no object (every pixel is 0, the background)")
    return mask
