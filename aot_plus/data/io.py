"""Reading frames and masks: the one image reader and the one mask reader of every dataset layout.

Images are decoded with OpenCV and masks with PIL, as the official readers do, so inputs are bit-identical.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

from ..errors import DatasetError

JPEG_START, JPEG_END = b"\xff\xd8\xff", b"\xff\xd9"
PNG_START, PNG_END = b"\x89PNG\r\n\x1a\n", b"IEND"
TRAILER_BYTES = 32
"""Encoders may pad a file after its end marker: the marker must lie within this many final bytes."""


def check_complete(path: Path, data: bytes) -> None:
    """DatasetError unless a JPEG or PNG file ends with its end marker (OpenCV only warns, without the
    file name, about a truncated JPEG, and decodes the rest as grey)."""
    for start, end, kind in ((JPEG_START, JPEG_END, "JPEG"), (PNG_START, PNG_END, "PNG")):
        if data.startswith(start) and end not in data[-TRAILER_BYTES:]:
            raise DatasetError(f"{path}: truncated {kind} file (no end marker; {len(data)} bytes)")


def read_image(path: str | Path) -> np.ndarray:
    """(H, W, 3) uint8 RGB of a complete image file, decoded by OpenCV as ``cv2.imread`` does."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as err:
        raise DatasetError(f"{path}: cannot be read ({err.strerror or err})") from None
    check_complete(path, data)
    image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR) if data else None
    if image is None or image.size == 0:
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
        raise DatasetError(
            f"{path}: not an 8-bit index mask (got {mask.dtype} of shape {mask.shape}); "
            "annotations must be palette or grayscale PNGs of object ids"
        )
    return mask


def read_frames(paths: Iterable[Path]) -> Iterator[np.ndarray]:
    """The images of a video in order, each checked to have the size of the first."""
    first: tuple[Path, tuple[int, int]] | None = None
    for path in paths:
        image = read_image(path)
        if first is None:
            first = (path, image.shape[:2])
        elif image.shape[:2] != first[1]:
            check_size(path, image.shape, first[1], f"the first frame {first[0].name}")
        yield image


def check_size(path: Path, size: tuple[int, ...], expected: tuple[int, ...], what: str) -> None:
    """DatasetError naming ``path`` unless its (H, W) equals ``expected``'s."""
    if tuple(size[:2]) != tuple(expected[:2]):
        raise DatasetError(f"{path}: is {size[1]}x{size[0]}, but {what} is {expected[1]}x{expected[0]}")
