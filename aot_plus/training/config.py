"""Training configuration: a dataclass filled from ``configs/stages/<stage>.yaml`` and the command line."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..yaml_config import build_section, config_path, plain, read_yaml


@dataclass(frozen=True)
class TrainConfig:
    """One training stage; the recipes are the YAML files of ``configs/stages`` (official: pre_vost)."""

    total_steps: int
    batch_size: int  # global batch, split over the processes
    seq_len: int  # frames per clip, the reference first
    max_gap: int  # largest gap between consecutive clip frames
    long_term_gap: int  # long-term memory write every this many frames
    crop_size: int  # 16k + 1
    short_edge: int
    scale: tuple[float, float]
    merge_prob: float  # probability of pasting a second clip over the first (dynamic merge)
    ignore_thresh: float  # largest fraction of ignore pixels in a reference frame
    base_lr: float
    min_lr: float
    weight_decay: float
    clip_grad_norm: float
    sequential_start: float  # fraction of the steps after which own predictions go into memory
    id_shuffle: bool  # random id permutation per sample, so that no id is tied to one object
    save_every: int
    keep_checkpoints: int
    workers: int
    seed: int = 0

    def __post_init__(self) -> None:
        if self.total_steps < 1 or self.batch_size < 1 or self.save_every < 1 or self.keep_checkpoints < 1:
            raise ValueError("total_steps, batch_size, save_every and keep_checkpoints must be >= 1")
        object.__setattr__(self, "scale", tuple(self.scale))

    def to_dict(self) -> dict[str, Any]:
        return plain(self)


def load_train_config(stage: str | Path, **overrides: Any) -> TrainConfig:
    """Stage by name (a file in ``configs/stages``) or YAML path; ``None`` overrides are ignored."""
    path = config_path("stages", stage)
    values = {**read_yaml(path), **{k: v for k, v in overrides.items() if v is not None}}
    return build_section(TrainConfig, values, str(path))
