"""Access to the public fidelity case in ``../shared/reference/fidelity`` (reference runs of the official code)."""
from __future__ import annotations

import json
import zlib
from pathlib import Path

import cv2
import numpy as np
import torch

FIDELITY_DIR = Path(__file__).resolve().parents[3] / "shared" / "reference" / "fidelity"
SEQUENCE = "0001_synthetic_split"


def deterministic_state_dict(model_name: str) -> dict[str, torch.Tensor]:
    """The weights recipe of the fidelity README (section A), rebuilt from the manifest alone."""
    manifest = json.loads((FIDELITY_DIR / f"manifest_{model_name}.json").read_text())
    state = {}
    for entry in manifest["entries"]:
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


def frame_paths() -> list[Path]:
    return sorted((FIDELITY_DIR / "synthetic_vost" / "JPEGImages_10fps" / SEQUENCE).glob("*.jpg"))


def read_rgb(path: Path) -> np.ndarray:
    return cv2.imread(str(path), cv2.IMREAD_COLOR)[:, :, ::-1].copy()


def first_mask() -> np.ndarray:
    from PIL import Image
    return np.array(Image.open(FIDELITY_DIR / "synthetic_vost" / "Annotations" / SEQUENCE / "00000.png"))


def reference(model_name: str, unrestricted: bool = False) -> dict[str, np.ndarray]:
    suffix = "_unrestricted" if unrestricted else ""
    with np.load(FIDELITY_DIR / f"ref_{model_name}{suffix}.npz") as z:
        return {k: z[k] for k in z.files}
