"""The SegNet presets: the paper's SegNet (VGG16 encoder), SegNet-Basic, and a lighter 3-stage SegNet.
Each takes a width multiplier so it can be shrunk to real time on a CPU or a small Jetson."""

from __future__ import annotations

from segnet.models.registry import register_model
from segnet.models.segnet import SegNet, SegNetConfig, mirror_decoder

# VGG16's 13 convs, stage by stage (torchvision vgg16 / vgg16_bn `features`).
VGG16_STAGES = ((64, 64), (128, 128), (256, 256, 256), (512, 512, 512), (512, 512, 512))
LITE_STAGES = VGG16_STAGES[:3]

SEGNET_VGG16 = SegNetConfig(encoder=VGG16_STAGES, decoder=mirror_decoder(VGG16_STAGES))
# SegNet-Basic (paper, Caffe segnet_basic): four 64-channel 7x7 conv-BN-ReLU encoders, four 7x7 conv-BN
# decoders without ReLU, then a 1x1 classifier. The Caffe model's LRN on the input is replaced by the
# optional `input_bn`.
SEGNET_BASIC = SegNetConfig(encoder=((64,),) * 4, decoder=((64,),) * 4, kernel_size=7, decoder_relu=False, head_kernel=1)
# Three VGG16-shaped stages (so the first 7 convs can start from VGG16 weights) and a mirrored decoder.
SEGNET_LITE = SegNetConfig(encoder=LITE_STAGES, decoder=mirror_decoder(LITE_STAGES))


@register_model
def segnet_vgg16(num_classes: int, in_channels: int = 3, width: float = 1.0, input_bn: bool = False) -> SegNet:
    """The paper's SegNet: 13-conv VGG16 encoder with BatchNorm, mirrored decoder, 3x3 classifier
    (29,449,355 parameters at 11 classes and width 1). Inputs: multiples of 32."""
    return SegNet(SEGNET_VGG16.scaled(width), num_classes, in_channels, input_bn)


@register_model
def segnet_basic(num_classes: int, in_channels: int = 3, width: float = 1.0, input_bn: bool = False) -> SegNet:
    """The paper's SegNet-Basic: 4 x 64-channel 7x7 encoders/decoders (1,416,587 parameters at 11
    classes). Inputs: multiples of 16."""
    return SegNet(SEGNET_BASIC.scaled(width), num_classes, in_channels, input_bn)


@register_model
def segnet_lite(num_classes: int, in_channels: int = 3, width: float = 1.0, input_bn: bool = False) -> SegNet:
    """A lighter SegNet: 3 stages of 64/128/256 channels with 2/2/3 convs, mirrored decoder. Inputs:
    multiples of 8."""
    return SegNet(SEGNET_LITE.scaled(width), num_classes, in_channels, input_bn)
