"""The video loop: frames and reference masks in, one label map per frame out.

    for result in propagate_video(session, frames, {0: first_mask}):
        write(result.position, session.to_ids(result.label))

A frame with a reference mask goes through ``add_reference`` (the first one starts the video; later
ones add objects), every other frame through ``step``.

Each result comes one frame late: frame t's label is read after frame t + 1 was handed to the session.
Reading a label is the loop's one wait for the device, and a prediction starts its label's copy to the
host as soon as it is made (``Prediction``), so on a GPU the wait overlaps the next frame's work instead
of leaving the device idle while the host writes PNGs and decodes the next frame.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass

import numpy as np

from .preprocess import Image
from .session import InferenceSession, Prediction


@dataclass(frozen=True)
class FrameResult:
    """One frame of a video: its label map (object indices at the original size) and the model time."""

    position: int
    label: np.ndarray
    seconds: float
    """Time spent in the session on this frame, waiting for its label included (reading and writing files
    not counted)."""
    is_reference: bool
    memory_frames: list[int]
    """The long-term memory frames of the first object group once this frame was written."""


@dataclass(frozen=True)
class _Segmented:
    """A frame the session has segmented, whose label may still be on its way from the device."""

    position: int
    output: Prediction | np.ndarray  # a reference frame's label is on the host already
    seconds: float
    memory_frames: list[int]

    def result(self) -> FrameResult:
        start = time.perf_counter()
        is_reference = isinstance(self.output, np.ndarray)
        label = self.output if is_reference else self.output.label
        seconds = self.seconds + time.perf_counter() - start
        return FrameResult(self.position, label, seconds, is_reference, self.memory_frames)


def propagate_video(
    session: InferenceSession, frames: Iterable[Image], references: Mapping[int, np.ndarray]
) -> Iterator[FrameResult]:
    """Segments ``frames`` (H, W, 3 uint8 RGB arrays or CPU tensors) in order with a fresh ``session``;
    ``references`` maps frame positions to masks (H, W uint8 ids; position 0 must have one). Results are
    yielded in order, each once the next frame has been segmented (or the video has ended). A frame that
    cannot be read or segmented raises after the results of every frame before it."""
    if 0 not in references:
        raise ValueError("the first frame needs a reference mask")
    waiting: _Segmented | None = None  # the last frame segmented, its result not yielded yet
    try:
        for position, image in enumerate(frames):
            current = _segment(session, position, image, references)
            if waiting is not None:
                result = waiting.result()
                waiting = None
                yield result
            waiting = current
    except Exception:
        if waiting is not None:
            yield waiting.result()
        raise
    if waiting is not None:
        yield waiting.result()


def _segment(
    session: InferenceSession, position: int, image: Image, references: Mapping[int, np.ndarray]
) -> _Segmented:
    start = time.perf_counter()
    if position in references:
        output: Prediction | np.ndarray = session.add_reference(image, references[position])
    else:
        output = session.step(image)
    return _Segmented(position, output, time.perf_counter() - start, session.memory_frames)
