"""MobileNetV2 at output stride 16 with frozen BatchNorm (the encoder of AOT-T/S/B)."""

from __future__ import annotations

import torch
from torch import nn

from ..layers.normalization import FrozenBatchNorm2d

# (expansion t, channels c, repeats n, stride s) of the standard MobileNetV2.
_INVERTED_RESIDUAL_SETTING = [
    (1, 16, 1, 1),
    (6, 24, 2, 2),
    (6, 32, 3, 2),
    (6, 64, 4, 2),
    (6, 96, 3, 1),
    (6, 160, 3, 2),
    (6, 320, 1, 1),
]


class ConvBNReLU6(nn.Sequential):
    def __init__(
        self, in_planes: int, out_planes: int, kernel_size: int = 3, stride: int = 1, groups: int = 1, dilation: int = 1
    ):
        padding = (kernel_size - 1) // 2 * dilation
        super().__init__(
            nn.Conv2d(
                in_planes, out_planes, kernel_size, stride, padding, dilation=dilation, groups=groups, bias=False
            ),
            FrozenBatchNorm2d(out_planes),
            nn.ReLU6(inplace=True),
        )


class InvertedResidual(nn.Module):
    def __init__(self, inp: int, oup: int, stride: int, dilation: int, expand_ratio: int):
        super().__init__()
        hidden = int(round(inp * expand_ratio))
        self.use_residual = stride == 1 and inp == oup
        layers: list[nn.Module] = []
        if expand_ratio != 1:
            layers.append(ConvBNReLU6(inp, hidden, kernel_size=1))
        layers += [
            ConvBNReLU6(hidden, hidden, stride=stride, dilation=dilation, groups=hidden),
            nn.Conv2d(hidden, oup, 1, bias=False),
            FrozenBatchNorm2d(oup),
        ]
        self.conv = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv(x) if self.use_residual else self.conv(x)


class MobileNetV2(nn.Module):
    """Features at strides 4, 8, 16 and 16 (dilated tail, 1280 channels)."""

    def __init__(self, output_stride: int = 16, freeze_at: int = 2):
        super().__init__()
        features: list[nn.Module] = [ConvBNReLU6(3, 32, stride=2)]
        in_channels, current_stride, rate = 32, 2, 1
        for t, c, n, s in _INVERTED_RESIDUAL_SETTING:
            if current_stride == output_stride:
                # Past the output stride, stride is traded for dilation.
                stride, first_dilation = 1, rate
                rate *= s
            else:
                stride, first_dilation = s, 1
                current_stride *= s
            for i in range(n):
                features.append(
                    InvertedResidual(in_channels, c, stride if i == 0 else 1, first_dilation if i == 0 else rate, t)
                )
                in_channels = c
        features.append(ConvBNReLU6(in_channels, 1280, kernel_size=1))
        self.features = nn.Sequential(*features)
        self._stage_bounds = [(0, 4), (4, 7), (7, 14), (14, len(features))]
        self._init_weights()
        self._freeze(freeze_at)

    def _init_weights(self) -> None:
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out")

    def _freeze(self, freeze_at: int) -> None:
        frozen: list[nn.Module] = [self.features[0]] if freeze_at >= 1 else []
        for stage_number, (start, end) in enumerate(self._stage_bounds, start=2):
            if freeze_at >= stage_number:
                frozen += list(self.features[start:end])
        for module in frozen:
            for p in module.parameters():
                p.requires_grad_(False)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        outputs = []
        for start, end in self._stage_bounds:
            for i in range(start, end):
                x = self.features[i](x)
            outputs.append(x)
        return outputs
