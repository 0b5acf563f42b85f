"""The config of a run: typed, validated sections composed from YAML (see ``aot_plus.yaml_config``).

`EvalConfig` (model, memory, inference) decides an evaluation's predictions and is saved with its
results; the training run's sections are the model config and `TrainConfig`. `to_dict` gives the plain
values that are saved.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .errors import ConfigError
from .inference.augmentation import augmentations
from .memory import MemoryConfig, model_memory_config, policy_name
from .models import ModelConfig
from .yaml_config import build_section, config_path, merge, parse_overrides, plain, read_yaml


# ---------------------------------------------------------------------------------------- run configs
@dataclass(frozen=True)
class InferenceConfig:
    """How frames are segmented (the session's settings)."""

    precision: str = "fp32"
    """fp32 (the official numerics), or bf16 / fp16 autocast for speed on a GPU."""
    tf32: bool = False
    """Let a GPU run fp32 convolutions and matmuls in TF32 (off: full float32)."""
    long_term_gap: int | None = None
    """Frames between long-term memory writes; None: the benchmark's rule (VOST: max(round(N / 30), 5))."""
    mask_unused_objects: bool = False
    """Give the logits of object slots no object uses -1e10 (the official evaluation does not)."""
    max_size: float = 1040.0
    """Longest input edge after the official test-time resize."""
    scales: tuple[float, ...] = (1.0,)
    """Test-time scales (the official ``--ms``): one augmentation with its own memories per scale."""
    flip: bool = False
    """Also segment the mirrored frames at each scale (the official ``--flip``)."""

    def __post_init__(self) -> None:
        if self.precision not in ("fp32", "bf16", "fp16"):
            raise ValueError(f"precision must be fp32, bf16 or fp16, got {self.precision!r}")
        if self.long_term_gap is not None and self.long_term_gap < 1:
            raise ValueError(f"long_term_gap must be >= 1, got {self.long_term_gap}")
        if self.max_size <= 0:
            raise ValueError(f"max_size must be > 0, got {self.max_size}")
        augmentations(self.scales, self.flip)  # raises on an empty or non-positive scale


@dataclass(frozen=True)
class EvalConfig:
    """Everything that decides the predictions of an evaluation run (saved in its results folder)."""

    model: ModelConfig
    memory: MemoryConfig
    inference: InferenceConfig

    def to_dict(self) -> dict[str, Any]:
        return {
            "model": plain(self.model),
            "memory": {"policy": policy_name(self.memory), **plain(self.memory)},
            "inference": plain(self.inference),
        }


def memory_section(model: ModelConfig, values: Mapping[str, Any], source: str) -> MemoryConfig:
    """A memory config from ``{"policy": name, constant: value, ...}`` on top of the model's official constants."""
    options = dict(values)
    name = options.pop("policy", None)
    if not isinstance(name, str):
        raise ConfigError(f"{source}: needs 'policy: <name>' (unrestricted, restricted or fifo)")
    try:
        return model_memory_config(model, name, options)
    except (TypeError, ValueError) as err:
        raise ConfigError(f"{source}: {err}") from None


def load_eval_config(
    model: str | Path, memory: str | Path, settings: Mapping[str, Any] | None = None, overrides: Iterable[str] = ()
) -> EvalConfig:
    """Model and memory configs by name or YAML path, then ``settings`` (nested mapping), then overrides."""
    model_path, memory_path = config_path("models", model), config_path("memory", memory)
    files = {
        "model": {"name": model_path.stem, **read_yaml(model_path)},
        "memory": read_yaml(memory_path),
        "inference": {},
    }
    changes = merge(settings or {}, parse_overrides(overrides))
    unknown = sorted(set(changes) - set(files))
    if unknown:
        raise ConfigError(f"unknown config section(s) {', '.join(unknown)}; valid: {', '.join(files)}")
    values = merge(files, changes)
    sources = {"model": str(model_path), "memory": str(memory_path), "inference": "inference"}
    source = {
        name: f"{where} with command-line settings" if name in changes and name != "inference" else where
        for name, where in sources.items()
    }
    model_cfg = build_section(ModelConfig, values["model"], source["model"])
    return EvalConfig(
        model_cfg,
        memory_section(model_cfg, values["memory"], source["memory"]),
        build_section(InferenceConfig, values["inference"], source["inference"]),
    )
