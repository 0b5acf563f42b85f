"""Fixtures of the evaluation tests: hand-made cases written as a dataset and a results folder."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path

import pytest

from tests.evaluation.cases import Frames, toy_frames, write_dataset, write_results


@pytest.fixture
def make_case(tmp_path: Path) -> Callable[..., tuple[Path, Path]]:
    """Build (results_path, dataset_path) from ground-truth and predicted frames per sequence."""

    def build(ground_truth: Mapping[str, Frames], predictions: Mapping[str, Frames]) -> tuple[Path, Path]:
        dataset = write_dataset(tmp_path / "dataset", ground_truth)
        results = write_results(tmp_path / "results", predictions)
        return results, dataset

    return build


@pytest.fixture
def toy_case(make_case: Callable[..., tuple[Path, Path]]) -> tuple[Path, Path]:
    """(results_path, dataset_path) of the §9.12 toy case."""
    return make_case(*toy_frames())
