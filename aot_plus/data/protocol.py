"""What a benchmark's protocol asks of one video, as data: which frames are read, which carry reference
masks (and which objects each one adds), which predictions are written, and the long-term memory gap."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .io import read_mask


@dataclass(frozen=True)
class VideoTask:
    """One video to segment."""

    name: str
    frames: tuple[Path, ...]
    """Every frame that is read, in order."""
    references: Mapping[int, Path]
    """Frame position -> its reference mask (position 0 always has one; a later one adds objects)."""
    written: tuple[int, ...]
    """Frame positions whose predictions are written, as ``<name>/<frame stem>.png``."""
    long_term_gap: int
    """The benchmark's long-term memory gap for this video."""
    copy_references: bool = True
    """The first frame's output is a byte copy of its mask (the official VOST, DAVIS 2017 and YouTube-VOS
    write-back); otherwise it is written from its label like any frame. A later reference frame is always
    written as its prediction with the new objects pasted in (the official YouTube-VOS write-back)."""
    single_object: bool = False
    """Every id above 0 of a reference mask is the one object, id 1 (DAVIS 2016, the long videos)."""
    reference_ids: Mapping[int, tuple[int, ...]] = field(default_factory=dict)
    """Reference position -> the only ids its mask adds (other ids read as background): a later object
    taken from a fully annotated frame (LVOS). Positions not here add every id of their mask."""

    def __post_init__(self) -> None:
        if 0 not in self.references:
            raise ValueError(f"video {self.name}: the first frame needs a reference mask")
        if not set(self.reference_ids) <= set(self.references):
            raise ValueError(f"video {self.name}: reference_ids names positions without a reference mask")
        if self.single_object and self.copy_references:
            raise ValueError(f"video {self.name}: a single-object video writes its binarised first mask, not a copy")
        if any(not 0 <= position < len(self.frames) for position in (*self.references, *self.written)):
            raise ValueError(f"video {self.name}: a reference or written position is outside the frames")

    @property
    def frame_names(self) -> list[str]:
        return [path.stem for path in self.frames]

    def output_name(self, position: int) -> str:
        """File name of the prediction of the frame at ``position``."""
        return f"{self.frames[position].stem}.png"

    def copies_reference(self, position: int) -> bool:
        """Whether the output of the frame at ``position`` is a byte copy of its reference mask."""
        return self.copy_references and position == 0

    def read_reference(self, position: int) -> np.ndarray:
        """The reference mask at ``position`` as the session takes it (H, W uint8 ids)."""
        mask = read_mask(self.references[position])
        if self.single_object:
            mask = (mask > 0).astype(np.uint8)
        keep = self.reference_ids.get(position)
        if keep is not None:
            mask = np.where(np.isin(mask, keep), mask, 0).astype(np.uint8)
        return mask

    def __len__(self) -> int:
        return len(self.frames)
