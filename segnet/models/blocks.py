"""Reusable SegNet building blocks: conv-BN(-ReLU) units, encoder stages (convs then pool) and decoder
stages (unpool then convs), plus the width multiplier that scales channel counts."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from segnet.models.pooling import MaxPool2x2, MaxUnpool2x2, Size2


def scale_channels(channels: int, width: float) -> int:
    """Channels after the width multiplier: rounded, at least 8."""
    return max(8, round(channels * width))


class ConvBNAct(nn.Sequential):
    """Conv (same padding, with bias as in the Caffe SegNet) -> BatchNorm -> optional ReLU."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int = 3, relu: bool = True) -> None:
        layers: list[nn.Module] = [
            nn.Conv2d(in_channels, out_channels, kernel_size, padding=kernel_size // 2),
            nn.BatchNorm2d(out_channels),
        ]
        if relu:
            layers.append(nn.ReLU(inplace=True))
        super().__init__(*layers)

    @property
    def conv(self) -> nn.Conv2d:
        return self[0]  # type: ignore[return-value]

    @property
    def bn(self) -> nn.BatchNorm2d:
        return self[1]  # type: ignore[return-value]


def conv_stack(in_channels: int, channels: Sequence[int], kernel_size: int, relu: bool) -> nn.Sequential:
    """ConvBNAct units chained through `channels` (each entry is one conv's output channels)."""
    units = []
    for out_channels in channels:
        units.append(ConvBNAct(in_channels, out_channels, kernel_size, relu))
        in_channels = out_channels
    return nn.Sequential(*units)


class EncoderStage(nn.Module):
    """Convs then 2x2 max-pool; returns (pooled, switches, size before pooling) for the decoder."""

    def __init__(self, in_channels: int, channels: Sequence[int], kernel_size: int = 3) -> None:
        super().__init__()
        self.convs = conv_stack(in_channels, channels, kernel_size, relu=True)
        self.pool = MaxPool2x2()
        self.out_channels = channels[-1]

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, Size2]:
        x = self.convs(x)
        size = (x.shape[-2], x.shape[-1])
        pooled, switches = self.pool(x)
        return pooled, switches, size


class DecoderStage(nn.Module):
    """Max-unpool with the mirrored encoder stage's switches, then convs (no ReLU for SegNet-Basic)."""

    def __init__(self, in_channels: int, channels: Sequence[int], kernel_size: int = 3, relu: bool = True) -> None:
        super().__init__()
        self.unpool = MaxUnpool2x2()
        self.convs = conv_stack(in_channels, channels, kernel_size, relu=relu)
        self.out_channels = channels[-1] if channels else in_channels

    def forward(self, x: torch.Tensor, switches: torch.Tensor, size: Size2) -> torch.Tensor:
        return self.convs(self.unpool(x, switches, size))
