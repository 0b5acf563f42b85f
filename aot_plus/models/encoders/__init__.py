"""Image encoders: each returns features at strides 4, 8, 16 and 16 (the last one to be projected)."""

from __future__ import annotations

from torch import nn

from .mobilenetv2 import MobileNetV2
from .resnet import ResNet50

ENCODER_DIMS = {
    "resnet50": (256, 512, 1024, 1024),
    "mobilenetv2": (24, 32, 96, 1280),
}


def build_encoder(name: str, freeze_at: int = 2) -> nn.Module:
    """Encoder by name (see ``ENCODER_DIMS``); ``freeze_at`` >= 1 freezes the stem, >= 2 also stage 1."""
    if name == "resnet50":
        return ResNet50(freeze_at=freeze_at)
    if name == "mobilenetv2":
        return MobileNetV2(freeze_at=freeze_at)
    raise ValueError(f"unknown encoder {name!r}; choose one of {sorted(ENCODER_DIMS)}")
