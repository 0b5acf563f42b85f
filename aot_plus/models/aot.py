"""The AOT model (R50-AOTL and AOT-T/S/B): encoder, ID bank, propagation stack and decoder.

The model is stateless: the memories it reads and writes are passed in and returned, so one model can
serve many inference sessions (see ``aot_plus.inference``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch
import torch.nn.functional as F
from torch import nn

from ..labels import IGNORE_ID
from .config import ModelConfig
from .decoders import FPNSegmentationHead
from .encoders import ENCODER_DIMS, build_encoder
from .layers.aot_block import LongShortTermTransformer
from .layers.basic import map_to_seq, seq_to_2d
from .layers.position import sine_position_embedding

# A list over layers of memory fields (tensors).
LayerMemories = list[list[torch.Tensor]]


@dataclass
class Propagation:
    """Result of propagating the memories to one frame."""

    decoder_inputs: list[torch.Tensor]  # propagation outputs fed to the decoder, (HW, B, C) each
    layer_states: list  # per layer, what a memory write of this frame needs
    size_2d: tuple[int, int]  # the token grid (h, w)


def mask_unused_slots(logits: torch.Tensor, num_objects: torch.Tensor | int) -> torch.Tensor:
    """``logits`` (B, max_objects + 1, H, W) with the slots above the object count (per sample, or one
    count for all) set to a value whose probability is 0 (-1e10; -1e4 in half precision), as the
    official engine does."""
    slots = torch.arange(logits.shape[1], device=logits.device)
    if isinstance(num_objects, int):
        unused = (slots > num_objects)[None]
    else:
        unused = slots[None, :] > num_objects.to(logits.device)[:, None]
    fill = -1e10 if logits.dtype == torch.float32 else -1e4
    return logits.masked_fill(unused[:, :, None, None], fill)


class AOT(nn.Module):
    """AOT with AOT+ propagation layers. Module names follow the official checkpoints."""

    family: ClassVar[str] = "aot"
    """The ``family`` of the model configs this class builds."""
    decodes_every_layer: ClassVar[bool] = True
    """The decoder reads the output of every propagation layer (DeAOT: only the last one)."""

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        if cfg.family != self.family:
            raise ValueError(
                f"model {cfg.name!r} is of family {cfg.family!r}; {type(self).__name__} builds "
                f"{self.family!r} models (use build_model)"
            )
        self.cfg = cfg
        encoder_dims = ENCODER_DIMS[cfg.encoder]
        self.encoder = build_encoder(cfg.encoder, freeze_at=cfg.encoder_freeze_at)
        self.encoder_projector = nn.Conv2d(encoder_dims[-1], cfg.embed_dim, kernel_size=1)
        self.LSTT = self._build_propagation(cfg)
        self.decoder = FPNSegmentationHead(
            self._decoder_in_dim(cfg),
            cfg.max_objects + 1,
            decode_intermediate_input=self.decodes_every_layer,
            hidden_dim=cfg.embed_dim,
            shortcut_dims=encoder_dims,
            align_corners=True,
        )
        # kernel 17 / stride 16 / padding 8 maps a 16k+1 input exactly onto the k+1 token grid.
        self.patch_wise_id_bank = nn.Conv2d(cfg.id_channels, cfg.embed_dim, kernel_size=17, stride=16, padding=8)
        self._init_weights()
        if cfg.temporal_pe:
            self.cur_pos_emb = nn.Parameter(torch.empty(1, self._temporal_dim(cfg)))
            self.mem_pos_emb = nn.Parameter(torch.empty(cfg.temporal_pe_slots, self._temporal_dim(cfg)))
            nn.init.trunc_normal_(self.cur_pos_emb, std=0.05, a=-2.0, b=2.0)
            nn.init.trunc_normal_(self.mem_pos_emb, std=0.05, a=-2.0, b=2.0)

    @staticmethod
    def _build_propagation(cfg: ModelConfig) -> nn.Module:
        return LongShortTermTransformer(
            cfg.num_layers,
            cfg.embed_dim,
            cfg.self_heads,
            cfg.att_heads,
            cfg.dim_feedforward,
            cfg.droppath,
            intermediate_norm=True,
        )

    @staticmethod
    def _decoder_in_dim(cfg: ModelConfig) -> int:
        return cfg.embed_dim * (cfg.num_layers + 1)

    @staticmethod
    def _temporal_dim(cfg: ModelConfig) -> int:
        """Key width of the long-term attention, where the temporal embedding is added."""
        return cfg.embed_dim

    def _init_weights(self) -> None:
        nn.init.xavier_uniform_(self.encoder_projector.weight)
        nn.init.orthogonal_(self.patch_wise_id_bank.weight.view(self.cfg.embed_dim, -1), gain=17**-2)

    def encode_image(self, images: torch.Tensor) -> list[torch.Tensor]:
        """Encoder features at strides 4, 8, 16 and the projected stride-16 embedding (B, C, h, w)."""
        features = self.encoder(images)
        return features[:-1] + [self.encoder_projector(features[-1])]

    def one_hot_ids(self, label: torch.Tensor, use_ignore: bool = True, num_ids: int | None = None) -> torch.Tensor:
        """(B, 1, H, W) object indices -> (B, num_ids + 1, H, W): one-hot ids 0..num_ids - 1, then ignore.

        ``num_ids`` defaults to every id (max_objects + 1); fewer suit a label whose indices are all below
        it (see ``id_embedding``). Ignore pixels (255) clear the background channel and set the ignore
        channel; with ``use_ignore=False`` (a reference frame, officially) the ignore channel stays empty.
        """
        num_ids = self.cfg.max_objects + 1 if num_ids is None else num_ids
        if not 1 <= num_ids <= self.cfg.max_objects + 1:
            raise ValueError(f"num_ids must be in 1..{self.cfg.max_objects + 1}, got {num_ids}")
        ids = torch.arange(num_ids, device=label.device).view(1, -1, 1, 1)
        one_hot = (label == ids).float()
        if not use_ignore:
            return torch.cat([one_hot, torch.zeros_like(one_hot[:, :1])], dim=1)
        ignore = (label == IGNORE_ID).float()
        one_hot[:, :1] *= 1 - ignore
        return torch.cat([one_hot, ignore], dim=1)

    def id_embedding(self, one_hot: torch.Tensor) -> torch.Tensor:
        """ID embedding (HW, B, C) of a (B, k + 1, H, W) one-hot mask at input resolution: ids 0..k - 1,
        then ignore (``one_hot_ids``).

        With fewer ids than max_objects + 1 only their weights are convolved: the ids left out would be
        all-zero channels, which add nothing to the sums (2 objects of 10: a quarter of the work).
        """
        bank = self.patch_wise_id_bank
        if one_hot.shape[1] == bank.in_channels:
            return map_to_seq(bank(one_hot))
        weight = torch.cat([bank.weight[:, : one_hot.shape[1] - 1], bank.weight[:, -1:]], dim=1)
        return map_to_seq(F.conv2d(one_hot, weight, bank.bias, bank.stride, bank.padding))

    def position_embedding(self, size_2d: tuple[int, int], batch: int, device: torch.device) -> torch.Tensor | None:
        """Spatial sine embedding of the token grid for the self-attention, (HW, B, C)."""
        pos = sine_position_embedding(*size_2d, channels=self.cfg.embed_dim, device=device)
        return map_to_seq(pos).expand(-1, batch, -1)

    def temporal_encoding(self) -> torch.Tensor | None:
        """Rows: the current-frame vector, then the memory slots; None without the temporal embedding."""
        if not self.cfg.temporal_pe:
            return None
        return torch.cat([self.cur_pos_emb, self.mem_pos_emb], dim=0)

    def propagate(
        self,
        embedding: torch.Tensor,
        long_memories: LayerMemories | None,
        short_memories: LayerMemories | None,
        id_emb: torch.Tensor | None = None,
        self_pos: torch.Tensor | None = None,
    ) -> Propagation:
        """Runs the propagation layers on a frame's projected embedding (B, C, h, w).

        With ``id_emb`` the frame is a reference frame that attends to itself; otherwise it reads the
        given long-term memories (per layer, fields (T, HW, B, C)) and short-term memories. ``self_pos``
        is ``position_embedding`` of the token grid, computed here when not given.
        """
        size_2d = tuple(embedding.shape[-2:])
        if self_pos is None:
            self_pos = self.position_embedding(size_2d, embedding.shape[0], embedding.device)
        outputs, states = self.LSTT(
            map_to_seq(embedding), long_memories, short_memories, id_emb, self_pos, size_2d, self.temporal_encoding()
        )
        return Propagation(outputs, states, size_2d)

    def long_term_attention_mass(self, propagation: Propagation, long_keys: torch.Tensor) -> torch.Tensor:
        """(B, HW, T): how much of the propagated frame's layer-0 long-term attention went to each of the
        memory frames whose keys (layer 0, field 0 of the bank, (T, HW, B, C)) it read."""
        return self.LSTT.layers[0].long_term_attention_mass(
            propagation.layer_states[0], long_keys, self.temporal_encoding()
        )

    def memory_entries(self, propagation: Propagation, id_emb: torch.Tensor) -> tuple[LayerMemories, LayerMemories]:
        """Long-term entries and short-term memories of a propagated frame, given its ID embedding."""
        pairs = [
            layer.memory_entries(state, id_emb) for layer, state in zip(self.LSTT.layers, propagation.layer_states)
        ]
        return [p[0] for p in pairs], [p[1] for p in pairs]

    def decode(self, propagation: Propagation, features: list[torch.Tensor]) -> torch.Tensor:
        """Identity logits (B, max_objects + 1, H/4, W/4)."""
        size_2d = tuple(features[-1].shape[-2:])
        inputs = [features[-1]] + [seq_to_2d(x, size_2d) for x in propagation.decoder_inputs]
        return self.decoder(inputs, features)
