"""The video loop: frames and reference masks in, one label map per frame out.

    for result in propagate_video(session, frames, {0: first_mask}):
        write(result.position, session.to_ids(result.label))

A frame with a reference mask goes through ``add_reference`` (the first one starts the video; later
ones add objects), every other frame through ``step``.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass

import numpy as np

from .session import InferenceSession


@dataclass(frozen=True)
class FrameResult:
    """One frame of a video: its label map (object indices at the original size) and the model time."""

    position: int
    label: np.ndarray
    seconds: float
    """Time spent in the session on this frame (reading and writing files not counted)."""
    is_reference: bool


def propagate_video(
    session: InferenceSession, frames: Iterable[np.ndarray], references: Mapping[int, np.ndarray]
) -> Iterator[FrameResult]:
    """Segments ``frames`` (H, W, 3 uint8 RGB) in order with a fresh ``session``; ``references`` maps
    frame positions to masks (H, W uint8 ids; position 0 must have one)."""
    if 0 not in references:
        raise ValueError("the first frame needs a reference mask")
    for position, image in enumerate(frames):
        start = time.perf_counter()
        if position in references:
            label = session.add_reference(image, references[position])
        else:
            label = session.step(image).label
        yield FrameResult(position, label, time.perf_counter() - start, position in references)
