"""One-hot / multi-channel masks, one channel per class: a .npy array (H x W x C or C x H x W), a
multi-page TIFF (a page per class), or a folder of PNGs (one per class, named by class index or class
name; a class without a file is absent from that image). A pixel is in a class where its channel is
non-zero (>= 0.5 for float arrays); pixels in several classes or in none follow an explicit policy."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np

from segnet.errors import DataError

PLANE_EXTENSIONS = (".png", ".bmp", ".tif", ".tiff")  # the per-class files of a mask folder
TIFF_EXTENSIONS = (".tif", ".tiff")


def is_onehot_file(path: Path) -> bool:
    """A mask that is one-hot by its form: a folder, a .npy, or a TIFF with more than one page."""
    if path.is_dir() or path.suffix.lower() == ".npy":
        return True
    return path.suffix.lower() in TIFF_EXTENSIONS and cv2.imcount(str(path)) > 1


def _binary(array: np.ndarray) -> np.ndarray:
    return array >= 0.5 if np.issubdtype(array.dtype, np.floating) else array != 0


def _read_npy(path: Path, num_classes: int | None) -> np.ndarray:
    try:
        array = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as exc:
        raise DataError(f"{path}: cannot read one-hot mask ({exc})") from None
    if array.ndim != 3:
        raise DataError(f"{path}: a one-hot .npy mask has 3 axes (H x W x C or C x H x W), this one {array.shape}")
    if num_classes is None:  # no classes.json: the shorter end axis holds the classes
        first = array.shape[0] < array.shape[2]
    elif array.shape[0] == num_classes and array.shape[2] == num_classes:
        raise DataError(f"{path}: shape {array.shape} is ambiguous for {num_classes} classes (is it H x W x C "
                        "or C x H x W?); store it channel-last (H x W x C)")
    elif num_classes in (array.shape[0], array.shape[2]):
        first = array.shape[0] == num_classes and array.shape[2] != num_classes
    else:
        raise DataError(f"{path}: one-hot mask of shape {array.shape} has no axis of {num_classes} classes")
    planes = array if first else np.moveaxis(array, 2, 0)
    return _binary(planes)


def _read_tiff(path: Path) -> np.ndarray:
    ok, pages = cv2.imreadmulti(str(path), flags=cv2.IMREAD_UNCHANGED)
    if not ok or not pages:
        raise DataError(f"{path}: cannot read multi-page TIFF mask")
    if any(p.shape != pages[0].shape or p.ndim != 2 for p in pages):
        raise DataError(f"{path}: every page of a one-hot TIFF must be one single-channel image of one size")
    return _binary(np.stack(pages))


def plane_index(path: Path, names: Sequence[str]) -> int:
    """The class of a per-class file: its name without extension is a class name or a class index."""
    if path.stem in names:
        return list(names).index(path.stem)
    if path.stem.isdigit() and int(path.stem) < len(names):
        return int(path.stem)
    raise DataError(f"{path}: name it after a class index (0..{len(names) - 1}) or a class name of classes.json")


def plane_files(folder: Path) -> list[Path]:
    files = sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in PLANE_EXTENSIONS)
    if not files:
        raise DataError(f"{folder}: empty mask folder (expected one {'/'.join(PLANE_EXTENSIONS)} file per class)")
    return files


def _read_folder(folder: Path, names: Sequence[str]) -> np.ndarray:
    planes: np.ndarray | None = None
    for path in plane_files(folder):
        data = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)
        if data is None:
            raise DataError(f"{path}: cannot read mask (missing, corrupt or unsupported format)")
        if planes is None:
            planes = np.zeros((len(names),) + data.shape, dtype=bool)
        elif data.shape != planes.shape[1:]:
            raise DataError(f"{path}: {data.shape[1]}x{data.shape[0]} differs from the other class files in "
                            f"{folder} ({planes.shape[2]}x{planes.shape[1]})")
        planes[plane_index(path, names)] |= data != 0
    assert planes is not None
    return planes


def count_channels(path: Path) -> int:
    """Classes a one-hot mask holds, for a dataset without classes.json (folders: highest index + 1)."""
    if path.is_dir():
        stems = [p.stem for p in plane_files(path)]
        if not all(s.isdigit() for s in stems):
            raise DataError(f"{path}: per-class files are named by class; without classes.json name them "
                            "0.png, 1.png, ... (or add classes.json with the class names)")
        return max(int(s) for s in stems) + 1
    if path.suffix.lower() == ".npy":
        return int(_read_npy(path, None).shape[0])
    return int(_read_tiff(path).shape[0])


class OneHotDecoder:
    """One-hot mask -> HxW int64 labels. `overlap`: "ignore" (ignore index), "first" (lowest class wins)
    or "error"; `empty`: "ignore" or "error". Errors name the file and the pixel count."""

    kind = "onehot"

    def __init__(self, names: Sequence[str], ignore_index: int | None = 255, overlap: str = "ignore",
                 empty: str = "ignore") -> None:
        self.names = list(names)
        self.ignore_index = ignore_index
        self.overlap = overlap
        self.empty = empty

    def cache_key(self) -> str:
        return f"onehot|{self.names}|{self.ignore_index}|{self.overlap}|{self.empty}"

    def planes(self, path: Path) -> np.ndarray:
        """C x H x W bool of a mask file or folder."""
        path = Path(path)
        if path.is_dir():
            planes = _read_folder(path, self.names)
        elif path.suffix.lower() == ".npy":
            planes = _read_npy(path, len(self.names))
        else:
            planes = _read_tiff(path)
        if planes.shape[0] != len(self.names):
            raise DataError(f"{path}: {planes.shape[0]} channels but {len(self.names)} classes; "
                            "a one-hot mask has one channel per class")
        return planes

    def __call__(self, path: str | Path) -> np.ndarray:
        planes = self.planes(Path(path))
        hits = planes.sum(axis=0, dtype=np.int32)
        labels = planes.argmax(axis=0).astype(np.int64)  # the first set channel
        for name, where, policy in (("in more than one class", hits > 1, self.overlap),
                                    ("in no class", hits == 0, self.empty)):
            if policy == "first" or not where.any():
                continue
            if policy == "error" or self.ignore_index is None:
                reason = "" if policy == "error" else " and there is no ignore index (classes.json says null)"
                raise DataError(f"{path}: {int(where.sum())} pixel(s) {name}{reason}; choose --mask-overlap / "
                                "--mask-empty ignore (the ignore index) or fix the mask")
            labels[where] = self.ignore_index
        return labels
