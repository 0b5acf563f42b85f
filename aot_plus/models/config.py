"""Model configuration: a dataclass filled from ``configs/models/<name>.yaml``."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..yaml_config import config_names, read_config


@dataclass(frozen=True)
class ModelConfig:
    """Architecture of an AOT-family model. Defaults are R50-AOTL with the RMem temporal embedding."""

    name: str = "r50_aotl"
    family: str = "aot"                 # "aot" (AOT+ blocks) or "deaot" (gated dual-branch blocks)
    encoder: str = "resnet50"           # "resnet50" or "mobilenetv2"
    num_layers: int = 3                 # propagation layers
    embed_dim: int = 256
    self_heads: int = 8
    att_heads: int = 8
    dim_feedforward: int = 1024         # AOT blocks only
    max_objects: int = 10               # objects per pass; the decoder outputs max_objects + 1 logits
    temporal_pe: bool = True            # RMem temporal positional embedding on long-term keys
    temporal_pe_slots: int = 4
    droppath: float = 0.1
    encoder_freeze_at: int = 2          # stem and stage 1 frozen

    def __post_init__(self) -> None:
        if self.family not in ("aot", "deaot"):
            raise ValueError(f"model {self.name!r}: family must be 'aot' or 'deaot', got {self.family!r}")

    @property
    def id_channels(self) -> int:
        """One-hot ids 0..max_objects plus the ignore channel."""
        return self.max_objects + 2

    @property
    def temporal_dim(self) -> int:
        """Key width of the long-term attention, where the temporal embedding is added."""
        return self.embed_dim // 2 if self.family == "deaot" else self.embed_dim


def available_models() -> list[str]:
    """Names of the model configs shipped in ``configs/models``."""
    return config_names("models")


def load_model_config(name_or_path: str | Path, **overrides: Any) -> ModelConfig:
    """Config by name (a file in ``configs/models``) or by path to a YAML file, with keyword overrides."""
    path, values = read_config(ModelConfig, "models", "model", name_or_path, **overrides)
    values.setdefault("name", path.stem)
    return ModelConfig(**values)
