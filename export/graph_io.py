"""What goes around the network in the exported graph: embedded preprocessing in front, the class map
behind. Both run inside TensorRT / ONNX Runtime, so the runtime only resizes and colours frames.

- Embedded preprocessing: input uint8 N x H x W x C in OpenCV's BGR order (C = 1 for grayscale models);
  cast to float, reorder to the spec's colour order, `x * 1/(255 std) - mean/std` (the runtime's formula),
  NHWC -> NCHW.
- Class map ("labels"): ArgMax over classes (binary models: logit > 0), as uint8 when the labels fit
  (else int32). The cast goes through float32 because TensorRT 8.5/8.6 casts to UINT8 only from
  FP32/FP16 (UINT8 is a network I/O type there), and ONNX's ArgMax gives int64.
"""

from __future__ import annotations

import torch
from torch import nn

from segnet import preprocess
from segnet.spec import ModelSpec


def class_index(logits: torch.Tensor, num_classes: int) -> torch.Tensor:
    """N x C x H x W logits -> N x H x W int64 class indices (binary: logit > 0)."""
    if num_classes == 1:
        return (logits[:, 0] > 0).to(torch.int64)
    return torch.argmax(logits, dim=1)


def as_labels(index: torch.Tensor, num_classes: int) -> torch.Tensor:
    """int64 class indices -> the class map output (uint8 when the labels fit, else int32)."""
    if num_classes > 256:
        return index.to(torch.int32)
    return index.to(torch.float32).to(torch.uint8)


def class_map(logits: torch.Tensor, num_classes: int) -> torch.Tensor:
    """N x C x H x W logits -> N x H x W class indices (uint8 when they fit, else int32)."""
    return as_labels(class_index(logits, num_classes), num_classes)


class ExportGraph(nn.Module):
    """The network as exported: optional uint8 NHWC BGR preprocessing, the model, optional class map."""

    def __init__(self, model: nn.Module, spec: ModelSpec, embed_preprocess: bool = False,
                 argmax: bool = False, keep_logits: bool = False) -> None:
        super().__init__()
        self.model = model
        self.num_classes = spec.num_classes
        self.embed_preprocess = embed_preprocess
        self.argmax = argmax
        self.keep_logits = keep_logits
        self.to_rgb = spec.in_channels == 3 and spec.color_order == "RGB"
        scale, shift = (torch.from_numpy(v).view(1, 1, 1, -1) for v in preprocess.normalization(spec))
        self.register_buffer("scale", scale, persistent=False)
        self.register_buffer("shift", shift, persistent=False)

    def preprocess(self, images: torch.Tensor) -> torch.Tensor:
        """uint8 N x H x W x C BGR -> normalised float N x C x H x W."""
        x = images.to(torch.float32)
        if self.to_rgb:
            x = torch.flip(x, dims=[3])
        x = x * self.scale + self.shift
        return x.permute(0, 3, 1, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
        if self.embed_preprocess:
            x = self.preprocess(x)
        logits = self.model(x)
        if not self.argmax:
            return logits
        labels = class_map(logits, self.num_classes)
        return (labels, logits) if self.keep_logits else labels
