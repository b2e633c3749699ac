"""SegDataset: image/mask file pairs plus the class metadata a model spec needs, read lazily per item."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from segnet.data.imageio import read_image, read_mask
from segnet.data.mask_options import MaskDecoder
from segnet.errors import DataError


def label_lut(num_classes: int, ignore_index: int | None, remap: Mapping[int, int] | None = None,
              size: int = 256) -> np.ndarray:
    """Lookup table raw mask value -> label (int64): 0..num_classes-1 and the ignore index map to
    themselves, `remap` overrides entries, everything else is -1 (invalid)."""
    lut = np.full(size, -1, dtype=np.int64)
    lut[:min(num_classes, size)] = np.arange(min(num_classes, size))
    if ignore_index is not None and 0 <= ignore_index < size:
        lut[ignore_index] = ignore_index
    for raw, label in (remap or {}).items():
        lut[raw] = label
    return lut


class SegDataset:
    """Pairs of (image, mask) files. `dataset[i]` is (HxWx3 RGB uint8 or HxWx1 uint8, HxW int64 labels)
    with ignored pixels equal to `ignore_index`; `num_classes == 1` means binary masks (labels 0/1).
    Sizes and label ranges are checked per item, naming the file at fault."""

    def __init__(self, image_paths: Sequence[Path], mask_paths: Sequence[Path], *, class_names: Sequence[str],
                 palette: Sequence[Sequence[int]], num_classes: int, ignore_index: int | None = 255,
                 in_channels: int = 3, lut: np.ndarray | None = None, name: str = "folder",
                 root: Path | None = None, split: str = "", class_weights: Sequence[float] | None = None,
                 transform: Callable[[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]] | None = None,
                 decoder: MaskDecoder | None = None) -> None:
        if len(image_paths) != len(mask_paths):
            raise ValueError("image_paths and mask_paths differ in length")
        self.image_paths: list[Path] = [Path(p) for p in image_paths]
        self.mask_paths: list[Path] = [Path(p) for p in mask_paths]
        self.class_names = list(class_names)
        self.palette = [tuple(int(c) for c in rgb) for rgb in palette]
        self.num_classes = int(num_classes)
        self.ignore_index = ignore_index
        self.in_channels = int(in_channels)
        labels = 2 if self.num_classes == 1 else self.num_classes
        self.lut = lut if lut is not None else label_lut(labels, ignore_index)
        self.name = name
        self.root = root
        self.split = split
        self.class_weights = list(class_weights) if class_weights is not None else None
        self.transform = transform
        # colour / one-hot masks: path -> labels (segnet.data.color_masks, onehot_masks); None: `lut` of raw values
        self.decoder = decoder

    def __len__(self) -> int:
        return len(self.image_paths)

    def __getitem__(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        if not -len(self) <= index < len(self):
            raise IndexError(f"index {index} out of range for {len(self)} items")
        image = read_image(self.image_paths[index], self.in_channels)
        mask = self.load_mask(index)
        if mask.shape != image.shape[:2]:
            raise DataError(
                f"{self.mask_paths[index]}: mask is {mask.shape[1]}x{mask.shape[0]} but its image "
                f"{self.image_paths[index].name} is {image.shape[1]}x{image.shape[0]} (width x height)")
        if self.transform is not None:
            return self.transform(image, mask)
        return image, mask

    def load_mask(self, index: int) -> np.ndarray:
        """The HxW int64 labels of item `index` (no image read), validated against the class range."""
        path = self.mask_paths[index]
        if self.decoder is not None:
            return self.decoder(path)
        raw = read_mask(path)
        if int(raw.max(initial=0)) >= self.lut.size:
            return self._invalid(path, raw[raw >= self.lut.size])
        mask = self.lut[raw]
        invalid = mask < 0
        if invalid.any():
            return self._invalid(path, raw[invalid])
        return mask

    def set_ignore_index(self, value: int) -> None:
        """Use `value` as the ignore index (a raw mask value of `value` then means "ignore")."""
        self.ignore_index = value
        if 0 <= value < self.lut.size:
            self.lut[value] = value
        if self.decoder is not None:
            self.decoder.ignore_index = value

    def _invalid(self, path: Path, values: np.ndarray) -> np.ndarray:
        bad = np.unique(values)
        shown = ", ".join(str(v) for v in bad[:8]) + (", ..." if bad.size > 8 else "")
        if self.num_classes == 1:
            expected = "a binary mask holds only 0 and 255"
        else:
            valid = sorted(int(v) for v in np.flatnonzero(self.lut >= 0))
            expected = f"valid values are {_ranges(valid)}"
        raise DataError(f"{path}: mask value(s) {shown} outside the {self.num_classes} classes ({expected})")

    def spec_fields(self) -> dict[str, Any]:
        """The ModelSpec keyword arguments this dataset determines (classes, palette, channels, ignore)."""
        return {"num_classes": self.num_classes, "in_channels": self.in_channels,
                "class_names": list(self.class_names), "palette": [list(c) for c in self.palette],
                "ignore_index": self.ignore_index}

    def __repr__(self) -> str:
        return (f"SegDataset({self.name}, split={self.split!r}, {len(self)} items, "
                f"{self.num_classes} classes, {self.in_channels} channel(s), root={self.root})")


def _ranges(values: list[int]) -> str:
    """'0..10, 255' for [0, 1, ..., 10, 255] (sorted input)."""
    runs: list[list[int]] = []
    for v in values:
        if runs and v == runs[-1][1] + 1:
            runs[-1][1] = v
        else:
            runs.append([v, v])
    return ", ".join(str(a) if a == b else f"{a}..{b}" for a, b in runs)
