"""Attention modules of the AOT ("AOT+") and DeAOT propagation layers.

Attention runs through ``F.scaled_dot_product_attention``, except DeAOT's gated attention, whose values
are eight times wider than its keys (two GEMMs are faster there). The RMem eviction score needs how much
attention each query pays to each long-term memory frame; ``memory_attention_mass`` computes it, when
a memory write asks for it, with an SDPA call whose values are frame-membership indicators, so the
full attention matrix is never materialised.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .basic import DWConv2d, xavier_init_matrices


def _split_heads(x: torch.Tensor, num_heads: int) -> torch.Tensor:
    """(L, B, H*D) -> (B, H, L, D)."""
    length, batch, _ = x.shape
    return x.view(length, batch, num_heads, -1).permute(1, 2, 0, 3)


def _merge_heads(x: torch.Tensor) -> torch.Tensor:
    """(B, H, L, D) -> (L, B, H*D)."""
    batch, heads, length, dim = x.shape
    return x.permute(2, 0, 1, 3).reshape(length, batch, heads * dim)


def _sdpa(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, dropout: float) -> torch.Tensor:
    return F.scaled_dot_product_attention(q, k, v, dropout_p=dropout)


def _matmul_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, dropout: float) -> torch.Tensor:
    """softmax(q k^T / sqrt(d)) v with two GEMMs: faster than the fused fp32 kernels when values are much
    wider than keys (DeAOT: 128-wide keys, 1024-wide values). The queries are scaled, not the scores (as
    the official code's explicit path does): one pass over the (queries x keys) matrix fewer, ~10% of the
    long-term attention at VOST's 1040x585 input on a CPU."""
    attn = torch.softmax((q / q.shape[-1] ** 0.5) @ k.transpose(-2, -1), dim=-1)
    return F.dropout(attn, dropout) @ v


def memory_attention_mass(query: torch.Tensor, keys: torch.Tensor, num_heads: int, num_frames: int) -> torch.Tensor:
    """Attention of every query summed over the keys of each memory frame, averaged over heads.

    ``query`` (L, B, H*D) and ``keys`` (T*HW, B, H*D) laid out frame-major, as the attention saw them.
    Returns (B, L, T); each row sums to one.
    """
    q, k = _split_heads(query, num_heads), _split_heads(keys, num_heads)
    batch, heads, num_keys, head_dim = k.shape
    tokens = num_keys // num_frames
    frame_of_key = torch.arange(num_frames, device=k.device).repeat_interleave(tokens)
    # Zero columns up to the key width let SDPA use its fused kernels instead of materialising the
    # (queries x keys) attention matrix.
    width = max(num_frames, head_dim)
    indicator = F.one_hot(frame_of_key, width).to(q.dtype)
    indicator = indicator.expand(batch, heads, num_keys, width)
    return F.scaled_dot_product_attention(q, k, indicator)[..., :num_frames].mean(dim=1)


class MultiheadAttention(nn.Module):
    """Multi-head attention on (L, B, C) sequences, with optional input linears and an output projection."""

    def __init__(self, d_model: int, num_heads: int = 8, dropout: float = 0.0, use_linear: bool = True):
        super().__init__()
        self.d_model = d_model
        self.num_heads = num_heads
        self.use_linear = use_linear
        if use_linear:
            self.linear_Q = nn.Linear(d_model, d_model)
            self.linear_K = nn.Linear(d_model, d_model)
            self.linear_V = nn.Linear(d_model, d_model)
        self.dropout = dropout
        self.projection = nn.Linear(d_model, d_model)
        xavier_init_matrices(self)

    def forward(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        if self.use_linear:
            q, k, v = self.linear_Q(q), self.linear_K(k), self.linear_V(v)
        q, k, v = (_split_heads(x, self.num_heads) for x in (q, k, v))
        dropout = self.dropout if self.training else 0.0
        return self.projection(_merge_heads(_sdpa(q, k, v, dropout)))


class GatedPropagation(nn.Module):
    """DeAOT's gated attention: attention output times a gate U, then a depthwise conv and projection."""

    def __init__(
        self,
        d_qk: int,
        d_vu: int,
        num_heads: int = 8,
        dropout: float = 0.0,
        use_linear: bool = True,
        d_att: int | None = None,
        expand_ratio: float = 2.0,
    ):
        super().__init__()
        self.expand_d_vu = int(d_vu * expand_ratio)
        self.d_vu = d_vu
        self.num_heads = num_heads
        self.d_att = d_qk // num_heads if d_att is None else d_att
        self.use_linear = use_linear
        if use_linear:
            half = self.expand_d_vu // 2
            self.linear_QK = nn.Linear(d_qk, self.d_att * num_heads)
            self.linear_V1 = nn.Linear(d_vu // 2, half)
            self.linear_V2 = nn.Linear(d_vu // 2, half)
            self.linear_U1 = nn.Linear(d_vu // 2, half)
            self.linear_U2 = nn.Linear(d_vu // 2, half)
        self.dropout = dropout
        self.dw_conv = DWConv2d(self.expand_d_vu)
        self.projection = nn.Linear(self.expand_d_vu, d_vu)
        xavier_init_matrices(self)

    def _interleave_halves(self, x1: torch.Tensor, x2: torch.Tensor) -> torch.Tensor:
        # With several heads, each head gets one part of each half.
        if self.num_heads == 1:
            return torch.cat([x1, x2], dim=-1)
        length, batch, _ = x1.shape
        x1 = x1.view(length, batch, self.num_heads, -1)
        x2 = x2.view(length, batch, self.num_heads, -1)
        return torch.cat([x1, x2], dim=-1).view(length, batch, -1)

    def forward(
        self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, u: torch.Tensor, size_2d: tuple[int, int]
    ) -> torch.Tensor:
        if self.use_linear:
            q = k = self.linear_QK(q)
            v1, v2 = torch.split(v, self.d_vu // 2, dim=-1)
            v = F.silu(self._interleave_halves(self.linear_V1(v1), self.linear_V2(v2)))
            u1, u2 = torch.split(u, self.d_vu // 2, dim=-1)
            u = F.silu(self._interleave_halves(self.linear_U1(u1), self.linear_U2(u2)))
        q, k, v = (_split_heads(x, self.num_heads) for x in (q, k, v))
        dropout = self.dropout if self.training else 0.0
        out = _merge_heads(_matmul_attention(q, k, v, dropout)) * u
        return self.projection(self.dw_conv(out, size_2d))


class LocalGatedPropagation(nn.Module):
    """DeAOT's short-term attention: each query attends to a (2*max_dis+1)^2 window of the previous frame.

    Pure PyTorch. The window scores are gathered from the full query-key product: one matmul is far
    cheaper than the official ``F.unfold`` of the keys (a 225-fold copy of them), and gives the same
    scores up to float32 rounding. Out-of-image offsets get -1e8 (so their softmax weight is exactly
    zero), which lets the aggregation be a dense matmul over a sparse matrix.
    """

    def __init__(
        self,
        d_qk: int,
        d_vu: int,
        num_heads: int = 1,
        dropout: float = 0.0,
        max_dis: int = 7,
        d_att: int | None = None,
        expand_ratio: float = 2.0,
    ):
        super().__init__()
        self.expand_d_vu = int(d_vu * expand_ratio)
        self.max_dis = max_dis
        self.window = 2 * max_dis + 1
        self.num_heads = num_heads
        self.d_att = d_qk // num_heads if d_att is None else d_att
        self.relative_emb_k = nn.Conv2d(
            self.d_att * num_heads, num_heads * self.window**2, kernel_size=1, groups=num_heads
        )
        self.dw_conv = DWConv2d(self.expand_d_vu)
        self.projection = nn.Linear(self.expand_d_vu, d_vu)
        self.dropout = nn.Dropout(dropout)
        self._geometry_cache: dict[tuple, tuple[torch.Tensor, torch.Tensor]] = {}

    def _geometry(self, h: int, w: int, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
        """Out-of-image mask (window^2, hw) and the key index of each (offset, query) pair."""
        key = (h, w, device)
        if key not in self._geometry_cache:
            d = self.max_dis
            offsets = torch.arange(-d, d + 1, device=device)
            qy, qx = torch.meshgrid(torch.arange(h, device=device), torch.arange(w, device=device), indexing="ij")
            ky = qy.reshape(1, 1, -1) + offsets.view(-1, 1, 1)
            kx = qx.reshape(1, 1, -1) + offsets.view(1, -1, 1)
            inside = (ky >= 0) & (ky < h) & (kx >= 0) & (kx < w)
            key_index = (ky.clamp(0, h - 1) * w + kx.clamp(0, w - 1)).reshape(self.window**2, h * w)
            self._geometry_cache[key] = (~inside.reshape(self.window**2, h * w), key_index)
        return self._geometry_cache[key]

    def forward(
        self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, u: torch.Tensor, size_2d: tuple[int, int]
    ) -> torch.Tensor:
        """q, k: (B, d_att*H, h, w); v: (B, C_v, h, w); u: (hw, B, C_v). Returns (hw, B, d_vu)."""
        batch, _, h, w = v.shape
        outside, key_index = self._geometry(h, w, v.device)
        relative = self.relative_emb_k(q).view(batch, self.num_heads, self.window**2, h * w)
        q = (q / self.d_att**0.5).reshape(batch * self.num_heads, self.d_att, h * w)
        k = k.reshape(batch * self.num_heads, self.d_att, h * w)
        every_pair = q.transpose(1, 2) @ k  # (B*H, query, key)
        windows = key_index.t().expand(batch * self.num_heads, h * w, self.window**2)
        scores = every_pair.gather(2, windows).transpose(1, 2).reshape(batch, self.num_heads, self.window**2, h * w)
        scores = scores + relative
        scores = scores.masked_fill(outside, -1e8 if scores.dtype == torch.float32 else -1e4)
        attn = self.dropout(torch.softmax(scores, dim=2))
        # Dense (hw x hw) attention: out-of-image offsets carry weight 0 and land on clamped indices.
        dense = attn.new_zeros(batch, self.num_heads, h * w, h * w)
        index = key_index.t().expand(batch, self.num_heads, h * w, self.window**2)
        dense.scatter_add_(3, index, attn.transpose(2, 3))
        values = v.view(batch, self.num_heads, -1, h * w).transpose(2, 3)
        out = _merge_heads(dense @ values) * u
        return self.projection(self.dw_conv(out, size_2d))
