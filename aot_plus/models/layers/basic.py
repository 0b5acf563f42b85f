"""Small convolutional blocks and tensor-layout helpers.

Token sequences are laid out (HW, B, C) with HW flattened row-major; 2-D maps are (B, C, h, w).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def seq_to_2d(x: torch.Tensor, size_2d: tuple[int, int]) -> torch.Tensor:
    """(HW, B, C) -> (B, C, h, w), a view: each token's channels stay together (channels-last memory).

    For one video the strides say so exactly, as oneDNN needs to take its channels-last kernels instead
    of reordering (a depthwise 5x5 convolution over 1024 channels: 3.5 -> 1.0 ms on a CPU).
    """
    h, w = size_2d
    _, batch, channels = x.shape
    if batch == 1:
        return x.view(1, h, w, channels).permute(0, 3, 1, 2)
    return x.view(h, w, batch, channels).permute(2, 3, 0, 1)


def map_to_seq(x: torch.Tensor) -> torch.Tensor:
    """(B, C, h, w) -> (HW, B, C)."""
    batch, channels, h, w = x.shape
    return x.view(batch, channels, h * w).permute(2, 0, 1)


class DropPath(nn.Module):
    """Stochastic depth: drops a whole residual branch per sample during training."""

    def __init__(self, drop_prob: float = 0.0, batch_dim: int = 0):
        super().__init__()
        self.drop_prob = drop_prob
        self.batch_dim = batch_dim

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.drop_prob == 0.0 or not self.training:
            return x
        keep_prob = 1.0 - self.drop_prob
        shape = [1] * x.ndim
        shape[self.batch_dim] = x.shape[self.batch_dim]
        keep = torch.rand(shape, dtype=x.dtype, device=x.device).add_(keep_prob).floor_()
        return x / keep_prob * keep


class GNActDWConv2d(nn.Module):
    """GroupNorm -> GELU -> depthwise 5x5 conv on a token sequence (the AOT feed-forward middle)."""

    def __init__(self, channels: int, gn_groups: int = 32):
        super().__init__()
        self.gn = nn.GroupNorm(gn_groups, channels)
        self.conv = nn.Conv2d(channels, channels, 5, padding=2, groups=channels, bias=False)

    def forward(self, x: torch.Tensor, size_2d: tuple[int, int]) -> torch.Tensor:
        x = self.conv(F.gelu(self.gn(seq_to_2d(x, size_2d))))
        return map_to_seq(x)


class DWConv2d(nn.Module):
    """Depthwise 5x5 conv with channel dropout on a token sequence (the DeAOT gate output)."""

    def __init__(self, channels: int, dropout: float = 0.1):
        super().__init__()
        self.conv = nn.Conv2d(channels, channels, 5, padding=2, groups=channels, bias=False)
        self.dropout = nn.Dropout2d(p=dropout)

    def forward(self, x: torch.Tensor, size_2d: tuple[int, int]) -> torch.Tensor:
        x = self.dropout(self.conv(seq_to_2d(x, size_2d)))
        return map_to_seq(x)


class ConvGN(nn.Module):
    """Conv (same padding) followed by GroupNorm."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, gn_groups: int = 8):
        super().__init__()
        self.conv = nn.Conv2d(in_channels, out_channels, kernel_size, padding=kernel_size // 2)
        self.gn = nn.GroupNorm(gn_groups, out_channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.gn(self.conv(x))


def xavier_init_matrices(module: nn.Module) -> None:
    """Xavier-uniform init of every parameter with two or more dimensions (the official scheme)."""
    for p in module.parameters():
        if p.dim() > 1:
            nn.init.xavier_uniform_(p)
