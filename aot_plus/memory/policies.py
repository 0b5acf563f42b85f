"""The simple eviction policies and the factory that builds any policy by name."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from torch import Tensor

from aot_plus.memory.base import MemoryPolicy, RestrictedMemoryConfig, check_frames
from aot_plus.memory.restricted import RestrictedPolicy


class UnrestrictedPolicy(MemoryPolicy):
    """Never evicts: the bank grows by one entry per long-term update (original AOT/DeAOT)."""

    def select_eviction(
        self,
        frames: Sequence[int],
        attention: Tensor | None,
        foreground: Tensor | None,
    ) -> int | None:
        return None


class FifoPolicy(MemoryPolicy):
    """Same capacity as the restricted bank; on overflow evicts the oldest entry after the first frames."""

    def __init__(self, first_frames: int = 1, recent_frames: int = 8) -> None:
        config = RestrictedMemoryConfig(first_frames=first_frames, recent_frames=recent_frames)
        self.first_frames = config.first_frames
        self.capacity = config.capacity

    def select_eviction(
        self,
        frames: Sequence[int],
        attention: Tensor | None,
        foreground: Tensor | None,
    ) -> int | None:
        check_frames(frames, minimum=1)
        return self.first_frames if len(frames) > self.capacity else None


FIFO_OPTIONS = ("first_frames", "recent_frames")
POLICY_NAMES = ("unrestricted", "restricted", "fifo")


def build_memory_policy(name: str, **options: Any) -> MemoryPolicy:
    """Build the policy `name` ("unrestricted", "restricted" or "fifo") with the given constants.

    "restricted" accepts every field of RestrictedMemoryConfig, "fifo" only first_frames and recent_frames,
    "unrestricted" nothing.
    """
    valid_options = {
        "unrestricted": (),
        "restricted": RestrictedMemoryConfig.option_names(),
        "fifo": FIFO_OPTIONS,
    }
    if name not in valid_options:
        raise ValueError(f"unknown memory policy {name!r}; valid: {', '.join(POLICY_NAMES)}")
    unknown = sorted(set(options) - set(valid_options[name]))
    if unknown:
        valid = ", ".join(valid_options[name]) or "none"
        raise ValueError(f"unknown option(s) {', '.join(unknown)} for memory policy {name!r}; valid: {valid}")
    if name == "restricted":
        return RestrictedPolicy(RestrictedMemoryConfig(**options))
    if name == "fifo":
        return FifoPolicy(**options)
    return UnrestrictedPolicy()
