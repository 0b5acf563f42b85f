"""Suite-wide collection rules: the reference data folder holds no tests; ``gpu`` tests need CUDA."""

from __future__ import annotations

import pytest

collect_ignore = ["data/official"]  # reference data of the official code (see its README), not tests


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if not any(item.get_closest_marker("gpu") for item in items):
        return
    import torch

    if torch.cuda.is_available():
        return
    skip = pytest.mark.skip(reason="needs a CUDA GPU")
    for item in items:
        if item.get_closest_marker("gpu"):
            item.add_marker(skip)
