"""Model configuration: a dataclass filled from ``configs/models/<name>.yaml``."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..yaml_config import build_section, config_names, config_path, read_yaml


@dataclass(frozen=True)
class ModelConfig:
    """Architecture of an AOT-family model. Defaults are R50-AOTL with the RMem temporal embedding."""

    name: str = "r50_aotl"
    family: str = "aot"  # "aot" (AOT+ blocks, class AOT) or "deaot" (gated dual-branch, DeAOT)
    encoder: str = "resnet50"  # "resnet50" or "mobilenetv2"
    num_layers: int = 3  # propagation layers
    embed_dim: int = 256
    self_heads: int = 8
    att_heads: int = 8
    dim_feedforward: int = 1024  # AOT blocks only
    max_objects: int = 10  # objects per pass; the decoder outputs max_objects + 1 logits
    temporal_pe: bool = True  # RMem temporal positional embedding on long-term keys
    temporal_pe_slots: int = 4
    droppath: float = 0.1
    encoder_freeze_at: int = 2  # stem and stage 1 frozen
    memory_defaults: Mapping[str, Mapping[str, object]] = field(default_factory=dict)
    """Per memory policy name, the constants this model's official code uses where they differ from the
    policy's defaults (the restricted bank's ``update_before_full`` differs between AOT and DeAOT)."""

    @property
    def id_channels(self) -> int:
        """One-hot ids 0..max_objects plus the ignore channel."""
        return self.max_objects + 2


def available_models() -> list[str]:
    """Names of the model configs shipped in ``configs/models``."""
    return config_names("models")


def load_model_config(name_or_path: str | Path, **overrides: Any) -> ModelConfig:
    """Config by name (a file in ``configs/models``) or by path to a YAML file, with keyword overrides."""
    path = config_path("models", name_or_path)
    return build_section(ModelConfig, {"name": path.stem, **read_yaml(path), **overrides}, str(path))
