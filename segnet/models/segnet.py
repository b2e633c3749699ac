"""The SegNet model: encoder, decoder and head as separate modules under one class (the
segmentation_models_pytorch layout), configured by a `SegNetConfig` so every preset is the same code."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence  # Stages is evaluated at run time: abc generics need Python 3.9

import torch
from torch import nn

from segnet.errors import SegnetError
from segnet.models.blocks import DecoderStage, EncoderStage, scale_channels
from segnet.models.pooling import Size2

Stages = Sequence[Sequence[int]]


@dataclass(frozen=True)
class SegNetConfig:
    """Channels of every conv, stage by stage: `encoder` shallow to deep, `decoder` deep to shallow
    (stage i of the decoder unpools with the switches of encoder stage -1-i, so its input channels must
    equal that stage's output). The head maps the last decoder output to the logits."""

    encoder: Stages
    decoder: Stages
    kernel_size: int = 3
    decoder_relu: bool = True
    head_kernel: int = 3

    def scaled(self, width: float) -> SegNetConfig:
        """The same architecture with every conv's channels multiplied by `width` (rounded, min 8)."""

        def scale(stages: Stages) -> list[list[int]]:
            return [[scale_channels(c, width) for c in stage] for stage in stages]

        return SegNetConfig(scale(self.encoder), scale(self.decoder), self.kernel_size, self.decoder_relu, self.head_kernel)


def mirror_decoder(encoder: Stages) -> list[list[int]]:
    """The paper's mirrored decoder: a decoder stage has as many convs as its encoder stage, all at that
    stage's width except the last, which narrows to the next shallower stage; the shallowest stage drops
    its last conv because the (3x3) head takes its place, as conv1_1_D does in the Caffe SegNet."""
    decoder = []
    for level in range(len(encoder) - 1, -1, -1):
        width, count = encoder[level][-1], len(encoder[level])
        narrow = [encoder[level - 1][-1]] if level > 0 else []
        decoder.append([width] * (count - 1) + narrow)
    return decoder


class SegNetEncoder(nn.Module):
    """Encoder stages; returns the deepest features and each stage's (switches, pre-pool size)."""

    def __init__(self, in_channels: int, stages: Stages, kernel_size: int) -> None:
        super().__init__()
        blocks = []
        for channels in stages:
            blocks.append(EncoderStage(in_channels, channels, kernel_size))
            in_channels = channels[-1]
        self.stages = nn.ModuleList(blocks)
        self.out_channels = in_channels

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, list[tuple[torch.Tensor, Size2]]]:
        skips = []
        for stage in self.stages:
            x, switches, size = stage(x)
            skips.append((switches, size))
        return x, skips


class SegNetDecoder(nn.Module):
    """Decoder stages, deepest first, each unpooling with its mirrored encoder stage's switches."""

    def __init__(self, in_channels: int, stages: Stages, kernel_size: int, relu: bool) -> None:
        super().__init__()
        blocks = []
        for channels in stages:
            blocks.append(DecoderStage(in_channels, channels, kernel_size, relu))
            in_channels = blocks[-1].out_channels
        self.stages = nn.ModuleList(blocks)
        self.out_channels = in_channels

    def forward(self, x: torch.Tensor, skips: list[tuple[torch.Tensor, Size2]]) -> torch.Tensor:
        for stage, (switches, size) in zip(self.stages, reversed(skips)):
            x = stage(x, switches, size)
        return x


class SegNet(nn.Module):
    """SegNet: optional input BatchNorm -> encoder -> decoder -> head. Input: float N x in_channels x H x W,
    normalised; output: logits N x num_classes x H x W (one channel for binary models). Any H, W of at
    least `input_multiple` works; multiples of it lose no rows or columns to floor-mode pooling."""

    def __init__(self, config: SegNetConfig, num_classes: int, in_channels: int = 3, input_bn: bool = False) -> None:
        super().__init__()
        if len(config.decoder) != len(config.encoder):
            raise SegnetError(f"SegNet needs one decoder stage per encoder stage, got {config}")
        self.num_classes = num_classes
        self.in_channels = in_channels
        self.input_multiple = 2 ** len(config.encoder)
        self.input_bn: nn.BatchNorm2d | None = nn.BatchNorm2d(in_channels) if input_bn else None
        self.encoder = SegNetEncoder(in_channels, config.encoder, config.kernel_size)
        self.decoder = SegNetDecoder(self.encoder.out_channels, config.decoder, config.kernel_size, config.decoder_relu)
        self.head = nn.Conv2d(self.decoder.out_channels, num_classes, config.head_kernel, padding=config.head_kernel // 2)
        self._check_mirrored()

    def _check_mirrored(self) -> None:
        """Every decoder stage must receive as many channels as its encoder stage's switches carry."""
        widths = [self.encoder.out_channels] + [stage.out_channels for stage in self.decoder.stages[:-1]]
        for level, (stage, width) in enumerate(zip(reversed(self.encoder.stages), widths)):
            if stage.out_channels != width:
                raise SegnetError(
                    f"decoder stage {level} gets {width} channels but its encoder stage has {stage.out_channels}"
                )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        height, width = x.shape[-2], x.shape[-1]
        if height < self.input_multiple or width < self.input_multiple:
            raise SegnetError(
                f"input {height}x{width} is too small for this SegNet: height and width must be at least "
                f"{self.input_multiple} (ideally multiples of it)"
            )
        if self.input_bn is not None:
            x = self.input_bn(x)
        features, skips = self.encoder(x)
        return self.head(self.decoder(features, skips))
