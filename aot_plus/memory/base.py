"""The eviction-policy interface of the long-term memory bank, and the restricted bank's constants."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass, fields

from torch import Tensor


class MemoryPolicy(ABC):
    """Decides which long-term memory entry, if any, leaves the bank after an append.

    A policy may keep state across calls (keyed by frame index); `reset` clears it at the start of a sequence.
    One policy instance serves exactly one memory bank.
    """

    needs_attention: bool = False
    """True: the caller must pass layer-0 attention and foreground probability to `select_eviction`."""

    @abstractmethod
    def select_eviction(
        self,
        frames: Sequence[int],
        attention: Tensor | None,
        foreground: Tensor | None,
    ) -> int | None:
        """Return the position in `frames` to evict, or None to keep every entry.

        Called right after a frame was appended. `frames` are the frame indices now in memory, oldest first,
        newest last (n entries). `attention` is (HW, n-1) float32: the layer-0 long-term attention of the
        frame just predicted, head-averaged and summed over each memory entry's key tokens, over the n-1
        entries that existed before the append. `foreground` is (HW,) float32: 1 - p(background) at the same
        tokens.
        """

    def reset(self) -> None:
        """Forget all state (start of a new sequence)."""


@dataclass(frozen=True)
class RestrictedMemoryConfig:
    """Constants of the restricted memory bank; defaults are those of the official RMem release."""

    first_frames: int = 1
    """Oldest entries that are never evicted (the official FORMER_MEM_LEN)."""
    recent_frames: int = 8
    """Other entries the bank may hold (the official LATTER_MEM_LEN); capacity = first_frames + recent_frames."""
    relevance_momentum: float = 0.8
    """Weight of the new relevance in the moving mean of each entry's relevance."""
    ucb_scale: float = 1.5
    """Factor of the freshness (UCB) bonus."""
    ucb_offset: float = 8.0
    """Added to each stay count in the denominator of the freshness bonus."""
    reset_first_count: bool = True
    """Set the first entry's stay count to the number of scored entries ("ucb_reset_0")."""
    update_before_full: bool = True
    """Update relevance and stay counts at every append (HEAD DeAOT). False: only when the bank overflows
    (HEAD AOT, and DeAOT before August 2024)."""

    def __post_init__(self) -> None:
        for name in ("first_frames", "recent_frames"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"RestrictedMemoryConfig.{name} must be an integer >= 1, got {value!r}")
        for name in ("relevance_momentum", "ucb_scale", "ucb_offset"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise ValueError(f"RestrictedMemoryConfig.{name} must be a number, got {value!r}")
        if not 0.0 <= self.relevance_momentum <= 1.0:
            raise ValueError(
                f"RestrictedMemoryConfig.relevance_momentum must be in [0, 1], got {self.relevance_momentum!r}"
            )
        if self.ucb_scale < 0.0:
            raise ValueError(f"RestrictedMemoryConfig.ucb_scale must be >= 0, got {self.ucb_scale!r}")
        if self.ucb_offset < 0.0:
            raise ValueError(f"RestrictedMemoryConfig.ucb_offset must be >= 0, got {self.ucb_offset!r}")
        for name in ("reset_first_count", "update_before_full"):
            value = getattr(self, name)
            if not isinstance(value, bool):
                raise ValueError(f"RestrictedMemoryConfig.{name} must be a bool, got {value!r}")

    @property
    def capacity(self) -> int:
        """Most entries the bank holds between appends."""
        return self.first_frames + self.recent_frames

    @classmethod
    def option_names(cls) -> tuple[str, ...]:
        """Names of all settable constants."""
        return tuple(field.name for field in fields(cls))


def check_frames(frames: Sequence[int], minimum: int) -> None:
    """Raise ValueError unless `frames` holds at least `minimum` distinct frame indices."""
    if len(frames) < minimum:
        raise ValueError(f"memory policy needs at least {minimum} frames in memory, got {list(frames)}")
    if len(set(frames)) != len(frames):
        raise ValueError(f"memory frames must be distinct, got {list(frames)}")
