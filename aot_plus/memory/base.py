"""The eviction-policy interface of the long-term memory bank: what a policy sees and what it answers."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass

from torch import Tensor


@dataclass(frozen=True)
class EvictionEvidence:
    """What the frame just written tells about the entries that were in memory before it (batch of one)."""

    attention: Tensor
    """(HW, n-1) float32: layer-0 long-term attention of the frame, head-averaged and summed over each
    older entry's key tokens; each row sums to one."""
    foreground: Tensor
    """(HW,) float32: 1 - p(background) of the frame at the same tokens."""


@dataclass(frozen=True)
class EvictionScores:
    """The quantities of one scoring call, one float32 value per entry older than the newest (CPU)."""

    relevance: Tensor
    """Foreground-weighted attention share of this call, sums to 1."""
    smoothed_relevance: Tensor
    """Moving mean of the relevance per frame index."""
    stay_counts: Tensor
    """Stay counts used in the bonus (the first one replaced by the entry count when reset_first_count)."""
    bonus: Tensor
    """Freshness (UCB) bonus."""
    score: Tensor
    """smoothed_relevance + bonus; the lowest evictable one is evicted on overflow."""


@dataclass(frozen=True)
class EvictionDecision:
    """A policy's answer after an append: which position leaves (None: none), and the scores behind it."""

    position: int | None = None
    scores: EvictionScores | None = None
    """Per-entry scores of a scoring policy, None when the policy did not score at this append."""


class MemoryPolicy(ABC):
    """Decides which long-term memory entry, if any, leaves the bank after an append.

    A policy may keep state across calls (keyed by frame index); `reset` clears it at the start of a sequence.
    One policy instance serves exactly one memory bank.
    """

    needs_evidence: bool = False
    """True: the caller must pass an EvictionEvidence to `select_eviction`."""

    @abstractmethod
    def select_eviction(self, frames: Sequence[int], evidence: EvictionEvidence | None) -> EvictionDecision:
        """Called right after a frame was appended; `frames` are the frame indices now in memory, oldest
        first, newest last. The position evicted must be neither the first nor the newest."""

    @property
    def capacity(self) -> int | None:
        """Most entries the policy lets the bank hold between appends; None: unbounded. It sizes an in-place
        bank's buffers (see LongTermMemory)."""
        return None

    def reset(self) -> None:  # noqa: B027 (not abstract: a policy without state has nothing to reset)
        """Forget all state (start of a new sequence)."""


def check_frames(frames: Sequence[int], minimum: int) -> None:
    """Raise ValueError unless `frames` holds at least `minimum` distinct frame indices."""
    if len(frames) < minimum:
        raise ValueError(f"memory policy needs at least {minimum} frames in memory, got {list(frames)}")
    if len(set(frames)) != len(frames):
        raise ValueError(f"memory frames must be distinct, got {list(frames)}")
