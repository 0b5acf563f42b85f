"""The DeAOT model (R50-DeAOTL): AOT with gated dual-branch propagation and a normalised ID embedding."""
from __future__ import annotations

import torch
from torch import nn

from .aot import AOT
from .config import ModelConfig
from .layers.basic import map_to_seq
from .layers.deaot_block import DualBranchGPM


class DeAOT(AOT):
    """DeAOT. Shares everything with AOT except the propagation stack, the decoder input and ``id_norm``."""

    def __init__(self, cfg: ModelConfig):
        super().__init__(cfg)
        self.id_norm = nn.LayerNorm(cfg.embed_dim)

    @staticmethod
    def _build_propagation(cfg: ModelConfig) -> nn.Module:
        return DualBranchGPM(cfg.num_layers, cfg.embed_dim, cfg.self_heads, cfg.att_heads, cfg.droppath)

    @staticmethod
    def _decoder_in_dim(cfg: ModelConfig) -> int:
        return cfg.embed_dim * 2

    def id_embedding(self, one_hot: torch.Tensor) -> torch.Tensor:
        return self.id_norm(map_to_seq(self.patch_wise_id_bank(one_hot)))
