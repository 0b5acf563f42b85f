"""Test-time augmentation as the official evaluator does it (``--flip``, ``--ms``; RMEM_SPEC §5.5).

Each augmentation is a view of the video with its own memories: the frame resized by the official rule
at its scale (``test_time_size``), mirrored for a flipped view. Its probabilities at the original size
(mirrored back) are averaged over the views, and the label of the average is written into every view's
memory (mirrored for a flipped view) before the next frame.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class Augmentation:
    """One view of the video: the official test-time resize at ``scale``, then a horizontal flip if ``flip``."""

    scale: float = 1.0
    flip: bool = False

    def __post_init__(self) -> None:
        if not (math.isfinite(self.scale) and self.scale > 0):
            raise ValueError(f"a test-time scale must be a positive number, got {self.scale}")


def augmentations(scales: Sequence[float] = (1.0,), flip: bool = False) -> tuple[Augmentation, ...]:
    """The views of the official evaluator, in its order: for each scale the frame, then its mirror."""
    if not scales:
        raise ValueError("test-time augmentation needs at least one scale")
    mirrors = (False, True) if flip else (False,)
    return tuple(Augmentation(float(scale), mirrored) for scale in scales for mirrored in mirrors)


def mirror(x: torch.Tensor, augmentation: Augmentation) -> torch.Tensor:
    """``x`` flipped along its last (width) axis for a flipped view; as is otherwise."""
    return x.flip(-1) if augmentation.flip else x


def average_probabilities(probs: Sequence[torch.Tensor]) -> torch.Tensor:
    """The mean of the views' (1, C, H, W) probabilities, summed in view order as the official code does."""
    if len(probs) == 1:
        return probs[0]
    return torch.cat(list(probs)).mean(dim=0, keepdim=True)
