"""Spatial (sine) and temporal (RMem) position embeddings."""

from __future__ import annotations

import math

import torch


def sine_position_embedding(
    h: int, w: int, channels: int = 256, temperature: float = 10000.0, device: torch.device | None = None
) -> torch.Tensor:
    """DETR-style normalised sine embedding of an h x w grid, shape (1, channels, h, w).

    The first half of the channels encodes the row, the second half the column; each half interleaves
    sin and cos of the coordinate scaled to [0, 2*pi].
    """
    half = channels // 2
    eps = 1e-6
    ys = torch.arange(h, device=device, dtype=torch.float32)
    xs = torch.arange(w, device=device, dtype=torch.float32)
    # Normalise by the last index (h-1, w-1), as the official code does.
    ys = ys / (ys[-1:] + eps) * (2 * math.pi)
    xs = xs / (xs[-1:] + eps) * (2 * math.pi)
    dim_t = torch.arange(half, device=device, dtype=torch.float32)
    dim_t = temperature ** (2 * torch.div(dim_t, 2, rounding_mode="trunc") / half)

    def encode(coord: torch.Tensor) -> torch.Tensor:
        p = coord[:, None] / dim_t
        return torch.stack((p[:, 0::2].sin(), p[:, 1::2].cos()), dim=2).flatten(1)

    pos_y = encode(ys)[:, None, :].expand(h, w, half)
    pos_x = encode(xs)[None, :, :].expand(h, w, half)
    return torch.cat((pos_y, pos_x), dim=2).permute(2, 0, 1).unsqueeze(0)


def temporal_slot_indices(num_memories: int, num_slots: int = 4) -> list[int]:
    """Which learned memory slot each long-term memory entry (oldest first) uses.

    Up to ``num_slots`` entries use the slots one to one. Beyond that, the official code flips the
    slots in time, nearest-upsamples them to the memory length and flips back, so the oldest entry
    keeps slot 0 and the newest entries share the last slot.
    """
    if num_memories <= num_slots:
        return list(range(num_memories))
    t = num_memories
    return [num_slots - 1 - ((t - 1 - j) * num_slots) // t for j in range(t)]


def temporal_key_embedding(mem_pos_emb: torch.Tensor, num_memories: int) -> torch.Tensor:
    """Per-entry temporal embedding added to the long-term keys, shape (T, C)."""
    slots = temporal_slot_indices(num_memories, mem_pos_emb.shape[0])
    # Slots are non-decreasing: repeat each one, without an index tensor (no host-to-device copy).
    counts = [slots.count(i) for i in range(mem_pos_emb.shape[0])]
    return torch.cat([mem_pos_emb[i : i + 1].expand(n, -1) for i, n in enumerate(counts) if n])
