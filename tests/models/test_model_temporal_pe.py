"""The RMem temporal embedding: which learned slot each long-term memory entry gets (spec §2.5, §9.4)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from aot_plus import InferenceSession, build_model
from aot_plus.models import ModelConfig
from aot_plus.models.layers.aot_block import add_temporal_embedding
from aot_plus.models.layers.position import temporal_key_embedding, temporal_slot_indices

NUM_SLOTS = 4
# Slot per memory position (oldest first), as printed by the official code.
OFFICIAL_TABLE = {
    5: [0, 1, 2, 3, 3],
    6: [0, 1, 1, 2, 3, 3],
    7: [0, 1, 1, 2, 2, 3, 3],
    8: [0, 0, 1, 1, 2, 2, 3, 3],
    9: [0, 0, 1, 1, 2, 2, 3, 3, 3],
    10: [0, 0, 1, 1, 1, 2, 2, 3, 3, 3],
    12: [0, 0, 0, 1, 1, 1, 2, 2, 2, 3, 3, 3],
}


def closed_form(num_memories: int) -> list[int]:
    if num_memories <= NUM_SLOTS:
        return list(range(num_memories))
    t = num_memories
    return [NUM_SLOTS - 1 - (t - 1 - j) * NUM_SLOTS // t for j in range(t)]


def official_key_embedding(mem_pos_emb: torch.Tensor, num_memories: int) -> torch.Tensor:
    """The official operation on (slots, C) vectors: raw slots up to 4 memories, else linear to 4, flip,
    nearest to T, flip back."""
    if num_memories <= mem_pos_emb.shape[0]:
        return mem_pos_emb[:num_memories]
    channels = mem_pos_emb.shape[1]
    x = mem_pos_emb.permute(1, 0).reshape(1, channels, -1)
    x = F.interpolate(x, size=NUM_SLOTS, mode="linear", align_corners=True)
    x = torch.flip(x, dims=(-1,))
    x = F.interpolate(x, size=num_memories, mode="nearest")
    x = torch.flip(x, dims=(-1,))
    return x.view(channels, num_memories).permute(1, 0)


@pytest.mark.parametrize("num_memories", range(1, 21))
def test_slot_indices_follow_the_closed_form(num_memories):
    assert temporal_slot_indices(num_memories) == closed_form(num_memories)


@pytest.mark.parametrize("num_memories", sorted(OFFICIAL_TABLE))
def test_slot_indices_match_the_official_table(num_memories):
    assert temporal_slot_indices(num_memories) == OFFICIAL_TABLE[num_memories]


def test_oldest_keeps_slot_zero_and_newest_gets_the_last_slot():
    for t in range(5, 41):
        slots = temporal_slot_indices(t)
        assert slots[0] == 0 and slots[-1] == NUM_SLOTS - 1
        assert slots == sorted(slots) and set(slots) == set(range(NUM_SLOTS))


@pytest.mark.parametrize("num_memories", range(1, 21))
def test_key_embedding_equals_the_official_operation_bit_exactly(num_memories):
    one_hot_slots = torch.eye(NUM_SLOTS)
    official = official_key_embedding(one_hot_slots, num_memories)
    assert torch.equal(temporal_key_embedding(one_hot_slots, num_memories), official)
    assert official.argmax(dim=1).tolist() == closed_form(num_memories)
    learned = torch.randn(NUM_SLOTS, 128, generator=torch.Generator().manual_seed(num_memories))
    assert torch.equal(temporal_key_embedding(learned, num_memories), official_key_embedding(learned, num_memories))


def test_embedding_goes_to_keys_per_frame_and_the_query_gets_the_current_vector():
    generator = torch.Generator().manual_seed(0)
    frames, tokens, batch, channels = 6, 3, 2, 8
    keys = torch.randn(frames, tokens, batch, channels, generator=generator)
    query = torch.randn(tokens, batch, channels, generator=generator)
    temporal = torch.randn(1 + NUM_SLOTS, channels, generator=generator)
    new_query, flat_keys = add_temporal_embedding(query, keys, temporal)
    assert torch.equal(new_query, query + temporal[0])
    expected = torch.stack([keys[j] + temporal[1 + slot] for j, slot in enumerate([0, 1, 1, 2, 3, 3])])
    assert torch.equal(flat_keys, expected.flatten(0, 1))


def test_without_temporal_embedding_keys_are_only_flattened():
    keys = torch.randn(3, 4, 1, 8)
    query = torch.randn(4, 1, 8)
    new_query, flat_keys = add_temporal_embedding(query, keys, None)
    assert new_query is query
    assert torch.equal(flat_keys, keys.reshape(12, 1, 8))


@pytest.mark.parametrize(("att_heads", "key_width"), [(1, 128), (2, 256), (4, 256)])
def test_deaot_temporal_embedding_is_as_wide_as_its_long_term_keys(att_heads, key_width):
    """One head: 128-wide keys and embedding, as in the released R50-DeAOTL; several heads share the full
    256 channels, and the embedding follows them (it used to stay 128 wide and fail in the first frame)."""
    torch.manual_seed(0)
    cfg = ModelConfig(
        name="deaot_heads", family="deaot", encoder="mobilenetv2", num_layers=1, self_heads=1, att_heads=att_heads
    )
    model = build_model(cfg)
    assert model.mem_pos_emb.shape == (NUM_SLOTS, key_width) and model.cur_pos_emb.shape == (1, key_width)
    assert model.LSTT.layers[0].linear_QV.out_features == key_width + 512  # keys, then the values
    rng = np.random.default_rng(0)
    frames = [rng.integers(0, 255, (49, 65, 3), dtype=np.uint8) for _ in range(4)]
    mask = np.zeros((49, 65), np.uint8)
    mask[10:30, 10:30] = 1
    session = InferenceSession(model, long_term_gap=1)
    session.add_reference(frames[0], mask)
    for frame in frames[1:]:
        out = session.step(frame)
    assert session.memory_frames == [0, 1, 2, 3] and torch.isfinite(out.logits).all()
