"""The generic folder layout: root/{train,val,test}/{images,masks}, optional root/classes.json."""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from segnet import atomic
from segnet.data.color_masks import (
    ColorDecoder,
    color_name,
    discover_colors,
    discovered_document,
    is_color_image,
)
from segnet.data.dataset import SegDataset, label_lut
from segnet.data.imageio import (
    IMAGE_EXTENSIONS,
    MASK_EXTENSIONS,
    image_channels,
    is_palette_png,
    read_mask,
)
from segnet.data.mask_cache import CachedDecoder, announce
from segnet.data.mask_options import MASK_FORMATS, MaskDecoder, MaskOptions
from segnet.data.onehot_masks import OneHotDecoder, count_channels, is_onehot_file
from segnet.errors import DataError
from segnet.spec import default_palette

SPLITS = ("train", "val", "test")
BINARY_NAMES = ["background", "foreground"]
MAX_DISCOVERED = 255  # more colours than this in "discovered" masks are not a class palette
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
    """The mask of each image (same stem in `mask_dir`: a file, or a folder of per-class files for one-hot
    masks); the first image lacking one is an error."""
    rank = {ext: i for i, ext in enumerate(extensions)}  # a.png beats a.bmp when both exist
    files = [p for p in mask_dir.iterdir() if (p.is_file() and p.suffix.lower() in rank) or p.is_dir()]
    order = {p: rank.get(p.suffix.lower(), len(rank)) if p.is_file() else len(rank) for p in files}
    available = {p.stem if p.is_file() else p.name: p for p in sorted(files, key=lambda p: (-order[p], p.name))}
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
    return classes_fields(data, path)


def classes_fields(data: Any, path: Path) -> dict[str, Any]:
    """The validated fields of a classes.json document (`path` is named in the errors)."""
    names = data.get("names") if isinstance(data, dict) else None
    if not isinstance(names, list) or not names or not all(isinstance(n, str) for n in names):
        raise DataError(f"{path}: needs \"names\": a non-empty list of class names")
    palette = data.get("palette") or default_palette(len(names))
    if len(palette) != len(names) or not all(_is_rgb(c) for c in palette):
        raise DataError(f"{path}: \"palette\" needs one [r, g, b] (0..255) per class name ({len(names)})")
    ignore = data.get("ignore_index", 255)
    if ignore is not None and (not isinstance(ignore, int) or 0 <= ignore < len(names)):
        raise DataError(f"{path}: \"ignore_index\" must be null or an integer that is not a class index")
    binary = bool(data.get("binary", False))
    if binary and len(names) != 2:
        raise DataError(f"{path}: a binary dataset has exactly two names (background, foreground)")
    ignore_colors = data.get("ignore_colors") or []
    if not isinstance(ignore_colors, list) or not all(_is_rgb(c) for c in ignore_colors):
        raise DataError(f"{path}: \"ignore_colors\" needs a list of [r, g, b] (0..255) colours")
    mask_format = data.get("mask_format", "auto")
    if mask_format not in MASK_FORMATS:
        raise DataError(f"{path}: \"mask_format\" {mask_format!r}: choose {', '.join(MASK_FORMATS)}")
    return {"names": names, "palette": [tuple(c) for c in palette], "ignore_index": ignore, "binary": binary,
            "palette_given": "palette" in data and bool(data["palette"]),
            "ignore_colors": [tuple(c) for c in ignore_colors], "mask_format": mask_format}


def _is_rgb(value: object) -> bool:
    return isinstance(value, (list, tuple)) and len(value) == 3 and all(
        isinstance(v, int) and 0 <= v <= 255 for v in value)


def split_files(root: Path, split: str, extensions: Sequence[str] = MASK_EXTENSIONS) -> tuple[list[Path], list[Path]]:
    """(images, masks) of one split, all paired."""
    image_dir, mask_dir = root / split / "images", root / split / "masks"
    for folder in (image_dir, mask_dir):
        if not folder.is_dir():
            raise DataError(f"{folder}: folder not found (split {split!r} of the folder layout "
                            f"root/{{{','.join(SPLITS)}}}/{{images,masks}})")
    images = list_images(image_dir)
    if not images:
        raise DataError(f"{image_dir}: no images ({', '.join(IMAGE_EXTENSIONS)})")
    return images, pair_masks(images, mask_dir, extensions)


