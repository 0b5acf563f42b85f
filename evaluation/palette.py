"""The DAVIS colour palette used by VOST annotations and by every mask this project writes."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

# Ids 0..21 get the DAVIS colours; the rest of the 256 entries are grey ramps (i, i, i).
_DAVIS_COLOURS = [
    (0, 0, 0),
    (128, 0, 0),
    (0, 128, 0),
    (128, 128, 0),
    (0, 0, 128),
    (128, 0, 128),
    (0, 128, 128),
    (128, 128, 128),
    (64, 0, 0),
    (191, 0, 0),
    (64, 128, 0),
    (191, 128, 0),
    (64, 0, 128),
    (191, 0, 128),
    (64, 128, 128),
    (191, 128, 128),
    (0, 64, 0),
    (128, 64, 0),
    (0, 191, 0),
    (128, 191, 0),
    (0, 64, 128),
    (128, 64, 128),
]


def _build_palette() -> np.ndarray:
    palette = np.stack([np.arange(256, dtype=np.uint8)] * 3, axis=1)
    palette[: len(_DAVIS_COLOURS)] = np.asarray(_DAVIS_COLOURS, dtype=np.uint8)
    palette.setflags(write=False)
    return palette


DAVIS_PALETTE: np.ndarray = _build_palette()
"""(256, 3) uint8 RGB colour of every id."""


def save_index_png(path: str | Path, mask: np.ndarray) -> None:
    """Write a 2-D uint8 id map as a palette ("P" mode) PNG with the DAVIS palette."""
    if mask.ndim != 2:
        raise ValueError(f"{path}: a mask must be 2-D, got shape {mask.shape}")
    image = Image.fromarray(np.ascontiguousarray(mask, dtype=np.uint8), mode="P")
    image.putpalette(DAVIS_PALETTE.reshape(-1).tolist())
    image.save(path)
