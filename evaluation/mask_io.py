"""Reading id masks (ground truth and predictions) from PNG files.

An id mask is a 2-D integer array whose values are object ids (0 = background, 255 = void in the
ground truth). Palette ("P") PNGs and single-channel PNGs store the ids directly; RGB PNGs are mapped
back to ids through the DAVIS palette.
"""

from __future__ import annotations

import io
import zlib
from pathlib import Path

import numpy as np
from PIL import Image

from evaluation.errors import EvaluationError
from evaluation.palette import DAVIS_PALETTE

_SINGLE_CHANNEL_MODES = ("P", "L", "1", "I", "I;16", "I;16B", "I;16L")
_DECODE_ERRORS = (OSError, SyntaxError, ValueError, EOFError, zlib.error)
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
JPEG_SIGNATURE = b"\xff\xd8\xff"


def _colour_codes(rgb: np.ndarray) -> np.ndarray:
    """Pack (..., 3) uint8 colours into one int64 code per colour."""
    rgb = rgb.astype(np.int64)
    return (rgb[..., 0] << 16) | (rgb[..., 1] << 8) | rgb[..., 2]


def _palette_lookup() -> tuple[np.ndarray, np.ndarray]:
    """Sorted palette colour codes and, for each, the lowest id that has this colour.

    The palette repeats (128, 128, 128) at ids 7 and 128; such a colour maps to the lower id.
    """
    codes, first_ids = np.unique(_colour_codes(DAVIS_PALETTE), return_index=True)
    return codes, first_ids


def rgb_to_ids(rgb: np.ndarray, path: Path) -> np.ndarray:
    """Map an (H, W, 3) uint8 colour image to ids through the DAVIS palette."""
    codes, ids = _palette_lookup()
    pixel_codes = _colour_codes(rgb)
    positions = np.minimum(np.searchsorted(codes, pixel_codes), len(codes) - 1)
    unknown = codes[positions] != pixel_codes
    if unknown.any():
        row, col = np.argwhere(unknown)[0]
        colour = tuple(int(c) for c in rgb[row, col])
        raise EvaluationError(
            f"{path}: RGB colour {colour} at pixel (row {row}, col {col}) is not in the DAVIS palette"
        )
    return ids[positions].astype(np.uint8)


def _check_png_signature(path: Path, data: bytes) -> None:
    """Raise unless ``data`` starts with the PNG signature; Pillow would decode a JPEG renamed ``.png``."""
    if data.startswith(PNG_SIGNATURE):
        return
    if not data:
        reason = "empty file"
    elif data.startswith(JPEG_SIGNATURE):
        reason = "JPEG data"
    else:
        reason = "no PNG signature"
    raise EvaluationError(f"{path}: not a PNG file ({reason})")


def read_id_mask(path: Path) -> np.ndarray:
    """Read a PNG as a 2-D integer id mask; raise EvaluationError naming the file on any problem."""
    try:
        data = Path(path).read_bytes()
    except FileNotFoundError as err:
        raise EvaluationError(f"{path}: file not found") from err
    except OSError as err:
        raise EvaluationError(f"{path}: cannot read ({err.strerror or type(err).__name__})") from err
    _check_png_signature(path, data)
    try:
        with Image.open(io.BytesIO(data), formats=("PNG",)) as image:
            mode = image.mode
            pixels = np.array(image)
    except _DECODE_ERRORS as err:
        reason = " ".join(str(err).split()) or type(err).__name__
        raise EvaluationError(f"{path}: unreadable or truncated PNG ({reason})") from err
    if mode == "RGB":
        return rgb_to_ids(pixels, path)
    if mode not in _SINGLE_CHANNEL_MODES or pixels.ndim != 2:
        raise EvaluationError(f"{path}: unsupported PNG mode {mode!r} (expected a palette, single-channel or RGB PNG)")
    if pixels.dtype == bool:
        return pixels.astype(np.uint8)
    return pixels