def open_folder(root: Path, split: str, masks: MaskOptions | None = None) -> SegDataset:
    """The folder-layout dataset of one split. Index masks: classes come from classes.json, or else from a
    scan of all splits' masks (only 0/255 -> binary, 255 = foreground; otherwise max label + 1 classes,
    255 ignored). Colour and one-hot masks are converted by a decoder (cached, see mask_cache)."""
    options = masks or MaskOptions()
    extensions = MASK_EXTENSIONS + (".npy",) + ((".jpg", ".jpeg") if options.tolerance else ())
    images, mask_files = split_files(root, split, extensions)
    classes_file = root / "classes.json"
    meta = read_classes_json(classes_file) if classes_file.is_file() else None
    kind = mask_kind(mask_files, meta)
    channels = image_channels(images[0])
    if kind == "index":
        meta = meta or _scanned_classes(root)
        ignore: int | None = meta["ignore_index"]
        if meta["binary"]:
            num_classes, lut = 1, label_lut(0, None, {0: 0, 255: 1})
        else:
            num_classes = len(meta["names"])
            lut = label_lut(num_classes, ignore, size=65536 if num_classes > 255 else 256)
        return SegDataset(images, mask_files, class_names=meta["names"], palette=meta["palette"],
                          num_classes=num_classes, ignore_index=ignore, in_channels=channels, lut=lut,
                          name="folder", root=root, split=split)
    decoder: MaskDecoder
    if kind == "color":
        if meta is None:
            meta = _discovered_classes(root, split, extensions)
        elif not meta["palette_given"]:
            raise DataError(f"{mask_files[0]}: mask is a colour image but {classes_file} has no \"palette\" to map "
                            "its colours to classes: add one [r, g, b] per class name, or remove classes.json to "
                            "have the colours discovered")
        decoder = ColorDecoder(meta["palette"], meta["ignore_colors"], meta["ignore_index"], options.tolerance,
                               classes_file)
    else:
        if meta is None:
            count = count_channels(mask_files[0])
            meta = {"names": [f"class{i}" for i in range(count)], "palette": default_palette(count),
                    "ignore_index": 255}
        decoder = OneHotDecoder(meta["names"], meta["ignore_index"], options.overlap, options.empty)
    folder = options.cache_dir()
    if folder is not None:
        decoder = CachedDecoder(decoder, folder)
        announce(f"masks: {kind} masks of {root} are converted to class indices once and cached in {folder} "
                 "(--mask-cache DIR to move it, --mask-cache off to disable)")
    num_classes = len(meta["names"])
    return SegDataset(images, mask_files, class_names=meta["names"], palette=meta["palette"],
                      num_classes=num_classes, ignore_index=meta["ignore_index"], in_channels=channels,
                      lut=label_lut(num_classes, meta["ignore_index"]), name="folder", root=root, split=split,
                      decoder=decoder)


def mask_kind(mask_files: Sequence[Path], meta: dict[str, Any] | None) -> str:
    """"index", "color" or "onehot": classes.json's "mask_format" when it says, else from the files (the
    first mask's form; colour when one of the first 16 masks has unequal colour channels)."""
    if meta is not None and meta["mask_format"] != "auto":
        return str(meta["mask_format"])
    if is_onehot_file(mask_files[0]):
        return "onehot"
    if any(is_color_image(p) for p in mask_files[:16] if not is_palette_png(p)):
        return "color"
    return "index"


def _discovered_classes(root: Path, split: str, extensions: Sequence[str]) -> dict[str, Any]:
    """Classes from the colours of the training masks (this split's without a train split): printed and
    written to root/classes.json for the user to name (kept in memory when root is not writable)."""
    source = "train" if (root / "train" / "masks").is_dir() else split
    found = discover_colors(split_files(root, source, extensions)[1])
    folder = root / source / "masks"
    if len(found) > MAX_DISCOVERED:
        raise DataError(f"{folder}: {len(found)} distinct colours in the masks; that is not a class palette "
                        "(photos, or JPEG-damaged masks?): write classes.json with the palette and use "
                        "--mask-tolerance N for damaged masks")
    document = discovered_document(found, f"{source}/masks")
    text = json.dumps(document, indent=2) + "\n"
    lines = [f"  {color_name(rgb):<18} {rgb}  {pixels} px" for rgb, pixels in found]
    target = root / "classes.json"
    try:
        atomic.write_text(target, text)
        where = f"written to {target}: name the classes there (move void colours to \"ignore_colors\")"
    except OSError as exc:
        where = f"could not write {target} ({exc.strerror or exc}); save this as classes.json:\n{text}"
    print(f"masks: {len(found)} colours found in {folder}, {where}\n" + "\n".join(lines), file=sys.stderr)
    return classes_fields(document, target)


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
