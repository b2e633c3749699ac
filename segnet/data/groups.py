"""Groups of files that belong together (a video sequence, a recording session): validation on whole groups
held out from training, and the warnings when val images are near neighbours of training images.

A file's group is its name up to the first `_` (`prefix`: CamVid's 0001TP_006690.png -> 0001TP; a name
without `_` has no group) or its parent folder's name (`folder`). docs/training.md, "Honest validation", has the CamVid measurements.
"""

from __future__ import annotations

import copy
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np

from segnet.data.dataset import SegDataset
from segnet.errors import DataError

GROUP_RULES = ("prefix", "folder")
CAMVID_SEQUENCES = ("0001TP", "0006R0", "0016E5", "Seq05VD")  # train/val hold the first three, test adds Seq05VD
THUMB_SIZE = (32, 24)  # (width, height) of the grey thumbnails compared
NEAR_DUPLICATE = 0.15  # mean |difference| of contrast-normalised thumbnails below which two frames are "the same"
MAX_COMPARED = 400  # val images checked for near-duplicates (the check stays a fraction of a second)


def parse_names(text: str | None) -> list[str]:
    """Group names from a comma-separated option value (--val-groups, --groups); blanks dropped."""
    return [g.strip() for g in (text or "").split(",") if g.strip()]


def group_of(path: Path, rule: str = "prefix") -> str:
    """The group of one file under `rule` (prefix | folder)."""
    if rule == "folder":
        return path.parent.name
    if rule != "prefix":
        raise DataError(f"unknown group rule {rule!r}: use one of {', '.join(GROUP_RULES)}")
    head, sep, _ = path.stem.partition("_")
    return head if sep else ""


def group_counts(dataset: SegDataset, rule: str = "prefix") -> Counter[str]:
    """Images per group (files without a group are not counted)."""
    return Counter(g for g in (group_of(p, rule) for p in dataset.image_paths) if g)


def subset(dataset: SegDataset, indices: Sequence[int], split: str) -> SegDataset:
    """A copy of `dataset` holding only the pairs at `indices`, labelled `split`."""
    part = copy.copy(dataset)
    part.image_paths = [dataset.image_paths[i] for i in indices]
    part.mask_paths = [dataset.mask_paths[i] for i in indices]
    part.split = split
    return part


def concat(first: SegDataset, second: SegDataset) -> SegDataset:
    """The pairs of both splits of one dataset (same classes) as one."""
    if first.num_classes != second.num_classes:
        raise DataError(f"{first.root}: {first.split} has {first.num_classes} classes but {second.split} "
                        f"{second.num_classes}")
    pooled = copy.copy(first)
    pooled.image_paths = first.image_paths + second.image_paths
    pooled.mask_paths = first.mask_paths + second.mask_paths
    pooled.split = f"{first.split}+{second.split}"
    return pooled


def _indices(dataset: SegDataset, groups: Sequence[str], rule: str) -> tuple[list[int], str]:
    """(indices of the pairs whose group is in `groups`, the groups found as "name (n), ..."); a group that is
    not there is an error listing the groups found."""
    counts = group_counts(dataset, rule)
    found = ", ".join(f"{name} ({n})" for name, n in sorted(counts.items()))
    missing = [g for g in groups if g not in counts]
    if missing:
        raise DataError(f"{dataset.root}: no images of group {', '.join(missing)} (by {rule}) in {dataset.split}; "
                        f"the groups here: {found}")
    wanted = set(groups)
    return [i for i, p in enumerate(dataset.image_paths) if group_of(p, rule) in wanted], found


def select(dataset: SegDataset, groups: Sequence[str], rule: str = "prefix") -> SegDataset:
    """The pairs of `dataset` whose group is in `groups` (e.g. one sequence to score on)."""
    indices, _ = _indices(dataset, groups, rule)
    return subset(dataset, indices, f"{dataset.split}:" + ",".join(groups))


def hold_out(pool: SegDataset, groups: Sequence[str], rule: str = "prefix") -> tuple[SegDataset, SegDataset]:
    """(train, val): val is every pair of `pool` whose group is in `groups`, train the rest. A group that
    is not there, or one that leaves nothing to train on, is an error listing the groups found."""
    val, found = _indices(pool, groups, rule)
    chosen = set(val)
    train = [i for i in range(len(pool)) if i not in chosen]
    if not train:
        raise DataError(f"{pool.root}: holding out {', '.join(groups)} leaves nothing to train on; groups: {found}")
    return subset(pool, train, "train"), subset(pool, val, "val:" + ",".join(groups))


def _thumbnails(paths: Sequence[Path]) -> np.ndarray:
    thumbs = []
    for path in paths:
        image = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)
        if image is None:
            raise DataError(f"{path}: cannot read the image")
        thumb = cv2.resize(image, THUMB_SIZE, interpolation=cv2.INTER_AREA).astype(np.float32)
        thumbs.append((thumb - thumb.mean()) / (thumb.std() + 1e-6))
    return np.stack(thumbs) if thumbs else np.zeros((0, THUMB_SIZE[1], THUMB_SIZE[0]), np.float32)


def near_duplicates(train: SegDataset, val: SegDataset, limit: int = MAX_COMPARED) -> int:
    """How many of (up to `limit` evenly spread) val images have a training image whose contrast-normalised
    thumbnail differs by less than NEAR_DUPLICATE: frames of one scene seconds apart, in effect."""
    pick = np.linspace(0, len(val) - 1, min(limit, len(val))).astype(int) if len(val) else np.zeros(0, int)
    val_t = _thumbnails([val.image_paths[i] for i in pick])
    step = max(1, len(train) // (4 * limit))
    train_t = _thumbnails(train.image_paths[::step])
    if not len(val_t) or not len(train_t):
        return 0
    nearest = np.array([np.abs(train_t - v).mean(axis=(1, 2)).min() for v in val_t])
    return int((nearest < NEAR_DUPLICATE).sum())


def leakage_warnings(train: SegDataset, val: SegDataset, rule: str = "prefix") -> list[str]:
    """Why val scores may overstate accuracy on unseen footage: groups that both splits share, and val
    images that are near-duplicates of training images. Empty when neither is found."""
    warnings = []
    train_groups, val_groups = group_counts(train, rule), group_counts(val, rule)
    shared = sorted(set(train_groups) & set(val_groups))
    if shared and len(train_groups) > 1:  # one group for everything means the rule does not apply
        detail = ", ".join(f"{g}: {train_groups[g]} train / {val_groups[g]} val" for g in shared)
        warnings.append(f"val images share {rule} groups with the training images ({detail}): val mIoU "
                        "overstates accuracy on unseen sequences; hold whole groups out with --val-groups")
    close = near_duplicates(train, val)
    if close:
        warnings.append(f"{close} val images are near-duplicates of training images (thumbnails nearly equal): "
                        "val mIoU overstates accuracy on new footage")
    return warnings
