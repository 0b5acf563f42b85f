"""Normalisation layers."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class FrozenBatchNorm2d(nn.Module):
    """BatchNorm with fixed statistics and affine parameters, all stored as buffers.

    Matches the official checkpoints: four buffers, no ``num_batches_tracked``.
    """

    def __init__(self, num_features: int, eps: float = 1e-5):
        super().__init__()
        self.register_buffer("weight", torch.ones(num_features))
        self.register_buffer("bias", torch.zeros(num_features))
        self.register_buffer("running_mean", torch.zeros(num_features))
        self.register_buffer("running_var", torch.ones(num_features) - eps)
        self.eps = eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.requires_grad:
            # The fused op would also build gradients for the frozen buffers.
            scale, shift = self._scale_and_shift(self.weight.dtype)
            return x * scale.view(1, -1, 1, 1).to(x.dtype) + shift.view(1, -1, 1, 1).to(x.dtype)
        return F.batch_norm(
            x, self.running_mean, self.running_var, self.weight, self.bias, training=False, eps=self.eps
        )

    def _scale_and_shift(self, dtype: torch.dtype) -> tuple[torch.Tensor, torch.Tensor]:
        """``x * scale + shift`` is this layer, computed in ``dtype``."""
        weight, bias, mean, var = (t.to(dtype) for t in (self.weight, self.bias, self.running_mean, self.running_var))
        scale = weight * (var + self.eps).rsqrt()
        return scale, bias - mean * scale

    def folded_into(self, conv: nn.Conv2d) -> tuple[torch.Tensor, torch.Tensor]:
        """Weight and bias of one convolution equal to ``conv`` (bias-free) followed by this layer, for
        inference: ``conv(x, w * s) + (b - mean * s)`` with ``s = weight / sqrt(var + eps)``, folded in
        float64 and stored channels-last (the faster oneDNN layout). Not part of the state dict; rebuilt
        when any of the tensors it comes from is replaced or changed in place."""
        if conv.bias is not None:
            raise ValueError("only a bias-free convolution folds into a FrozenBatchNorm2d")
        sources = (conv.weight, self.weight, self.bias, self.running_mean, self.running_var)
        key = tuple((id(t), t._version) for t in sources)
        cached = self.__dict__.get("_folded")
        if cached is None or cached[0] != key:
            with torch.no_grad():
                scale, shift = self._scale_and_shift(torch.float64)
                weight = (conv.weight.double() * scale.view(-1, 1, 1, 1)).to(conv.weight.dtype)
                bias = shift.to(self.bias.dtype)
            cached = (key, weight.contiguous(memory_format=torch.channels_last), bias)
            self.__dict__["_folded"] = cached
        return cached[1], cached[2]


class GroupNorm1D(nn.Module):
    """GroupNorm over the channels of a token sequence laid out (L, B, C)."""

    def __init__(self, channels: int, groups: int):
        super().__init__()
        self.gn = nn.GroupNorm(groups, channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.gn(x.permute(1, 2, 0)).permute(2, 0, 1)
