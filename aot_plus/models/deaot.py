"""The DeAOT model (R50-DeAOTL): AOT with gated dual-branch propagation and a normalised ID embedding."""

from __future__ import annotations

from typing import ClassVar

import torch
from torch import nn

from .aot import AOT
from .config import ModelConfig
from .layers.deaot_block import DualBranchGPM, attention_dim


class DeAOT(AOT):
    """DeAOT. Shares everything with AOT except the propagation stack, the decoder input and ``id_norm``."""

    family: ClassVar[str] = "deaot"
    decodes_every_layer: ClassVar[bool] = False

    def __init__(self, cfg: ModelConfig):
        super().__init__(cfg)
        self.id_norm = nn.LayerNorm(cfg.embed_dim)

    @staticmethod
    def _build_propagation(cfg: ModelConfig) -> nn.Module:
        return DualBranchGPM(cfg.num_layers, cfg.embed_dim, cfg.self_heads, cfg.att_heads, cfg.droppath)

    @staticmethod
    def _decoder_in_dim(cfg: ModelConfig) -> int:
        return cfg.embed_dim * 2

    @staticmethod
    def _temporal_dim(cfg: ModelConfig) -> int:
        return attention_dim(cfg.embed_dim, cfg.att_heads) * cfg.att_heads

    def position_embedding(self, size_2d: tuple[int, int], batch: int, device: torch.device) -> None:
        """DeAOT's gated self-attention uses no spatial embedding."""
        return None

    def id_embedding(self, one_hot: torch.Tensor) -> torch.Tensor:
        return self.id_norm(super().id_embedding(one_hot))
