"""Model inputs from images (numpy/OpenCV only): test images for verification, dataset images for
verification and INT8 calibration, and the normalisation the runtime applies.

Images are uint8 H x W x C in OpenCV's BGR order (C = 1 for grayscale models), exactly what the runtime's
Segmenter feeds a model with embedded preprocessing; `normalize` turns a batch of them into the float NCHW
tensor a plain model takes, with the runtime's formula `pixel * 1/(255 std) - mean/std` in the spec's
channel order, so verification and calibration see what inference will see.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Tuple

import cv2
import numpy as np

from segnet import preprocess
from segnet.errors import DataError
from segnet.spec import ModelSpec

if TYPE_CHECKING:
    from segnet.data.mask_options import MaskOptions

Size = Tuple[int, int]


def normalize(images: np.ndarray, spec: ModelSpec) -> np.ndarray:
    """uint8 N x H x W x C BGR images -> float32 N x C x H x W normalised input (the runtime's formula)."""
    x = images
    if spec.in_channels == 3 and spec.color_order == "RGB":
        x = x[..., ::-1]
    scale, shift = preprocess.normalization(spec)
    out = x.astype(np.float32) * scale + shift
    return np.ascontiguousarray(out.transpose(0, 3, 1, 2))


def random_images(count: int, size: Size, channels: int, seed: int = 0) -> list[np.ndarray]:
    """Test images: uniform noise, and blurred noise (smooth regions, like real scenes, where max-pool
    windows hold near-equal values)."""
    rng = np.random.default_rng(seed)
    images = []
    for i in range(count):
        image = rng.integers(0, 256, size=(size[0], size[1], channels), dtype=np.uint8)
        if i % 2:
            image = cv2.GaussianBlur(image, (0, 0), 3).reshape(image.shape)
        images.append(image)
    return images


def dataset_images(root: str | Path, size: Size, spec: ModelSpec, count: int,
                   split: str | None = None, masks: MaskOptions | None = None) -> list[np.ndarray]:
    """Up to `count` images of a dataset, or of a plain folder of images (calibration needs no labels),
    evenly spread over it, resized like the runtime resizes (INTER_AREA when shrinking, else INTER_LINEAR),
    as BGR (or grayscale) uint8 H x W x C. `masks`: how the dataset's colour / one-hot masks are read
    (opening a colour-mask dataset without classes.json discovers its palette)."""
    from segnet.data import open_dataset
    from segnet.data.imageio import IMAGE_EXTENSIONS, read_image

    files = sorted(p for p in Path(root).glob("*") if p.suffix.lower() in IMAGE_EXTENSIONS) if split is None else []
    if files:  # a folder of images, not a dataset layout
        picks = np.linspace(0, len(files) - 1, num=min(count, len(files))).round().astype(int)
        return [to_model_image(read_image(files[i], spec.in_channels), size, spec.in_channels) for i in picks]
    dataset = open_split(root, split, lambda r, s: open_dataset(r, s, masks=masks))
    if len(dataset) == 0:
        raise DataError(f"{root}: the dataset has no images")
    picks = np.linspace(0, len(dataset) - 1, num=min(count, len(dataset))).round().astype(int)
    return [to_model_image(dataset[int(i)][0], size, spec.in_channels) for i in picks]


def open_split(root: str | Path, split: str | None, opener):  # type: ignore[no-untyped-def]
    """The dataset's `split`, or when none is given the first of train/val/test that exists."""
    if split is not None:
        return opener(root, split)
    errors = []
    for name in ("train", "val", "test"):
        try:
            return opener(root, name)
        except DataError as exc:
            errors.append(str(exc))
    raise DataError(f"{root}: no train, val or test split found ({errors[0]})")


def to_model_image(image_rgb: np.ndarray, size: Size, channels: int) -> np.ndarray:
    """A dataset image (RGB, or H x W x 1 gray) -> the runtime's resized BGR/gray uint8 H x W x C frame."""
    image = image_rgb
    if channels == 3 and image.ndim == 3 and image.shape[2] == 3:
        image = cv2.cvtColor(image, cv2.COLOR_RGB2BGR)
    elif channels == 1 and image.ndim == 3 and image.shape[2] == 3:
        image = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)
    if image.shape[:2] != tuple(size):
        image = preprocess.resize(image, size)
    if image.ndim == 2:
        image = image[..., None]
    return np.ascontiguousarray(image)


def batches(images: Sequence[np.ndarray], batch_sizes: Sequence[int]) -> list[np.ndarray]:
    """N x H x W x C batches of the given sizes in turn, until every image was used and every size
    occurred once (images are reused cyclically to fill the last batches)."""
    out, start = [], 0
    while start < len(images) or len(out) < len(batch_sizes):
        size = batch_sizes[len(out) % len(batch_sizes)]
        out.append(np.stack([images[(start + k) % len(images)] for k in range(size)]))
        start += size
    return out
