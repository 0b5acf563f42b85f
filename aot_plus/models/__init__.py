"""AOT-family models built from ``configs/models/*.yaml``."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

from .aot import AOT, Propagation, mask_unused_slots
from .config import ModelConfig, available_models, load_model_config
from .deaot import DeAOT

MODEL_CLASSES: dict[str, type[AOT]] = {model_class.family: model_class for model_class in (AOT, DeAOT)}
"""Model family (``family`` in configs/models) -> the class that builds it."""


def build_model(name: str | Path | ModelConfig, **overrides: Any) -> AOT:
    """Model by config name (``r50_aotl``, ``r50_deaotl``, ``aott``...), YAML path or ``ModelConfig``.

    Keyword overrides replace config fields, e.g. ``build_model("r50_aotl", temporal_pe=False)``.
    """
    if isinstance(name, ModelConfig):
        cfg = replace(name, **overrides)
    else:
        cfg = load_model_config(name, **overrides)
    if cfg.family not in MODEL_CLASSES:
        raise ValueError(f"model {cfg.name!r}: family must be one of {', '.join(MODEL_CLASSES)}, got {cfg.family!r}")
    return MODEL_CLASSES[cfg.family](cfg)


__all__ = [
    "AOT",
    "MODEL_CLASSES",
    "DeAOT",
    "ModelConfig",
    "Propagation",
    "available_models",
    "build_model",
    "load_model_config",
    "mask_unused_slots",
]
