"""Joint image+mask augmentations (numpy/OpenCV): flip, random scale and crop, colour jitter, blur; eval resize.

Geometry is applied to image and mask together (mask with nearest-neighbour, so labels stay labels);
colour jitter and blur touch the image only. Randomness comes from a `numpy.random.Generator`: the one passed to
the call, or the transform's own (seeded at construction), so training can seed per worker and epoch.
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

from segnet import preprocess


def _size(size: Sequence[int]) -> tuple[int, int]:
    height, width = (int(v) for v in size)
    if height < 1 or width < 1:
        raise ValueError(f"size must be (height, width) with positive values, got {tuple(size)}")
    return height, width


def _keep_channels(resized: np.ndarray, original: np.ndarray) -> np.ndarray:
    """OpenCV drops a trailing channel axis of size 1; put it back."""
    return resized[:, :, None] if original.ndim == 3 and resized.ndim == 2 else resized


def resize_pair(image: np.ndarray, mask: np.ndarray, size: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """Image resized with area averaging when shrinking, bilinear when enlarging; mask by nearest neighbour
    with pixel centres aligned as in the image resize (INTER_NEAREST is off by up to a pixel)."""
    height, width = size
    if image.shape[:2] == (height, width):
        return image, mask
    out = _keep_channels(preprocess.resize(image, (height, width)), image)
    labels = cv2.resize(mask.astype(np.int32, copy=False), (width, height), interpolation=cv2.INTER_NEAREST_EXACT)
    return out, labels.astype(mask.dtype, copy=False)


class EvalTransform:
    """Resize image and mask to `size` (height, width) for evaluation; no randomness."""

    def __init__(self, size: Sequence[int]) -> None:
        self.size = _size(size)

    def __call__(self, image: np.ndarray, mask: np.ndarray,
                 rng: np.random.Generator | None = None) -> tuple[np.ndarray, np.ndarray]:
        """`rng` is accepted (and unused) so training and evaluation call both transforms alike."""
        return resize_pair(image, mask, self.size)


class TrainTransform:
    """Random scale (relative to the scale where the image just covers `size`), random crop to `size`
    (padding the image with 0 and the mask with `ignore_index` where the scaled image is smaller),
    horizontal flip with probability 0.5, brightness/contrast/saturation jitter of +-`jitter`, and with
    probability `blur` a Gaussian blur of sigma in BLUR_SIGMA (pixels of the training size): motion and focus
    blur of a moving camera. With `blur` 0 no draw is made for it, so the other draws stay as they were."""

    BLUR_SIGMA = (0.3, 1.5)

    def __init__(self, size: Sequence[int], hflip: bool = True, scale: Sequence[float] = (0.75, 1.25),
                 jitter: float = 0.2, seed: int | None = None, ignore_index: int = 255,
                 rng: np.random.Generator | None = None, blur: float = 0.0) -> None:
        self.size = _size(size)
        self.hflip = hflip
        self.scale = (float(scale[0]), float(scale[1]))
        if not 0 < self.scale[0] <= self.scale[1]:
            raise ValueError(f"scale must be (low, high) with 0 < low <= high, got {tuple(scale)}")
        if not 0 <= jitter < 1:
            raise ValueError(f"jitter must be in [0, 1), got {jitter}")
        self.jitter = float(jitter)
        if not 0 <= blur <= 1:
            raise ValueError(f"blur is a probability in [0, 1], got {blur}")
        self.blur = float(blur)
        self.ignore_index = int(ignore_index)
        self.rng = rng if rng is not None else np.random.default_rng(seed)

    def __call__(self, image: np.ndarray, mask: np.ndarray, rng: np.random.Generator | None = None) -> tuple[np.ndarray, np.ndarray]:
        rng = rng if rng is not None else self.rng
        image, mask = self.scale_and_crop(image, mask, rng)
        if self.hflip and rng.random() < 0.5:
            image, mask = image[:, ::-1], mask[:, ::-1]
        if self.jitter > 0:
            image = color_jitter(image, self.jitter, rng)
        if self.blur > 0 and rng.random() < self.blur:
            image = gaussian_blur(image, float(rng.uniform(*self.BLUR_SIGMA)))
        return np.ascontiguousarray(image), np.ascontiguousarray(mask)

    def scale_and_crop(self, image: np.ndarray, mask: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """Scale by a random factor, then crop (or pad) to the training size at a random position."""
        height, width = self.size
        cover = max(height / image.shape[0], width / image.shape[1])
        factor = cover * rng.uniform(*self.scale)
        scaled = (max(1, round(image.shape[0] * factor)), max(1, round(image.shape[1] * factor)))
        image, mask = resize_pair(image, mask, scaled)
        pad_h, pad_w = max(0, height - scaled[0]), max(0, width - scaled[1])
        if pad_h or pad_w:
            top, left = int(rng.integers(0, pad_h + 1)), int(rng.integers(0, pad_w + 1))
            pads = ((top, pad_h - top), (left, pad_w - left))
            image = np.pad(image, pads + ((0, 0),) * (image.ndim - 2))
            mask = np.pad(mask, pads, constant_values=self.ignore_index)
        y = int(rng.integers(0, image.shape[0] - height + 1))
        x = int(rng.integers(0, image.shape[1] - width + 1))
        return image[y:y + height, x:x + width], mask[y:y + height, x:x + width]


def color_jitter(image: np.ndarray, amount: float, rng: np.random.Generator) -> np.ndarray:
    """Brightness, contrast and (colour images) saturation each scaled by a factor in [1-amount, 1+amount].

    The three are linear, so they fold into one OpenCV weighted sum (saturating to uint8):
    out = a * (s * image + (1 - s) * gray) + beta with a = brightness * contrast and
    beta = brightness * (1 - contrast) * mean(gray)."""
    brightness, contrast, saturation = (float(f) for f in rng.uniform(1 - amount, 1 + amount, size=3))
    colour = image.shape[2] == 3
    gray = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY) if colour else image[:, :, 0]
    alpha = brightness * contrast
    beta = brightness * (1.0 - contrast) * float(gray.mean())
    if not colour:
        return cv2.addWeighted(gray, alpha, gray, 0.0, beta)[:, :, None]
    gray3 = cv2.cvtColor(gray, cv2.COLOR_GRAY2RGB)
    return cv2.addWeighted(image, alpha * saturation, gray3, alpha * (1.0 - saturation), beta)


def gaussian_blur(image: np.ndarray, sigma: float) -> np.ndarray:
    """The image blurred with a Gaussian of `sigma` pixels (kernel +-3 sigma), channels kept."""
    return _keep_channels(cv2.GaussianBlur(image, (0, 0), sigmaX=sigma, sigmaY=sigma), image)
