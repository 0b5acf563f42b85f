"""The reference data of the official RMem code that the tests compare against (``tests/data/official``).

See ``tests/data/official/README.md`` for what each file is and how it was produced.
"""

from __future__ import annotations

import ast
import json
from pathlib import Path

import numpy as np

OFFICIAL_DIR = Path(__file__).resolve().parent / "data" / "official"
SEQUENCE = "0001_synthetic_split"  # the synthetic video of the fidelity case


def load_npz(name: str) -> dict[str, np.ndarray]:
    """Every array of ``OFFICIAL_DIR / name``, read into memory."""
    with np.load(OFFICIAL_DIR / name) as z:
        return {k: z[k] for k in z.files}


def load_json(name: str):
    return json.loads((OFFICIAL_DIR / name).read_text())


def official_keys(model_name: str) -> list[tuple[str, tuple[int, ...]]]:
    """(key, shape) of the official model's ``state_dict``, in order (``keys_<model>.txt``)."""
    rows = []
    for line in (OFFICIAL_DIR / f"keys_{model_name}.txt").read_text().splitlines():
        key, shape = line.split("\t")
        rows.append((key, tuple(ast.literal_eval(shape))))
    return rows


def manifest_entries(model_name: str) -> list[dict]:
    """State-dict manifest of the official model: ``{"key", "shape"}`` per entry, in order."""
    return load_json(f"manifest_{model_name}.json")["entries"]


def reference(model_name: str, unrestricted: bool = False) -> dict[str, np.ndarray]:
    """Per-frame arrays of the official evaluator run (``ref_<model>[_unrestricted].npz``)."""
    return load_npz(f"ref_{model_name}{'_unrestricted' if unrestricted else ''}.npz")


def memory_record(model_name: str) -> dict:
    """Long-term memory bank and every ``restrict_long_memories`` call of the official run."""
    return load_json(f"ref_{model_name}_memory.json")


def frame_paths() -> list[Path]:
    """The 72 JPEG frames of the synthetic video, in order."""
    return sorted((OFFICIAL_DIR / "synthetic_vost" / "JPEGImages_10fps" / SEQUENCE).glob("*.jpg"))


def first_mask() -> np.ndarray:
    """The first-frame mask (ids 0, 1, 2) of the synthetic video."""
    from PIL import Image

    return np.array(Image.open(OFFICIAL_DIR / "synthetic_vost" / "Annotations" / SEQUENCE / "00000.png"))
