"""What a training run leaves beside its checkpoints: metrics.jsonl / metrics.csv, curves.png, predictions.png.

The metrics files are rewritten atomically from the run's history every epoch (so after a resume they hold
exactly the epochs the checkpoint knows about); the two PNGs are drawn when the run finishes.
"""

from __future__ import annotations

import csv
import io
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from segnet import atomic, render
from segnet.lazy import require
from segnet.metrics import json_safe

SCALARS = ("epoch", "train_loss", "lr", "global_acc", "class_avg_acc", "miou", "epoch_time_s")


def write_history(out: Path, history: Sequence[dict[str, Any]], class_names: Sequence[str]) -> None:
    """metrics.jsonl (one JSON object per epoch) and metrics.csv (scalars + IoU per class)."""
    atomic.write_text(out / "metrics.jsonl", "".join(json.dumps(json_safe(row), sort_keys=True) + "\n" for row in history))
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(list(SCALARS) + [f"iou_{name}" for name in class_names])
    for row in history:
        writer.writerow([row.get(key, "") for key in SCALARS] + list(row.get("per_class_iou", [])))
    atomic.write_text(out / "metrics.csv", buffer.getvalue())


def _pyplot() -> Any:
    matplotlib = require("matplotlib", "training plots")
    if "matplotlib.pyplot" not in sys.modules:  # headless default; a notebook keeps its inline backend
        matplotlib.use("Agg")
    return require("matplotlib.pyplot", "training plots")


def plot_curves(path: Path, history: Sequence[dict[str, Any]]) -> Path:
    """Training loss and validation mIoU / global accuracy per epoch, side by side."""
    plt = _pyplot()
    epochs = [row["epoch"] for row in history]
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 3.6))
    left.plot(epochs, [row["train_loss"] for row in history], marker="o", color="tab:red")
    left.set(title="training loss", xlabel="epoch", ylabel="loss")
    right.plot(epochs, [100 * row["miou"] for row in history], marker="o", label="mIoU")
    right.plot(epochs, [100 * row["global_acc"] for row in history], marker=".", label="global acc")
    right.plot(epochs, [100 * row["class_avg_acc"] for row in history], marker=".", label="class-avg acc")
    right.set(title="validation", xlabel="epoch", ylabel="%")
    right.legend(loc="lower right")
    for axis in (left, right):
        axis.grid(alpha=0.3)
    fig.tight_layout()
    with atomic.atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=100)
    plt.close(fig)
    return path


def colorize(labels: np.ndarray, palette: Sequence[Sequence[int]]) -> np.ndarray:
    """H x W class map -> H x W x 3 RGB through the palette (the runtime's lookup table; ignore is black)."""
    return render.colorize(labels, render.color_lut(palette))[..., ::-1]  # type: ignore[arg-type]


def prediction_grid(path: Path, images: Sequence[np.ndarray], truths: Sequence[np.ndarray],
                    predictions: Sequence[np.ndarray], palette: Sequence[Sequence[int]], title: str = "") -> Path:
    """One row per sample: image, ground truth, prediction (palette colours; ignore pixels black)."""
    plt = _pyplot()
    rows = len(images)
    fig, axes = plt.subplots(rows, 3, figsize=(9, 2.4 * rows), squeeze=False)
    for row, (image, truth, predicted) in enumerate(zip(images, truths, predictions)):
        shown = image[..., 0] if image.shape[-1] == 1 else image
        for col, (picture, name) in enumerate(((shown, "image"), (colorize(truth, palette), "ground truth"),
                                               (colorize(predicted, palette), "prediction"))):
            axes[row, col].imshow(picture, cmap="gray" if picture.ndim == 2 else None)
            axes[row, col].set_axis_off()
            if row == 0:
                axes[row, col].set_title(name)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    with atomic.atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=100)
    plt.close(fig)
    return path
