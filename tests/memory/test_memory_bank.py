"""LongTermMemory: storage, alignment of fields and layers under eviction, and input checks."""

from __future__ import annotations

from collections.abc import Sequence

import pytest
import torch

from aot_plus.memory import (
    EvictionDecision,
    EvictionEvidence,
    FifoConfig,
    FifoPolicy,
    LongTermMemory,
    MemoryPolicy,
    RestrictedPolicy,
    UnrestrictedPolicy,
)

HW, BATCH = 6, 2
FIELD_CHANNELS = (4, 8, 8)  # three fields of unequal widths: the bank is generic over its fields


def entries_of(frame: int, layers: int = 3, channels: Sequence[int] = FIELD_CHANNELS) -> list[list[torch.Tensor]]:
    """Every element of layer i, field j of `frame` equals frame + 1000 * i + 100 * j."""
    return [
        [torch.full((HW, BATCH, c), float(frame + 1000 * i + 100 * j)) for j, c in enumerate(channels)]
        for i in range(layers)
    ]


def stored_frames(memory: LongTermMemory, layers: int = 3, fields: int = 3) -> list[list[list[int]]]:
    """Recover the frame index held at each memory position, per layer and field."""
    decoded = []
    for i in range(layers):
        per_field = []
        for j, tensor in enumerate(memory.layer(i)):
            assert j < fields
            values = tensor.flatten(1)
            assert (values == values[:, :1]).all()
            per_field.append([int(v) - 1000 * i - 100 * j for v in values[:, 0].tolist()])
        decoded.append(per_field)
    return decoded


def test_append_and_evict_keep_every_field_and_layer_aligned() -> None:
    memory = LongTermMemory(FifoPolicy(FifoConfig(recent_frames=3)))
    memory.reset(0, entries_of(0))
    evicted = [memory.append(frame, entries_of(frame)).evicted for frame in range(5, 41, 5)]
    assert evicted == [None, None, None, 5, 10, 15, 20, 25]
    assert memory.frames == [0, 30, 35, 40]
    assert len(memory) == 4
    for per_field in stored_frames(memory):
        assert per_field == [[0, 30, 35, 40]] * 3
    shapes = [tuple(t.shape) for t in memory.layer(2)]
    assert shapes == [(4, HW, BATCH, c) for c in FIELD_CHANNELS]


class EvictSecondNewest(MemoryPolicy):
    """Evicts the entry just before the newest once the bank holds four."""

    def select_eviction(self, frames, evidence):
        return EvictionDecision(len(frames) - 2 if len(frames) > 3 else None)


def test_eviction_from_the_middle_with_two_fields() -> None:
    memory = LongTermMemory(EvictSecondNewest())
    memory.reset(3, entries_of(3, layers=2, channels=(4, 8)))
    for frame in (7, 9, 12, 20):
        memory.append(frame, entries_of(frame, layers=2, channels=(4, 8)))
    assert memory.frames == [3, 7, 20]
    assert stored_frames(memory, layers=2, fields=2) == [[[3, 7, 20]] * 2] * 2


def test_restricted_bank_drops_what_the_policy_chooses_and_passes_attention() -> None:
    policy = RestrictedPolicy()
    memory = LongTermMemory(policy)
    memory.reset(0, entries_of(0, layers=1))
    for frame in range(5, 46, 5):
        older = len(memory)
        attention = torch.full((HW, older), 1.0 / older)
        event = memory.append(frame, entries_of(frame, layers=1), EvictionEvidence(attention, torch.ones(HW)))
    # Uniform attention: the first overflow (frame 45) evicts the oldest non-first frame.
    assert event.evicted == 5 and event.frame == 45 and event.frames == tuple(memory.frames)
    assert event.scored_frames == tuple(range(0, 41, 5)) and event.scores.score.shape == (9,)
    assert memory.frames == [0] + list(range(10, 46, 5))
    assert stored_frames(memory, layers=1) == [[memory.frames] * 3]
    assert policy.stay_counts[45] == 1


def test_failed_append_leaves_the_bank_unchanged() -> None:
    memory = LongTermMemory(RestrictedPolicy())
    memory.reset(0, entries_of(0))
    memory.append(5, entries_of(5), EvictionEvidence(torch.ones(HW, 1), torch.ones(HW)))
    with pytest.raises(ValueError, match="needs the layer-0 attention"):
        memory.append(10, entries_of(10))
    assert memory.frames == [0, 5]
    assert stored_frames(memory) == [[[0, 5]] * 3] * 3


def test_unrestricted_bank_grows_and_reset_starts_over() -> None:
    memory = LongTermMemory(UnrestrictedPolicy())
    memory.reset(0, entries_of(0))
    for frame in range(1, 21):
        event = memory.append(frame, entries_of(frame))
        assert event.evicted is None and event.scores is None and event.scored_frames == ()
    assert memory.frames == list(range(21))
    memory.reset(4, entries_of(4))
    assert memory.frames == [4] and memory.layer(0)[0].shape == (1, HW, BATCH, 4)
    assert stored_frames(memory) == [[[4]] * 3] * 3


def test_reset_clears_policy_state() -> None:
    policy = RestrictedPolicy()
    memory = LongTermMemory(policy)
    memory.reset(0, entries_of(0, layers=1))
    memory.append(5, entries_of(5, layers=1), EvictionEvidence(torch.ones(HW, 1), torch.ones(HW)))
    assert policy.stay_counts == {0: 1, 5: 1}
    assert memory.reset(0, entries_of(0, layers=1)).frames == (0,)
    assert policy.stay_counts == {} and policy.smoothed_relevance == {}


def test_frames_property_is_a_copy() -> None:
    memory = LongTermMemory(UnrestrictedPolicy())
    memory.reset(0, entries_of(0))
    memory.frames.append(99)
    assert memory.frames == [0]


def test_append_before_reset_is_rejected() -> None:
    with pytest.raises(RuntimeError, match="before reset"):
        LongTermMemory(UnrestrictedPolicy()).append(5, entries_of(5))


@pytest.mark.parametrize(
    ("frame", "entries", "message"),
    [
        (5, entries_of(5, layers=2), r"fields per layer"),
        (5, entries_of(5, channels=(4, 8)), r"fields per layer"),
        (5, entries_of(5, channels=(4, 8, 9)), r"layer 0 field 2 is \(6, 2, 9\)"),
        (5, [[t.double() for t in layer] for layer in entries_of(5)], "torch.float64"),
        (0, entries_of(0), "frames must increase"),
        (5, [], "non-empty list of layers"),
        (5, [[torch.zeros(HW, 4)] * 3] * 3, r"must be a \(HW, B, C\) tensor, got \(6, 4\)"),
    ],
)
def test_bad_entries_are_rejected(frame: int, entries, message: str) -> None:
    memory = LongTermMemory(UnrestrictedPolicy())
    memory.reset(0, entries_of(0))
    with pytest.raises(ValueError, match=message):
        memory.append(frame, entries)
    assert memory.frames == [0] and memory.layer(0)[0].shape[0] == 1


class EvictFirst(MemoryPolicy):
    def select_eviction(self, frames, evidence):
        return EvictionDecision(0)


def test_policy_choosing_a_protected_position_is_an_error() -> None:
    memory = LongTermMemory(EvictFirst())
    memory.reset(0, entries_of(0))
    with pytest.raises(RuntimeError, match="first and newest are kept"):
        memory.append(5, entries_of(5))
