"""The AOT+ propagation stack (R50-AOTL and the AOT-T/S/B family): ``LongShortTermTransformer``.

Each layer: self-attention with the spatial sine embedding; long-term attention over the memory
frames (keys carry the RMem temporal embedding); short-term attention over the previous frame; a
depthwise-conv feed-forward. Memories are passed in and returned: the layers hold no state.

Memory entries per layer: long-term ``[K, V]`` each (T, HW, B, C); short-term ``[K, V]`` each (HW, B, C).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from .attention import MultiheadAttention, memory_attention_mass
from .basic import DropPath, GNActDWConv2d, xavier_init_matrices
from .position import temporal_key_embedding


@dataclass
class AOTLayerState:
    """What a layer computed for the current frame that a memory write needs."""

    key: torch.Tensor  # curr_K, (HW, B, C)
    value: torch.Tensor  # curr_V before the ID is added, (HW, B, C)
    short_key: torch.Tensor  # key of the short-term memory candidate
    short_value: torch.Tensor  # its value before the ID is added


def add_temporal_embedding(
    query: torch.Tensor, keys: torch.Tensor, temporal: torch.Tensor | None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Adds the RMem temporal embedding: ``temporal[0]`` to the query, a memory slot to each key frame.

    ``keys`` is (T, HW, B, C); returns the query and the keys flattened frame-major to (T*HW, B, C).
    """
    if temporal is None:
        return query, keys.flatten(0, 1)
    num_frames, _, _, channels = keys.shape
    slots = temporal_key_embedding(temporal[1:], num_frames)
    keys = keys + slots.view(num_frames, 1, 1, channels)
    return query + temporal[0].view(1, 1, channels), keys.flatten(0, 1)


class AOTBlock(nn.Module):
    """One AOT+ layer ("SimplifiedTransformerBlock" in the official code; names kept for checkpoints)."""

    def __init__(
        self,
        d_model: int = 256,
        self_heads: int = 8,
        att_heads: int = 8,
        dim_feedforward: int = 1024,
        droppath: float = 0.1,
    ):
        super().__init__()
        self.norm1 = nn.LayerNorm(d_model)
        self.self_attn = MultiheadAttention(d_model, self_heads)
        self.norm2 = nn.LayerNorm(d_model)
        self.linear_Q = nn.Linear(d_model, d_model)
        self.linear_V = nn.Linear(d_model, d_model)
        self.linear_QMem = nn.Linear(d_model, d_model)
        self.linear_VMem = nn.Linear(d_model, d_model)
        self.norm4 = nn.LayerNorm(d_model)
        # Present in the released checkpoints but never used by the forward pass.
        self.linear_KMem = nn.Linear(d_model, d_model)
        self.long_term_attn = MultiheadAttention(d_model, att_heads, use_linear=False)
        self.short_term_attn = MultiheadAttention(d_model, att_heads, use_linear=False)
        self.norm3 = nn.LayerNorm(d_model)
        self.linear1 = nn.Linear(d_model, dim_feedforward)
        self.activation = GNActDWConv2d(dim_feedforward)
        self.linear2 = nn.Linear(dim_feedforward, d_model)
        self.droppath = DropPath(droppath, batch_dim=1)
        xavier_init_matrices(self)

    def memory_entries(
        self, state: AOTLayerState, id_emb: torch.Tensor
    ) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
        """Long-term entry and short-term memory of this frame, given its ID embedding."""
        long_entry = [state.key, self.linear_V(state.value + id_emb)]
        short_entry = [state.short_key, self.linear_VMem(state.short_value + id_emb)]
        return long_entry, short_entry

    def long_term_attention_mass(
        self, state: AOTLayerState, long_keys: torch.Tensor, temporal: torch.Tensor | None
    ) -> torch.Tensor:
        """(B, HW, T): this frame's long-term attention summed over each of the memory frames ``long_keys``."""
        query, keys = add_temporal_embedding(state.key, long_keys, temporal)
        return memory_attention_mass(query, keys, self.long_term_attn.num_heads, long_keys.shape[0])

    def forward(
        self,
        tgt: torch.Tensor,
        long_memory: list[torch.Tensor] | None,
        short_memory: list[torch.Tensor] | None,
        id_emb: torch.Tensor | None,
        self_pos: torch.Tensor,
        size_2d: tuple[int, int],
        temporal: torch.Tensor | None,
    ) -> tuple[torch.Tensor, AOTLayerState]:
        x = self.norm1(tgt)
        q_self = x + self_pos
        tgt = tgt + self.droppath(self.self_attn(q_self, q_self, x))

        x = self.norm2(tgt)
        curr_q = self.linear_Q(x)
        curr_v = x
        if id_emb is not None:
            # Reference frame: it attends to itself as the only memory.
            ref_v = self.linear_V(curr_v + id_emb)
            long_k, long_v = curr_q[None], ref_v[None]
            short_k, short_v = curr_q, ref_v
        else:
            long_k, long_v = long_memory
            short_k, short_v = short_memory

        query, keys = add_temporal_embedding(curr_q, long_k, temporal)
        long_out = self.long_term_attn(query, keys, long_v.flatten(0, 1))
        short_out = self.short_term_attn(curr_q, self.norm4(short_k + curr_q), self.norm4(short_v + curr_v))

        new_short_key = self.linear_QMem(short_out)
        tgt = tgt + long_out + short_out
        tgt = tgt + self.droppath(self.linear2(self.activation(self.linear1(self.norm3(tgt)), size_2d)))
        state = AOTLayerState(key=curr_q, value=curr_v, short_key=new_short_key, short_value=short_out)
        return tgt, state


class LongShortTermTransformer(nn.Module):
    """Stack of AOT+ layers with LayerNorms on the outputs that feed the decoder."""

    def __init__(
        self,
        num_layers: int = 3,
        d_model: int = 256,
        self_heads: int = 8,
        att_heads: int = 8,
        dim_feedforward: int = 1024,
        droppath: float = 0.1,
        intermediate_norm: bool = True,
    ):
        super().__init__()
        self.layers = nn.ModuleList(
            [AOTBlock(d_model, self_heads, att_heads, dim_feedforward, droppath) for _ in range(num_layers)]
        )
        num_norms = num_layers if intermediate_norm else 1
        self.decoder_norms = nn.ModuleList([nn.LayerNorm(d_model) for _ in range(num_norms)])
        self.intermediate_norm = intermediate_norm

    def forward(
        self,
        tgt: torch.Tensor,
        long_memories,
        short_memories,
        id_emb: torch.Tensor | None,
        self_pos: torch.Tensor,
        size_2d: tuple[int, int],
        temporal: torch.Tensor | None,
    ):
        """Returns (decoder inputs, per-layer states)."""
        outputs, states = [], []
        for i, layer in enumerate(self.layers):
            tgt, state = layer(
                tgt,
                None if long_memories is None else long_memories[i],
                None if short_memories is None else short_memories[i],
                id_emb,
                self_pos,
                size_2d,
                temporal,
            )
            outputs.append(tgt)
            states.append(state)
        outputs[-1] = self.decoder_norms[-1](outputs[-1])
        if self.intermediate_norm:
            outputs[:-1] = [norm(out) for norm, out in zip(self.decoder_norms, outputs[:-1])]
        return outputs, states
