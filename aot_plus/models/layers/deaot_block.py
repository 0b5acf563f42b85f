"""The DeAOT propagation stack (R50-DeAOTL): ``DualBranchGPM``.

Each layer keeps two branches, visual and identity. Long-term gated attention over the memory frames
(keys carry the RMem temporal embedding), short-term gated attention in a 15x15 window of the
previous frame, and gated self-attention. Memories are passed in and returned: no layer state.

Memory entries per layer: ``[K (·, HW, B, 128), V (·, HW, B, 1024)]``, where V holds the visual value
(512) and then the ID value (512), the values the attention reads side by side: joined once when a frame
is written, not at every read of the whole bank. Long-term entries are stacked over T frames, the
short-term memory is the previous frame's entry.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from .aot_block import add_temporal_embedding
from .attention import GatedPropagation, LocalGatedPropagation, memory_attention_mass
from .basic import DropPath, seq_to_2d, xavier_init_matrices
from .normalization import GroupNorm1D


def attention_dim(d_model: int, att_heads: int) -> int:
    """Query and key width per head of DeAOT's attention: half the model width with one head (the released
    models), an equal share of it with several."""
    return d_model // 2 if att_heads == 1 else d_model // att_heads


@dataclass
class DeAOTLayerState:
    """What a layer computed for the current frame that a memory write needs."""

    key: torch.Tensor  # (HW, B, d_att)
    value: torch.Tensor  # (HW, B, 2*d_model)
    id_value_input: torch.Tensor | None  # normalised ID branch input (None in layer 0)


class GatedPropagationModule(nn.Module):
    """One DeAOT layer (names kept for the official checkpoints)."""

    def __init__(
        self,
        d_model: int = 256,
        self_heads: int = 1,
        att_heads: int = 1,
        droppath: float = 0.1,
        layer_idx: int = 0,
        max_local_dis: int = 7,
        expand_ratio: float = 2.0,
    ):
        super().__init__()
        expand_d = int(d_model * expand_ratio)
        self.d_model = d_model
        self.expand_d_model = expand_d
        self.d_att = attention_dim(d_model, att_heads)
        self.att_heads = att_heads
        self.layer_idx = layer_idx

        self.norm1 = nn.LayerNorm(d_model)
        self.linear_QV = nn.Linear(d_model, self.d_att * att_heads + expand_d)
        self.linear_U = nn.Linear(d_model, expand_d)
        if layer_idx == 0:
            self.linear_ID_V = nn.Linear(d_model, expand_d)
        else:
            self.id_norm1 = nn.LayerNorm(d_model)
            self.linear_ID_V = nn.Linear(d_model * 2, expand_d)
            self.linear_ID_U = nn.Linear(d_model, expand_d)
        self.long_term_attn = GatedPropagation(
            d_model, d_model * 2, att_heads, use_linear=False, d_att=self.d_att, expand_ratio=expand_ratio
        )
        self.short_term_attn = LocalGatedPropagation(
            d_model, d_model * 2, att_heads, max_dis=max_local_dis, d_att=self.d_att, expand_ratio=expand_ratio
        )
        self.norm2 = nn.LayerNorm(d_model)
        self.id_norm2 = nn.LayerNorm(d_model)
        self.self_attn = GatedPropagation(d_model * 2, d_model * 2, self_heads, d_att=self.d_att)
        self.droppath = DropPath(droppath, batch_dim=1)
        xavier_init_matrices(self)

    def fuse_id(self, id_value_input: torch.Tensor | None, id_emb: torch.Tensor) -> torch.Tensor:
        """ID value of a memory entry: the ID embedding, fused with the layer's ID branch after layer 0."""
        if id_value_input is None:
            return F.silu(self.linear_ID_V(id_emb))
        return F.silu(self.linear_ID_V(torch.cat([id_value_input, id_emb], dim=2)))

    def memory_entries(
        self, state: DeAOTLayerState, id_emb: torch.Tensor
    ) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
        """Long-term entry and short-term memory of this frame (the same tensors in DeAOT)."""
        entry = [state.key, torch.cat([state.value, self.fuse_id(state.id_value_input, id_emb)], dim=-1)]
        return entry, entry

    def long_term_attention_mass(
        self, state: DeAOTLayerState, long_keys: torch.Tensor, temporal: torch.Tensor | None
    ) -> torch.Tensor:
        """(B, HW, T): this frame's long-term attention summed over each of the memory frames ``long_keys``."""
        query, keys = add_temporal_embedding(state.key, long_keys, temporal)
        return memory_attention_mass(query, keys, self.att_heads, long_keys.shape[0])

    def forward(
        self,
        tgt: torch.Tensor,
        tgt_id: torch.Tensor | None,
        long_memory,
        short_memory,
        id_emb: torch.Tensor | None,
        size_2d: tuple[int, int],
        temporal: torch.Tensor | None,
    ):
        x = self.norm1(tgt)
        curr_q, curr_v = torch.split(self.linear_QV(x), [self.d_att * self.att_heads, self.expand_d_model], dim=2)
        curr_v = F.silu(curr_v)
        curr_u = self.linear_U(x)
        if tgt_id is None:
            gate = torch.cat([F.silu(curr_u), torch.ones_like(curr_u)], dim=-1)
            id_value_input = None
        else:
            id_value_input = self.id_norm1(tgt_id)
            gate = F.silu(torch.cat([curr_u, self.linear_ID_U(id_value_input)], dim=-1))

        state = DeAOTLayerState(key=curr_q, value=curr_v, id_value_input=id_value_input)
        if id_emb is not None:
            # Reference frame: it attends to itself as the only memory.
            entry, _ = self.memory_entries(state, id_emb)
            long_memory = [t[None] for t in entry]
            short_memory = entry
        long_k, long_v = long_memory
        short_k, short_v = short_memory

        query, keys = add_temporal_embedding(curr_q, long_k, temporal)
        long_out = self.long_term_attn(query, keys, long_v.flatten(0, 1), gate, size_2d)
        short_out = self.short_term_attn(
            seq_to_2d(curr_q, size_2d), seq_to_2d(short_k, size_2d), seq_to_2d(short_v, size_2d), gate, size_2d
        )

        long_vis, long_id = torch.split(long_out, self.d_model, dim=-1)
        short_vis, short_id = torch.split(short_out, self.d_model, dim=-1)
        tgt = tgt + (long_vis + short_vis)
        tgt_id = (long_id + short_id) if tgt_id is None else tgt_id + (long_id + short_id)

        x = torch.cat([self.norm2(tgt), self.id_norm2(tgt_id)], dim=-1)
        self_out = self.self_attn(x, x, x, x, size_2d)
        self_vis, self_id = torch.split(self_out, self.d_model, dim=-1)
        tgt = tgt + self.droppath(self_vis)
        tgt_id = tgt_id + self.droppath(self_id)
        return tgt, tgt_id, state


