"""Segmentation losses: weighted cross-entropy for C classes, weighted BCE-with-logits for binary (C == 1).

Both skip `ignore_index` pixels and normalise by the summed weight of the counted pixels, as PyTorch's
weighted cross-entropy does, so the binary and multi-class losses behave alike.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F

if TYPE_CHECKING:
    from collections.abc import Callable

    Loss = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def build_loss(num_classes: int, class_weights: Sequence[float] | None = None,
               ignore_index: int | None = None, label_smoothing: float = 0.0) -> Loss:
    """The loss for logits N x C x H x W against int64 targets N x H x W (label smoothing: multi-class)."""
    weight = torch.tensor(class_weights, dtype=torch.float32) if class_weights is not None else None
    if num_classes == 1:
        return _binary_loss(weight, ignore_index)
    ignore = -100 if ignore_index is None else ignore_index

    def cross_entropy(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        w = weight.to(logits.device) if weight is not None else None
        return F.cross_entropy(logits.float(), target, weight=w, ignore_index=ignore,
                               label_smoothing=label_smoothing)

    return cross_entropy


def _binary_loss(weight: torch.Tensor | None, ignore_index: int | None) -> Loss:
    def binary_cross_entropy(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        valid = (target == 0) | (target == 1)
        if ignore_index is not None:
            valid &= target != ignore_index
        labels = torch.where(valid, target, torch.zeros_like(target))
        pixel_weight = valid.float()
        if weight is not None:
            pixel_weight = pixel_weight * weight.to(logits.device)[labels]
        per_pixel = F.binary_cross_entropy_with_logits(logits[:, 0].float(), labels.float(), reduction="none")
        return (per_pixel * pixel_weight).sum() / pixel_weight.sum().clamp_min(1e-12)

    return binary_cross_entropy
