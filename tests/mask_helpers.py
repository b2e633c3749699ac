"""Write a class-index dataset again with its masks in another form: colour-coded PNGs, one-hot .npy
(channel-last or channel-first), multi-page TIFF, or a folder of one PNG per class. The tests then check
that every form reads back to the same labels."""

from __future__ import annotations

import json
import shutil
from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np

FORMS = ("color", "npy", "npy_chw", "tiff", "pngdir")


def to_color(labels: np.ndarray, palette: Sequence[Sequence[int]], ignore_index: int = 255,
             ignore_color: Sequence[int] = (0, 0, 0)) -> np.ndarray:
    """HxW labels -> HxWx3 RGB, `ignore_index` pixels in `ignore_color`."""
    table = np.zeros((256, 3), np.uint8)
    table[:len(palette)] = np.asarray(palette, np.uint8)
    table[ignore_index] = ignore_color
    return table[labels]


def to_planes(labels: np.ndarray, num_classes: int) -> np.ndarray:
    """HxW labels -> C x H x W uint8 0/1 (ignored pixels in no channel)."""
    return (labels[None] == np.arange(num_classes)[:, None, None]).astype(np.uint8)


def write_mask(path_stem: Path, labels: np.ndarray, form: str, palette: Sequence[Sequence[int]],
               ignore_index: int = 255) -> Path:
    """Write `labels` as `form` beside `path_stem` (no extension); returns the file or folder."""
    planes = to_planes(labels, len(palette))
    if form == "color":
        path = path_stem.with_suffix(".png")
        cv2.imwrite(str(path), cv2.cvtColor(to_color(labels, palette, ignore_index), cv2.COLOR_RGB2BGR))
    elif form == "npy":
        path = path_stem.with_suffix(".npy")
        np.save(path, np.moveaxis(planes, 0, 2).astype(bool))
    elif form == "npy_chw":
        path = path_stem.with_suffix(".npy")
        np.save(path, planes.astype(np.float32))
    elif form == "tiff":
        path = path_stem.with_suffix(".tif")
        assert cv2.imwritemulti(str(path), list(planes * 255))
    elif form == "pngdir":
        path = path_stem
        path.mkdir()
        for k, plane in enumerate(planes):
            if plane.any():  # a class absent from the image has no file
                cv2.imwrite(str(path / f"{k}.png"), plane * 255)
    else:
        raise ValueError(form)
    return path


def convert_dataset(source: Path, target: Path, form: str, names: Sequence[str], palette: Sequence[Sequence[int]],
                    splits: Sequence[str] = ("train", "val"), classes_json: bool = True, ignore_index: int = 255,
                    limit: int | None = None, read=None) -> Path:  # type: ignore[no-untyped-def]
    """`target` in the folder layout with `source`'s images and its masks written as `form`. `read(mask_path)`
    gives the labels (default: the 8-bit mask file as it is); image/mask pairs are taken from
    source/split/{images,masks} or, for CamVid, source/split + source/splitannot."""
    for split in splits:
        images_in = source / split / "images" if (source / split / "images").is_dir() else source / split
        masks_in = source / split / "masks" if (source / split / "masks").is_dir() else source / f"{split}annot"
        (target / split / "images").mkdir(parents=True)
        (target / split / "masks").mkdir(parents=True)
        for image in sorted(images_in.glob("*.png"))[:limit]:
            shutil.copyfile(image, target / split / "images" / image.name)
            mask_file = masks_in / image.name
            labels = read(mask_file) if read else cv2.imread(str(mask_file), cv2.IMREAD_UNCHANGED)
            write_mask(target / split / "masks" / image.stem, labels, form, palette, ignore_index)
    if classes_json:
        document = {"names": list(names), "palette": [list(c) for c in palette], "ignore_index": ignore_index}
        if form == "color":
            document["ignore_colors"] = [[0, 0, 0]]
        (target / "classes.json").write_text(json.dumps(document))
    return target
