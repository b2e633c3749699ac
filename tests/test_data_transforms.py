"""Augmentations keep image and mask aligned, pad with the ignore index, and are reproducible from a seed."""

from __future__ import annotations

import numpy as np
import pytest

from segnet.data.transforms import EvalTransform, TrainTransform, color_jitter, gaussian_blur

COLOURS = np.array([[20, 20, 20], [230, 40, 40], [40, 230, 40], [40, 40, 230]], np.uint8)


def blocky_pair(height: int = 60, width: int = 80, block: int = 10, seed: int = 0):
    """An image of flat colour blocks and the mask naming each block's colour: the mask is a function
    of the image, so any misalignment after a transform shows up as disagreement."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 4, (height // block, width // block))
    mask = np.kron(labels, np.ones((block, block), np.int64))
    return COLOURS[mask], mask


def labels_from_image(image: np.ndarray) -> np.ndarray:
    distance = ((image[:, :, None, :].astype(int) - COLOURS[None, None].astype(int)) ** 2).sum(-1)
    return distance.argmin(-1)


@pytest.mark.parametrize("seed", range(6))
def test_train_transform_keeps_image_and_mask_aligned(seed: int):
    image, mask = blocky_pair(seed=seed)
    transform = TrainTransform((48, 64), scale=(0.6, 1.6), jitter=0.0, seed=seed)
    out_image, out_mask = transform(image, mask)
    assert out_image.shape == (48, 64, 3) and out_image.dtype == np.uint8
    assert out_mask.shape == (48, 64) and out_mask.dtype == np.int64
    valid = out_mask != 255
    agree = (labels_from_image(out_image)[valid] == out_mask[valid]).mean()
    assert agree > 0.95  # only pixels on block edges (interpolated colours) may disagree
    assert (out_image[~valid] == 0).all()  # padding: black image, ignored labels


def test_flip_mirrors_image_and_mask_together():
    image, mask = blocky_pair(seed=3)
    transform = TrainTransform(mask.shape, scale=(1.0, 1.0), jitter=0.0, seed=0)
    flipped = unchanged = 0
    for _ in range(20):
        out_image, out_mask = transform(image, mask)
        if np.array_equal(out_mask, mask):
            np.testing.assert_array_equal(out_image, image)
            unchanged += 1
        else:
            np.testing.assert_array_equal(out_mask, mask[:, ::-1])
            np.testing.assert_array_equal(out_image, image[:, ::-1])
            flipped += 1
    assert flipped and unchanged


def test_small_scale_pads_mask_with_ignore_index():
    image, mask = blocky_pair()
    out_image, out_mask = TrainTransform((60, 80), scale=(0.5, 0.5), jitter=0.0, ignore_index=99, seed=1)(image, mask)
    padded = out_mask == 99
    assert 0.7 < padded.mean() < 0.8  # a half-size image covers a quarter of the crop
    assert (out_image[padded] == 0).all()


def test_seeded_transforms_are_reproducible_and_rng_overrides():
    image, mask = blocky_pair()
    a = TrainTransform((32, 48), seed=5)
    b = TrainTransform((32, 48), seed=5)
    c = TrainTransform((32, 48), seed=6)
    outs_a = [a(image, mask) for _ in range(3)]
    outs_b = [b(image, mask) for _ in range(3)]
    for (ia, ma), (ib, mb) in zip(outs_a, outs_b):
        np.testing.assert_array_equal(ia, ib)
        np.testing.assert_array_equal(ma, mb)
    assert any(not np.array_equal(c(image, mask)[0], ia) for ia, _ in outs_a)
    first = a(image, mask, rng=np.random.default_rng(42))
    second = c(image, mask, rng=np.random.default_rng(42))
    np.testing.assert_array_equal(first[0], second[0])  # an explicit rng decides, not the transform's own


def test_color_jitter_changes_image_only():
    image, mask = blocky_pair()
    out_image, out_mask = TrainTransform(mask.shape, hflip=False, scale=(1.0, 1.0), jitter=0.4, seed=2)(image, mask)
    np.testing.assert_array_equal(out_mask, mask)
    assert not np.array_equal(out_image, image)
    gray = color_jitter(image[:, :, :1], 0.4, np.random.default_rng(0))
    assert gray.shape == (60, 80, 1) and gray.dtype == np.uint8


def test_blur_softens_the_image_only_and_leaves_other_draws_alone():
    image, mask = blocky_pair()
    sharp = TrainTransform(mask.shape, scale=(0.8, 1.2), jitter=0.3, seed=3)(image, mask)
    never = TrainTransform(mask.shape, scale=(0.8, 1.2), jitter=0.3, blur=0.0, seed=3)(image, mask)
    np.testing.assert_array_equal(sharp[0], never[0])  # blur 0 makes no draw: earlier runs stay reproducible
    plain = TrainTransform(mask.shape, hflip=False, scale=(1.0, 1.0), jitter=0.0, seed=4)(image, mask)
    out_image, out_mask = TrainTransform(mask.shape, hflip=False, scale=(1.0, 1.0), jitter=0.0, blur=1.0,
                                         seed=4)(image, mask)
    np.testing.assert_array_equal(out_mask, plain[1])
    edges = lambda im: np.abs(np.diff(im.astype(np.int32), axis=1)).max()
    assert out_image.shape == image.shape and edges(out_image) < edges(plain[0])  # block edges softened
    assert gaussian_blur(image[:, :, :1], 1.0).shape == (60, 80, 1)
    with pytest.raises(ValueError, match="blur"):
        TrainTransform((8, 8), blur=1.5)


def test_eval_transform_resizes_mask_with_nearest_labels():
    image, mask = blocky_pair()
    mask[0, 0] = 255
    out_image, out_mask = EvalTransform((30, 40))(image, mask)
    assert out_image.shape == (30, 40, 3) and out_mask.shape == (30, 40)
    assert set(np.unique(out_mask)) <= set(np.unique(mask))
    out_gray, _ = EvalTransform((90, 120))(image[:, :, :1], mask)
    assert out_gray.shape == (90, 120, 1)


def test_invalid_arguments():
    with pytest.raises(ValueError, match="scale"):
        TrainTransform((8, 8), scale=(1.5, 1.0))
    with pytest.raises(ValueError, match="size"):
        EvalTransform((0, 8))
