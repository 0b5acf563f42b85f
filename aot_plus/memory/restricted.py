"""RMem's restricted memory: how a long-term frame is chosen for eviction.

Eviction happens in `RestrictedPolicy.select_eviction`, right after a frame was appended to the bank. Every
entry older than the new one gets a score, and when the bank holds more than `capacity` (default 1 + 8 = 9)
entries, the lowest-scoring entry is evicted. The first frame(s) and the new frame are never evicted.

The score of an entry is its relevance plus a freshness bonus:

- relevance: how much of the current frame's layer-0 attention, weighted by the foreground probability of
  each query token, went to that entry (normalised over entries), smoothed over time with a moving mean
  (0.2 * old + 0.8 * new) kept per frame index;
- freshness bonus: `1.5 * sqrt(ln(sum of counts) / (count + 8))`, where `count` is how many appends the
  entry has stayed in the bank. Long-staying entries get a smaller bonus, so with equal relevance the oldest
  non-first frame goes first (FIFO-like). The first frame's count is set to the number of scored entries.

Ties go to the oldest entry. With `update_before_full=False` (HEAD AOT) scores, moving means and counts
are only updated once the bank overflows; with True (HEAD DeAOT) at every append.

This follows `restrict_long_memories` of the official code (spec section 3.4) in float32 torch arithmetic,
with two deviations: if the foreground-weighted attention sums to zero, relevance is uniform instead of NaN;
and all of the first `first_frames` entries are protected (the official code protects only position 0,
which is the same for the released first_frames = 1).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import Tensor

from aot_plus.memory.base import EvictionDecision, EvictionEvidence, EvictionScores, MemoryPolicy, check_frames


@dataclass(frozen=True)
class RestrictedMemoryConfig:
    """Constants of the restricted memory bank; defaults are those of the official RMem release.

    `update_before_full` differs between the official AOT and DeAOT code: each model's YAML in
    configs/models sets it (see `memory_defaults` there).
    """

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
        check_capacity(type(self).__name__, self.first_frames, self.recent_frames)
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


def check_capacity(config: str, first_frames: object, recent_frames: object) -> None:
    """Raise ValueError unless both counts are integers >= 1."""
    for name, value in (("first_frames", first_frames), ("recent_frames", recent_frames)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{config}.{name} must be an integer >= 1, got {value!r}")


class RestrictedPolicy(MemoryPolicy):
    """RMem eviction by smoothed foreground relevance plus a stay-count freshness bonus."""

    needs_evidence = True

    def __init__(self, config: RestrictedMemoryConfig | None = None) -> None:
        self.config = config if config is not None else RestrictedMemoryConfig()
        self._smoothed: dict[int, float] = {}
        self._counts: dict[int, int] = {}

    def reset(self) -> None:
        self._smoothed = {}
        self._counts = {}

    @property
    def capacity(self) -> int:
        return self.config.capacity

    @property
    def smoothed_relevance(self) -> dict[int, float]:
        """Moving-mean relevance per frame index, as stored after the last scoring call."""
        return dict(self._smoothed)

    @property
    def stay_counts(self) -> dict[int, int]:
        """Stay count per frame index (newest included), as stored after the last scoring call."""
        return dict(self._counts)

    def select_eviction(self, frames: Sequence[int], evidence: EvictionEvidence | None) -> EvictionDecision:
        check_frames(frames, minimum=2)
        relevance = foreground_relevance(evidence, num_entries=len(frames) - 1)
        overflow = len(frames) > self.config.capacity
        if not overflow and not self.config.update_before_full:
            return EvictionDecision()
        scores = self._update_scores(frames, relevance)
        if not overflow:
            return EvictionDecision(scores=scores)
        first = self.config.first_frames
        return EvictionDecision(first + int(torch.argmin(scores.score[first:])), scores)

    def _update_scores(self, frames: Sequence[int], relevance: Tensor) -> EvictionScores:
        older = list(frames[:-1])
        momentum = self.config.relevance_momentum
        known = torch.tensor([frame in self._smoothed for frame in older])
        previous = torch.tensor([self._smoothed.get(frame, 0.0) for frame in older], dtype=torch.float32)
        smoothed = torch.where(known, (1 - momentum) * previous + momentum * relevance, relevance)
        # Entries that left the bank (and the newest one) are forgotten, as in the official code.
        self._smoothed = {frame: float(value) for frame, value in zip(older, smoothed)}
        self._counts = {frame: self._counts.get(frame, 0) + 1 for frame in frames}

        counts = torch.tensor([self._counts[frame] for frame in older], dtype=torch.float32)
        if self.config.reset_first_count:
            counts[0] = len(older)
        bonus = self.config.ucb_scale * torch.sqrt(torch.log(counts.sum()) / (counts + self.config.ucb_offset))
        return EvictionScores(relevance, smoothed, counts, bonus, smoothed + bonus)


def foreground_relevance(evidence: EvictionEvidence | None, num_entries: int) -> Tensor:
    """Share of foreground-weighted attention per memory entry, (num_entries,) float32 on the CPU.

    Uniform when the weighted attention sums to zero.
    """
    if evidence is None:
        raise ValueError("restricted memory policy needs the layer-0 attention and the foreground probability")
    attention, foreground = evidence.attention, evidence.foreground
    if attention.dim() != 2 or attention.shape[1] != num_entries:
        raise ValueError(
            f"attention must be (HW, {num_entries}) for {num_entries} older memory entries, "
            f"got {tuple(attention.shape)}"
        )
    if foreground.shape != (attention.shape[0],):
        raise ValueError(
            f"foreground must be ({attention.shape[0]},) to match the attention, got {tuple(foreground.shape)}"
        )
    # One copy of num_entries values to the host; what follows reads them there.
    mass = (attention.float() * foreground.float().unsqueeze(-1)).sum(dim=0).cpu()
    total = mass.sum()
    if not torch.isfinite(total):
        raise ValueError(f"foreground-weighted attention is not finite (sum {float(total)})")
    if float(total) == 0.0:
        return torch.full((num_entries,), 1.0 / num_entries, dtype=torch.float32)
    return mass / total