class DualBranchGPM(nn.Module):
    """Stack of DeAOT layers; the final visual+ID output is group-normalised for the decoder."""

    def __init__(
        self, num_layers: int = 3, d_model: int = 256, self_heads: int = 1, att_heads: int = 1, droppath: float = 0.1
    ):
        super().__init__()
        self.layers = nn.ModuleList(
            [GatedPropagationModule(d_model, self_heads, att_heads, droppath, layer_idx=i) for i in range(num_layers)]
        )
        self.decoder_norms = nn.ModuleList([GroupNorm1D(d_model * 2, groups=2)])

    def forward(
        self,
        tgt: torch.Tensor,
        long_memories,
        short_memories,
        id_emb: torch.Tensor | None,
        self_pos: torch.Tensor | None,
        size_2d: tuple[int, int],
        temporal: torch.Tensor | None,
    ):
        """Returns (decoder inputs, per-layer states). ``self_pos`` is unused."""
        tgt_id, states = None, []
        for i, layer in enumerate(self.layers):
            tgt, tgt_id, state = layer(
                tgt,
                tgt_id,
                None if long_memories is None else long_memories[i],
                None if short_memories is None else short_memories[i],
                id_emb,
                size_2d,
                temporal,
            )
            states.append(state)
        return [self.decoder_norms[0](torch.cat([tgt, tgt_id], dim=2))], states
