"""The generic folder layout: root/{train,val,test}/{images,masks}, optional root/classes.json."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from segnet.data.dataset import SegDataset, label_lut
from segnet.data.imageio import (
    IMAGE_EXTENSIONS,
    MASK_EXTENSIONS,
    image_channels,
    read_mask,
)
from segnet.errors import DataError
from segnet.spec import default_palette

SPLITS = ("train", "val", "test")
BINARY_NAMES = ["background", "foreground"]
# Mask scans are costly (every mask is read): remembered per process, keyed by the files' paths, sizes, mtimes.
_SCAN_CACHE: dict[tuple[tuple[str, int, int], ...], frozenset[int]] = {}


def is_folder_layout(root: Path) -> bool:
    """True when some split folder of `root` holds an images/ folder."""
    return any((root / split / "images").is_dir() for split in SPLITS)


def list_images(folder: Path) -> list[Path]:
    """Image files of `folder` sorted by name; two images with one stem are an error (which mask is whose?)."""
    files = sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS)
    seen: dict[str, Path] = {}
    for path in files:
        if path.stem in seen:
            raise DataError(f"{path}: same name as {seen[path.stem].name}; keep one image per name")
        seen[path.stem] = path
    return files


def pair_masks(images: Sequence[Path], mask_dir: Path, extensions: Sequence[str] = MASK_EXTENSIONS,
               ) -> list[Path]:
    """The mask file of each image (same stem in `mask_dir`); the first image lacking one is an error."""
    rank = {ext: i for i, ext in enumerate(extensions)}  # a.png beats a.bmp when both exist
    files = [p for p in mask_dir.iterdir() if p.is_file() and p.suffix.lower() in rank]
    available = {p.stem: p for p in sorted(files, key=lambda p: (-rank[p.suffix.lower()], p.name))}
    missing = [image for image in images if image.stem not in available]
    if missing:
        more = f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""
        raise DataError(f"{missing[0]}: no mask for this image in {mask_dir} (expected "
                        f"{missing[0].stem}{extensions[0]}){more}")
    return [available[image.stem] for image in images]


def scan_mask_values(mask_paths: Sequence[Path]) -> frozenset[int]:
    """Every raw value occurring in the masks (cached in memory for unchanged files)."""
    key = tuple((str(p), (st := p.stat()).st_size, st.st_mtime_ns) for p in mask_paths)
    if key not in _SCAN_CACHE:
        values: set = set()
        for path in mask_paths:
            raw = read_mask(path)
            counts = np.bincount(raw.ravel(), minlength=256)
            values.update(int(v) for v in np.flatnonzero(counts))
        _SCAN_CACHE[key] = frozenset(values)
    return _SCAN_CACHE[key]


def read_classes_json(path: Path) -> dict[str, Any]:
    """Validated classes.json: {"names": [...], "palette": [[r,g,b], ...], "ignore_index": 255, "binary": false}."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise DataError(f"{path}: cannot read classes file ({exc})") from None
    names = data.get("names") if isinstance(data, dict) else None
    if not isinstance(names, list) or not names or not all(isinstance(n, str) for n in names):
        raise DataError(f"{path}: needs \"names\": a non-empty list of class names")
    palette = data.get("palette") or default_palette(len(names))
    if len(palette) != len(names) or not all(
            isinstance(c, (list, tuple)) and len(c) == 3 and all(isinstance(v, int) and 0 <= v <= 255 for v in c)
            for c in palette):
        raise DataError(f"{path}: \"palette\" needs one [r, g, b] (0..255) per class name ({len(names)})")
    ignore = data.get("ignore_index", 255)
    if ignore is not None and (not isinstance(ignore, int) or 0 <= ignore < len(names)):
        raise DataError(f"{path}: \"ignore_index\" must be null or an integer that is not a class index")
    binary = bool(data.get("binary", False))
    if binary and len(names) != 2:
        raise DataError(f"{path}: a binary dataset has exactly two names (background, foreground)")
    return {"names": names, "palette": [tuple(c) for c in palette], "ignore_index": ignore, "binary": binary}


def split_files(root: Path, split: str) -> tuple[list[Path], list[Path]]:
    """(images, masks) of one split, all paired."""
    image_dir, mask_dir = root / split / "images", root / split / "masks"
    for folder in (image_dir, mask_dir):
        if not folder.is_dir():
            raise DataError(f"{folder}: folder not found (split {split!r} of the folder layout "
                            f"root/{{{','.join(SPLITS)}}}/{{images,masks}})")
    images = list_images(image_dir)
    if not images:
        raise DataError(f"{image_dir}: no images ({', '.join(IMAGE_EXTENSIONS)})")
    return images, pair_masks(images, mask_dir)


def open_folder(root: Path, split: str) -> SegDataset:
    """The folder-layout dataset of one split. Classes come from classes.json, or else from a scan of all
    splits' masks: only 0/255 -> binary (255 = foreground), otherwise max label + 1 classes, 255 ignored."""
    images, masks = split_files(root, split)
    classes_file = root / "classes.json"
    if classes_file.is_file():
        meta = read_classes_json(classes_file)
    else:
        meta = _scanned_classes(root)
    ignore: int | None = meta["ignore_index"]
    if meta["binary"]:
        num_classes, lut = 1, label_lut(0, None, {0: 0, 255: 1})
    else:
        num_classes = len(meta["names"])
        lut = label_lut(num_classes, ignore, size=65536 if num_classes > 255 else 256)
    return SegDataset(images, masks, class_names=meta["names"], palette=meta["palette"], num_classes=num_classes,
                      ignore_index=ignore, in_channels=image_channels(images[0]), lut=lut, name="folder",
                      root=root, split=split)


def _scanned_classes(root: Path) -> dict[str, Any]:
    """Class metadata from the values found in every split's masks."""
    all_masks = [m for s in SPLITS if (root / s / "images").is_dir() and (root / s / "masks").is_dir()
                 for m in split_files(root, s)[1]]
    values = scan_mask_values(all_masks)
    if values <= {0, 255} and 255 in values:
        return {"names": BINARY_NAMES, "palette": default_palette(2), "ignore_index": 255, "binary": True}
    labels = [v for v in values if v != 255]
    count = max(labels, default=0) + 1
    names = [f"class{i}" for i in range(count)]
    return {"names": names, "palette": default_palette(count), "ignore_index": 255, "binary": False}
