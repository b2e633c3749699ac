"""Pascal VOC 2012 segmentation: JPEGImages/, SegmentationClass/ palette PNGs, ImageSets/Segmentation/*.txt."""

from __future__ import annotations

from pathlib import Path

from segnet.data.dataset import SegDataset, label_lut
from segnet.errors import DataError
from segnet.spec import default_palette

CLASS_NAMES = ["background", "aeroplane", "bicycle", "bird", "boat", "bottle", "bus", "car", "cat", "chair",
               "cow", "diningtable", "dog", "horse", "motorbike", "person", "pottedplant", "sheep", "sofa",
               "train", "tvmonitor"]
PALETTE = default_palette(len(CLASS_NAMES))  # VOC's own colour map
IGNORE_INDEX = 255  # object borders and difficult regions


def find_voc_root(root: Path) -> Path | None:
    """The VOC2012 folder itself, given it or its parent (VOCdevkit) or grandparent; None if absent."""
    for candidate in (root, root / "VOC2012", root / "VOCdevkit" / "VOC2012"):
        if (candidate / "ImageSets" / "Segmentation").is_dir():
            return candidate
    return None


def open_voc(root: Path, split: str) -> SegDataset:
    """One split (train, val, trainval, ...) of VOC 2012 segmentation: 21 classes, 255 ignored."""
    voc = find_voc_root(root)
    if voc is None:
        raise DataError(f"{root}: not a Pascal VOC 2012 folder (expected ImageSets/Segmentation/ in it, "
                        "in VOC2012/ or in VOCdevkit/VOC2012/)")
    list_file = voc / "ImageSets" / "Segmentation" / f"{split}.txt"
    if not list_file.is_file():
        raise DataError(f"{list_file}: split list not found (VOC splits: train, val, trainval)")
    ids = [line.split()[0] for line in list_file.read_text(encoding="utf-8").splitlines() if line.strip()]
    if not ids:
        raise DataError(f"{list_file}: lists no images")
    images = [voc / "JPEGImages" / f"{name}.jpg" for name in ids]
    masks = [voc / "SegmentationClass" / f"{name}.png" for name in ids]
    for image, mask in zip(images, masks):
        if not image.is_file():
            raise DataError(f"{image}: listed in {list_file.name} but missing")
        if not mask.is_file():
            raise DataError(f"{image}: no mask for this image (expected {mask})")
    return SegDataset(images, masks, class_names=CLASS_NAMES, palette=PALETTE, num_classes=len(CLASS_NAMES),
                      ignore_index=IGNORE_INDEX, in_channels=3, lut=label_lut(len(CLASS_NAMES), IGNORE_INDEX),
                      name="voc", root=voc, split=split)
