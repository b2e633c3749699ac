"""Segmentation metrics from a confusion matrix (numpy only: training, runtime and benchmarks share it).

The SegNet paper's three numbers: global accuracy (pixels right / pixels counted), class-average accuracy
(mean per-class recall) and mean intersection over union; plus per-class IoU and accuracy. Classes that
never occur in the ground truth nor the predictions are left out of the means (NaN per class).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np


class ConfusionMatrix:
    """Accumulates `matrix[true, predicted]` pixel counts, skipping `ignore_index` pixels."""

    def __init__(self, num_classes: int, ignore_index: int | None = None) -> None:
        self.num_classes = num_classes
        self.ignore_index = ignore_index
        self.matrix = np.zeros((num_classes, num_classes), dtype=np.int64)

    def update(self, predicted: np.ndarray, target: np.ndarray) -> None:
        predicted = np.asarray(predicted).reshape(-1).astype(np.int64)
        target = np.asarray(target).reshape(-1).astype(np.int64)
        if predicted.shape != target.shape:
            raise ValueError(f"prediction has {predicted.size} pixels, target {target.size}")
        keep = (target >= 0) & (target < self.num_classes)
        if self.ignore_index is not None:
            keep &= target != self.ignore_index
        index = target[keep] * self.num_classes + np.clip(predicted[keep], 0, self.num_classes - 1)
        self.matrix += np.bincount(index, minlength=self.num_classes**2).reshape(self.matrix.shape)

    def merge(self, other: ConfusionMatrix) -> None:
        self.matrix += other.matrix

    def compute(self) -> dict[str, object]:
        m = self.matrix.astype(np.float64)
        true_pos = np.diag(m)
        gt_count = m.sum(axis=1)
        pred_count = m.sum(axis=0)
        union = gt_count + pred_count - true_pos
        with np.errstate(divide="ignore", invalid="ignore"):
            class_acc = np.where(gt_count > 0, true_pos / gt_count, np.nan)
            iou = np.where(union > 0, true_pos / union, np.nan)
        total = m.sum()
        return {
            "global_acc": float(true_pos.sum() / total) if total else float("nan"),
            "class_avg_acc": _nanmean(class_acc),
            "miou": _nanmean(iou),
            "per_class_iou": [float(v) for v in iou],
            "per_class_acc": [float(v) for v in class_acc],
            "pixels": int(total),
        }


def _nanmean(values: np.ndarray) -> float:
    valid = values[~np.isnan(values)]
    return float(valid.mean()) if valid.size else float("nan")


def format_table(metrics: dict[str, object], class_names: list[str]) -> str:
    """A readable table: the three summary numbers, then IoU and accuracy per class, in percent."""
    lines = [
        f"global accuracy     {100 * float(metrics['global_acc']):6.2f}",  # type: ignore[arg-type]
        f"class-avg accuracy  {100 * float(metrics['class_avg_acc']):6.2f}",  # type: ignore[arg-type]
        f"mIoU                {100 * float(metrics['miou']):6.2f}",  # type: ignore[arg-type]
        "",
        f"{'class':<16}{'IoU':>8}{'acc':>8}",
    ]
    for name, iou, acc in zip(class_names, metrics["per_class_iou"], metrics["per_class_acc"]):  # type: ignore[call-overload]
        lines.append(f"{name:<16}{100 * iou:8.2f}{100 * acc:8.2f}")
    return "\n".join(lines)


def json_safe(value: Any) -> Any:
    """`value` with NaN/inf floats (classes absent from the data) replaced by None, for strict JSON."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    return value
