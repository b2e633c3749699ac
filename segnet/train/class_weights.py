"""Class weights for the loss: median-frequency balancing (SegNet paper, Eigen & Fergus) or given values.

freq(c) = pixels of class c / pixels of the images in which c occurs; weight(c) = median(freq) / freq(c).
Rare classes (poles, signs, cyclists) get weights above 1, frequent ones (road, sky) below. Ignore pixels
count nowhere. A class that never occurs gets weight 0 (it contributes no loss anyway). Numpy only.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from segnet.errors import SegnetError


def class_pixel_counts(masks: Iterable[np.ndarray], num_labels: int,
                       ignore_index: int | None) -> tuple[np.ndarray, np.ndarray]:
    """Per class: pixels of it over all masks, and pixels of the masks that contain it (ignore excluded)."""
    pixels = np.zeros(num_labels, dtype=np.int64)
    image_pixels = np.zeros(num_labels, dtype=np.int64)
    for mask in masks:
        values = np.asarray(mask).reshape(-1)
        valid = (values >= 0) & (values < num_labels)
        if ignore_index is not None:
            valid &= values != ignore_index
        counts = np.bincount(values[valid].astype(np.int64), minlength=num_labels)
        pixels += counts
        image_pixels[counts > 0] += int(valid.sum())
    return pixels, image_pixels


def median_frequency_weights(masks: Iterable[np.ndarray], num_labels: int,
                             ignore_index: int | None = None) -> list[float]:
    """Median-frequency-balanced weights, one per label (2 for binary masks)."""
    pixels, image_pixels = class_pixel_counts(masks, num_labels, ignore_index)
    present = pixels > 0
    if not present.any():
        raise SegnetError("cannot compute class weights: the training masks hold no labelled pixel")
    freq = np.zeros(num_labels, dtype=np.float64)
    freq[present] = pixels[present] / image_pixels[present]
    weights = np.zeros(num_labels, dtype=np.float64)
    weights[present] = np.median(freq[present]) / freq[present]
    return [float(w) for w in weights]


def parse_class_weights(text: str, num_labels: int) -> list[float] | None:
    """`none` -> None, `w0,w1,...` -> floats (exactly one per label); `median` is handled by the caller."""
    if text.strip().lower() == "none":
        return None
    try:
        weights = [float(v) for v in text.split(",")]
    except ValueError:
        raise SegnetError(f"--class-weights {text!r}: expected median, none or comma-separated numbers") from None
    if len(weights) != num_labels:
        raise SegnetError(f"--class-weights has {len(weights)} values but the dataset has {num_labels} classes")
    if any(w < 0 or not np.isfinite(w) for w in weights):
        raise SegnetError(f"--class-weights {text!r}: weights must be finite and non-negative")
    return weights
