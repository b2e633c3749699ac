"""Reading dataset images and masks with OpenCV (Pillow only for palette PNGs), with errors naming the file."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from segnet.errors import DataError
from segnet.lazy import require

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff")
MASK_EXTENSIONS = (".png", ".bmp", ".tif", ".tiff")  # lossless only: JPEG artefacts would invent labels
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_PNG_PALETTE = 3  # IHDR colour type of an indexed-colour PNG


def image_channels(path: str | Path) -> int:
    """Channel count stored in an image file (1 for grayscale, 3 for colour; alpha is dropped on reading)."""
    data = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if data is None:
        raise DataError(f"{path}: cannot read image (missing, corrupt or unsupported format)")
    return 1 if data.ndim == 2 or data.shape[2] == 1 else 3


def read_image(path: str | Path, channels: int = 3) -> np.ndarray:
    """HxWx3 RGB uint8 (channels=3) or HxWx1 uint8 (channels=1); 16-bit files are scaled to 8 bits."""
    flag = cv2.IMREAD_GRAYSCALE if channels == 1 else cv2.IMREAD_COLOR
    data = cv2.imread(str(path), flag)
    if data is None:
        raise DataError(f"{path}: cannot read image (missing, corrupt or unsupported format)")
    if channels == 1:
        return data[:, :, None]
    return cv2.cvtColor(data, cv2.COLOR_BGR2RGB)


def is_palette_png(path: str | Path) -> bool:
    """True for an indexed-colour PNG, whose pixel values are palette indices (Pascal VOC's masks)."""
    try:
        with open(path, "rb") as handle:
            head = handle.read(26)
    except OSError:
        return False
    return len(head) == 26 and head.startswith(_PNG_SIGNATURE) and head[12:16] == b"IHDR" and head[25] == _PNG_PALETTE


def read_mask(path: str | Path) -> np.ndarray:
    """Raw HxW label values of a mask file: palette indices for palette PNGs, the gray value otherwise."""
    if is_palette_png(path):
        return _read_palette_indices(path)
    data = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if data is None:
        raise DataError(f"{path}: cannot read mask (missing, corrupt or unsupported format)")
    if data.ndim == 3:
        if data.shape[2] == 1 or (np.array_equal(data[:, :, 0], data[:, :, 1])
                                  and np.array_equal(data[:, :, 0], data[:, :, 2])):
            data = data[:, :, 0]
        else:
            raise DataError(f"{path}: mask is a colour image; masks must hold class indices "
                            "(8-bit grayscale or palette PNG)")
    if data.dtype not in (np.uint8, np.uint16):
        raise DataError(f"{path}: mask has {data.dtype} pixels; expected 8- or 16-bit class indices")
    return data


def _read_palette_indices(path: str | Path) -> np.ndarray:
    """Palette indices of an indexed PNG (OpenCV would expand it to colours, losing the class indices)."""
    image_module = require("PIL.Image", "reading palette PNG masks such as Pascal VOC's")
    try:
        with image_module.open(path) as img:
            img.load()
            if img.mode != "P":
                raise DataError(f"{path}: expected a palette PNG mask, Pillow reads mode {img.mode}")
            return np.asarray(img, dtype=np.uint8)
    except (OSError, SyntaxError, ValueError) as exc:  # what Pillow raises for corrupt or truncated files
        raise DataError(f"{path}: cannot read mask ({exc})") from None
