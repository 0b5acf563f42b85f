"""Fixtures: a tiny synthetic VOST dataset, a seeded random AOT-T checkpoint and one full wrapper run."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import torch

import aot_plus
from aot_plus.data.synthetic import generate_dataset

from .helpers import FRAMES, HEIGHT, MODEL, WIDTH, run_wrapper


@pytest.fixture(scope="package")
def dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """3 videos x 8 frames of 64x80; val.txt lists two of them."""
    return generate_dataset(
        tmp_path_factory.mktemp("synthetic") / "VOST",
        videos=3,
        frames=FRAMES,
        seed=0,
        height=HEIGHT,
        width=WIDTH,
        val_fraction=0.5,
    )


@pytest.fixture(scope="package")
def val_sequences(dataset: Path) -> list[str]:
    names = (dataset / "ImageSets" / "val.txt").read_text().split()
    assert len(names) == 2
    return sorted(names)


@pytest.fixture(scope="package")
def checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """AOT-T with the weights ``--random-init`` draws (seed 0), saved the official way."""
    path = tmp_path_factory.mktemp("ckpt") / "aott_random.pth"
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        aot_plus.save_checkpoint(aot_plus.build_model(MODEL), path)
    return path


@dataclass(frozen=True)
class FreshRun:
    """One complete ``eval_vost.sh`` run on CPU; tests read it and never modify it."""

    out: Path
    memory_log: Path
    process: subprocess.CompletedProcess


@pytest.fixture(scope="package")
def fresh_run(dataset: Path, checkpoint: Path, tmp_path_factory: pytest.TempPathFactory) -> FreshRun:
    work = tmp_path_factory.mktemp("fresh")
    out, memory_log = work / "results", work / "memory.json"
    process = run_wrapper(
        ["--memory-log", str(memory_log)],
        MODEL=MODEL,
        CKPT=str(checkpoint),
        DATA_ROOT=str(dataset),
        OUT_DIR=str(out),
        GPUS="0",
        MEMORY="restricted",
    )
    assert process.returncode == 0, process.stderr
    return FreshRun(out, memory_log, process)


@pytest.fixture
def dataset_copy(dataset: Path, tmp_path: Path) -> Path:
    """A copy of the dataset that a test may break."""
    return Path(shutil.copytree(dataset, tmp_path / "VOST"))


@pytest.fixture
def one_thread() -> Iterator[None]:
    """In-process runs on one thread, so that they match the CLI runs bit for bit."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)
