"""LongTermMemory: storage, alignment of fields and layers under eviction, and input checks; the tests that
take ``in_place`` run on both storages (functional and in place)."""

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


@pytest.fixture(params=[False, True], ids=["functional", "in_place"])
def in_place(request) -> bool:
    return request.param


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


def test_append_and_evict_keep_every_field_and_layer_aligned(in_place: bool) -> None:
    memory = LongTermMemory(FifoPolicy(FifoConfig(recent_frames=3)), in_place=in_place)
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


def test_eviction_from_the_middle_with_two_fields(in_place: bool) -> None:
    memory = LongTermMemory(EvictSecondNewest(), in_place=in_place)
    memory.reset(3, entries_of(3, layers=2, channels=(4, 8)))
    for frame in (7, 9, 12, 20):
        memory.append(frame, entries_of(frame, layers=2, channels=(4, 8)))
    assert memory.frames == [3, 7, 20]
    assert stored_frames(memory, layers=2, fields=2) == [[[3, 7, 20]] * 2] * 2


def test_restricted_bank_drops_what_the_policy_chooses_and_passes_attention(in_place: bool) -> None:
    policy = RestrictedPolicy()
    memory = LongTermMemory(policy, in_place=in_place)
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


def test_failed_append_leaves_the_bank_unchanged(in_place: bool) -> None:
    memory = LongTermMemory(RestrictedPolicy(), in_place=in_place)
    memory.reset(0, entries_of(0))
    memory.append(5, entries_of(5), EvictionEvidence(torch.ones(HW, 1), torch.ones(HW)))
    with pytest.raises(ValueError, match="needs the layer-0 attention"):
        memory.append(10, entries_of(10))
    assert memory.frames == [0, 5]
    assert stored_frames(memory) == [[[0, 5]] * 3] * 3


def test_unrestricted_bank_grows_and_reset_starts_over(in_place: bool) -> None:
    memory = LongTermMemory(UnrestrictedPolicy(), in_place=in_place)
    memory.reset(0, entries_of(0))
    for frame in range(1, 21):
        event = memory.append(frame, entries_of(frame))
        assert event.evicted is None and event.scores is None and event.scored_frames == ()
    assert memory.frames == list(range(21))
    memory.reset(4, entries_of(4))
    assert memory.frames == [4] and memory.layer(0)[0].shape == (1, HW, BATCH, 4)
    assert stored_frames(memory) == [[[4]] * 3] * 3


def test_reset_clears_policy_state(in_place: bool) -> None:
    policy = RestrictedPolicy()
    memory = LongTermMemory(policy, in_place=in_place)
    memory.reset(0, entries_of(0, layers=1))
    memory.append(5, entries_of(5, layers=1), EvictionEvidence(torch.ones(HW, 1), torch.ones(HW)))
    assert policy.stay_counts == {0: 1, 5: 1}
    assert memory.reset(0, entries_of(0, layers=1)).frames == (0,)
    assert policy.stay_counts == {} and policy.smoothed_relevance == {}


def test_frames_property_is_a_copy(in_place: bool) -> None:
    memory = LongTermMemory(UnrestrictedPolicy(), in_place=in_place)
    memory.reset(0, entries_of(0))
    memory.frames.append(99)
    assert memory.frames == [0]


def test_append_before_reset_is_rejected(in_place: bool) -> None:
    with pytest.raises(RuntimeError, match="before reset"):
        LongTermMemory(UnrestrictedPolicy(), in_place=in_place).append(5, entries_of(5))


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
def test_bad_entries_are_rejected(in_place: bool, frame: int, entries, message: str) -> None:
    memory = LongTermMemory(UnrestrictedPolicy(), in_place=in_place)
    memory.reset(0, entries_of(0))
    with pytest.raises(ValueError, match=message):
        memory.append(frame, entries)
    assert memory.frames == [0] and memory.layer(0)[0].shape[0] == 1


class EvictFirst(MemoryPolicy):
    def select_eviction(self, frames, evidence):
        return EvictionDecision(0)


def test_policy_choosing_a_protected_position_is_an_error(in_place: bool) -> None:
    memory = LongTermMemory(EvictFirst(), in_place=in_place)
    memory.reset(0, entries_of(0))
    with pytest.raises(RuntimeError, match="first and newest are kept"):
        memory.append(5, entries_of(5))


class EvictAtRandom(MemoryPolicy):
    """From five entries on, evicts a random evictable position, or (one time in four) none."""

    def __init__(self, seed: int) -> None:
        self.rng = torch.Generator().manual_seed(seed)

    def select_eviction(self, frames, evidence):
        if len(frames) < 5 or torch.rand(1, generator=self.rng).item() < 0.25:
            return EvictionDecision()
        return EvictionDecision(int(torch.randint(1, len(frames) - 1, (1,), generator=self.rng)))


def random_entries(seed: int) -> list[list[torch.Tensor]]:
    generator = torch.Generator().manual_seed(seed)
    return [[torch.randn(HW, BATCH, c, generator=generator) for c in FIELD_CHANNELS] for _ in range(3)]


def test_in_place_storage_holds_what_the_functional_one_holds() -> None:
    functional, ours = LongTermMemory(EvictAtRandom(7)), LongTermMemory(EvictAtRandom(7), in_place=True)
    for memory in (functional, ours):
        memory.reset(0, random_entries(0))
    for frame in range(1, 40):
        events = [memory.append(frame, random_entries(frame)) for memory in (functional, ours)]
        assert events[0] == events[1]
        assert ours.frames == functional.frames
        for ours_layer, their_layer in zip(ours.layers(), functional.layers()):
            for mine, theirs in zip(ours_layer, their_layer):
                assert torch.equal(mine, theirs), f"after frame {frame}"
    assert len(ours) > 8  # grown past the first slots of an unbounded in-place bank


def test_a_full_bank_keeps_its_shapes_and_in_place_its_addresses(in_place: bool) -> None:
    memory = LongTermMemory(FifoPolicy(FifoConfig(recent_frames=2)), in_place=in_place)
    memory.reset(0, entries_of(0))
    memory.append(5, entries_of(5))
    assert not memory.full
    memory.append(10, entries_of(10))
    assert memory.full
    seen = [(t.data_ptr(), t.shape) for layer in memory.layers() for t in layer]
    for frame in range(15, 50, 5):
        assert memory.append(frame, entries_of(frame)).evicted == frame - 10
        now = [(t.data_ptr(), t.shape) for layer in memory.layers() for t in layer]
        assert [shape for _, shape in now] == [shape for _, shape in seen]
        assert (now == seen) == in_place
        assert memory.full
    assert stored_frames(memory) == [[[0, 40, 45]] * 3] * 3
    assert not LongTermMemory(UnrestrictedPolicy(), in_place=in_place).full
