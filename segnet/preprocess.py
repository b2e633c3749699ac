"""The one preprocessing rule, torch-free: how a frame is resized to the network and normalised.

Resize: OpenCV's INTER_AREA when the image shrinks in both directions, INTER_LINEAR otherwise (training,
evaluation, export verification, calibration and the runtime all use `interpolation`). Normalisation:
`pixel * scale + shift` per channel in the spec's colour order, with scale = 1 / (255 std) and
shift = -mean / std, i.e. `(pixel / 255 - mean) / std` (`normalization`; the exported graphs bake the same
two arrays in, and a test holds them to it).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from segnet.lazy import require
from segnet.spec import ModelSpec


def interpolation(source: Sequence[int], target: Sequence[int]) -> int:
    """OpenCV's interpolation flag for resizing an image of (height, width) `source` to `target`."""
    cv2 = require("cv2", "image resizing")
    shrink = source[0] >= target[0] and source[1] >= target[1]
    return int(cv2.INTER_AREA if shrink else cv2.INTER_LINEAR)


def resize(image: np.ndarray, size: Sequence[int], dst: np.ndarray | None = None) -> np.ndarray:
    """`image` (H x W or H x W x C) at (height, width) `size` by the rule above; into `dst` when given."""
    cv2 = require("cv2", "image resizing")
    height, width = int(size[0]), int(size[1])
    return cv2.resize(image, (width, height), dst=dst, interpolation=interpolation(image.shape[:2], (height, width)))


def normalization(spec: ModelSpec) -> tuple[np.ndarray, np.ndarray]:
    """(scale, shift), float32 with one value per input channel: network input = pixel * scale + shift."""
    std = np.asarray(spec.std, np.float32)
    scale = (1.0 / (255.0 * std)).astype(np.float32)
    shift = (-np.asarray(spec.mean, np.float32) / std).astype(np.float32)
    return scale, shift
