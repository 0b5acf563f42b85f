"""The public fidelity case (reference runs of the official code, ``tests/data/official``) as test inputs."""

from __future__ import annotations

import zlib
from pathlib import Path

import cv2
import numpy as np
import torch

from tests.official_data import first_mask, frame_paths, manifest_entries, reference

__all__ = ["deterministic_state_dict", "first_mask", "frame_paths", "read_rgb", "reference"]


def deterministic_state_dict(model_name: str) -> dict[str, torch.Tensor]:
    """The weights recipe of the fidelity README (section A), rebuilt from the manifest alone."""
    state = {}
    for entry in manifest_entries(model_name):
        key, shape = entry["key"], tuple(entry["shape"])
        g = torch.Generator().manual_seed(zlib.crc32(key.encode()))
        base = torch.randn(shape, generator=g, dtype=torch.float32)
        if len(shape) >= 2:
            state[key] = base / (float(np.prod(shape[1:])) ** 0.5)
            continue
        v = base * 0.02
        if key.endswith("running_var"):
            v = 1.0 + v.abs()
        elif key.endswith(".weight"):
            v = 1.0 + v
        state[key] = v
    return state


def read_rgb(path: Path) -> np.ndarray:
    return cv2.imread(str(path), cv2.IMREAD_COLOR)[:, :, ::-1].copy()
