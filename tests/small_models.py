"""Small randomly initialised models shared by the inference and model tests (their conftest files import
these fixtures; the suite-wide conftest stays free of torch)."""

from __future__ import annotations

import pytest
import torch

from aot_plus import build_model
from aot_plus.models import ModelConfig


@pytest.fixture(scope="module")
def aot_model() -> torch.nn.Module:
    torch.manual_seed(0)
    return build_model("aott")


@pytest.fixture(scope="module")
def deaot_model() -> torch.nn.Module:
    torch.manual_seed(1)
    return build_model(
        ModelConfig(
            name="deaot_mobilenet", family="deaot", encoder="mobilenetv2", num_layers=2, self_heads=1, att_heads=1
        )
    )


@pytest.fixture(params=["aot", "deaot"])
def any_model(request, aot_model, deaot_model) -> torch.nn.Module:
    return aot_model if request.param == "aot" else deaot_model
