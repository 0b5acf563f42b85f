"""What a benchmark's protocol asks of one video, as data: which frames are read, which carry reference
masks, which predictions are written, and the long-term memory gap."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class VideoTask:
    """One video to segment."""

    name: str
    frames: tuple[Path, ...]
    """Every frame that is read, in order."""
    references: Mapping[int, Path]
    """Frame position -> its reference mask (position 0 always has one)."""
    written: tuple[int, ...]
    """Frame positions whose predictions are written, as ``<name>/<frame stem>.png``."""
    long_term_gap: int
    """The benchmark's long-term memory gap for this video."""
    copy_references: bool = True
    """Reference frames are written as byte copies of their masks (the official VOST and DAVIS write-back)."""

    def __post_init__(self) -> None:
        if 0 not in self.references:
            raise ValueError(f"video {self.name}: the first frame needs a reference mask")

    @property
    def frame_names(self) -> list[str]:
        return [path.stem for path in self.frames]

    def output_name(self, position: int) -> str:
        """File name of the prediction of the frame at ``position``."""
        return f"{self.frames[position].stem}.png"

    def __len__(self) -> int:
        return len(self.frames)
