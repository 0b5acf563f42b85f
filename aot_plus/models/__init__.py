"""AOT-family models built from ``configs/models/*.yaml``."""
from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

from .aot import AOT, Propagation
from .config import ModelConfig, available_models, load_model_config
from .deaot import DeAOT


def build_model(name: str | Path | ModelConfig, **overrides: Any) -> AOT:
    """Model by config name (``r50_aotl``, ``r50_deaotl``, ``aott``...), YAML path or ``ModelConfig``.

    Keyword overrides replace config fields, e.g. ``build_model("r50_aotl", temporal_pe=False)``.
    """
    if isinstance(name, ModelConfig):
        cfg = replace(name, **overrides)
    else:
        cfg = load_model_config(name, **overrides)
    return DeAOT(cfg) if cfg.family == "deaot" else AOT(cfg)


__all__ = ["AOT", "DeAOT", "ModelConfig", "Propagation", "available_models", "build_model", "load_model_config"]
