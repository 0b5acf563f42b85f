"""Training configuration: a dataclass filled from ``configs/stages/<stage>.yaml`` and the command line."""
from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from ..yaml_config import read_config


@dataclass(frozen=True)
class TrainConfig:
    """Defaults are the official VOST recipe (stage pre_vost)."""

    total_steps: int = 20000
    batch_size: int = 8
    seq_len: int = 15
    max_gap: int = 3
    long_term_gap: int = 4
    crop_size: int = 465
    short_edge: int = 480
    scale: tuple[float, float] = (0.7, 1.3)
    merge_prob: float = 0.2
    ignore_thresh: float = 0.2
    base_lr: float = 2e-4
    min_lr: float = 1e-5
    weight_decay: float = 0.07
    clip_grad_norm: float = 5.0
    sequential_start: float = 0.5
    id_shuffle: bool = True      # random id permutation per sample, so that no id is tied to one object
    save_every: int = 500
    keep_checkpoints: int = 8
    workers: int = 8
    seed: int = 0

    def __post_init__(self) -> None:
        if self.total_steps < 1 or self.batch_size < 1 or self.save_every < 1 or self.keep_checkpoints < 1:
            raise ValueError("total_steps, batch_size, save_every and keep_checkpoints must be >= 1")
        object.__setattr__(self, "scale", tuple(self.scale))

    def to_dict(self) -> dict[str, Any]:
        values = asdict(self)
        values["scale"] = list(self.scale)
        return values


def load_train_config(stage: str | Path, **overrides: Any) -> TrainConfig:
    """Stage by name (a file in ``configs/stages``) or YAML path; ``None`` overrides are ignored."""
    _, values = read_config(TrainConfig, "stages", "training stage", stage, **{k: v for k, v in overrides.items() if v is not None})
    return TrainConfig(**values)
