"""Constants and helpers of the evaluation-run tests."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import numpy as np
from PIL import Image

REPO_ROOT = Path(__file__).resolve().parents[2]
WRAPPER = REPO_ROOT / "eval_vost.sh"
MODEL = "aott"
HEIGHT, WIDTH, FRAMES = 64, 80, 8


def single_thread_env(**settings: str) -> dict[str, str]:
    """Environment of a CLI run: one CPU thread (fast on shared cores, and the setting torchrun's workers get)."""
    env = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", PYTHONPATH=str(REPO_ROOT))
    env.update(settings)
    return env


def run_wrapper(args: list[str], **settings: str) -> subprocess.CompletedProcess:
    """``bash eval_vost.sh ARGS`` with the given environment settings."""
    return subprocess.run(
        ["bash", str(WRAPPER), *args],
        env=single_thread_env(**settings),
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )


def png_files(out: Path, sequence: str) -> list[Path]:
    return sorted((out / sequence).glob("*.png"))


def read_ids(path: Path) -> np.ndarray:
    with Image.open(path) as image:
        return np.array(image)


def error_line(capsys) -> str:
    """The one ``error:`` line on stderr (a progress bar may precede it)."""
    errors = [line for line in capsys.readouterr().err.splitlines() if "error: " in line]
    assert len(errors) == 1, errors
    return errors[0][errors[0].index("error: ") :]
