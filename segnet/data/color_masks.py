"""Colour-coded masks (one RGB colour per class, as CamVid's LabeledApproved images and most annotation
tools' exports): the palette lookup, the unknown-colour error, the optional tolerance for JPEG-damaged
masks, and the discovery of a dataset's colours when no palette is given."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Tuple

import cv2
import numpy as np

from segnet.errors import DataError

RGB = Tuple[int, int, int]


def as_rgb(color: Sequence[int]) -> RGB:
    return int(color[0]), int(color[1]), int(color[2])


def color_name(color: RGB) -> str:
    """The name a discovered colour gets until the user renames it: rgb_R_G_B."""
    return "rgb_{}_{}_{}".format(*color)


def read_rgb(path: str | Path) -> np.ndarray:
    """HxWx3 RGB uint8 of a mask file (gray files become gray colours, palette PNGs their colours)."""
    data = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if data is None:
        raise DataError(f"{path}: cannot read mask (missing, corrupt or unsupported format)")
    return cv2.cvtColor(data, cv2.COLOR_BGR2RGB)


def pack(rgb: np.ndarray) -> np.ndarray:
    """HxWx3 uint8 -> HxW uint32 0xRRGGBB, one integer per colour."""
    rgb = rgb.astype(np.uint32)
    return (rgb[..., 0] << 16) | (rgb[..., 1] << 8) | rgb[..., 2]


def unpack(packed: np.ndarray) -> np.ndarray:
    """N uint32 0xRRGGBB -> N x 3 int64 RGB."""
    packed = packed.astype(np.int64)
    return np.stack([(packed >> 16) & 255, (packed >> 8) & 255, packed & 255], axis=-1)


def chebyshev(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Largest per-channel difference between every colour of `a` (N x 3) and of `b` (M x 3): N x M."""
    return np.abs(a[:, None, :].astype(np.int64) - b[None, :, :].astype(np.int64)).max(axis=2)


def closest_pair(colors: Sequence[RGB]) -> int:
    """The smallest per-channel distance between two of `colors` (256 for fewer than two)."""
    if len(colors) < 2:
        return 256
    table = np.asarray(colors, dtype=np.int64)
    distance = chebyshev(table, table)
    np.fill_diagonal(distance, 256)
    return int(distance.min())


class ColorDecoder:
    """Colour mask file -> HxW int64 labels: palette[i] -> i, `ignore_colors` -> `ignore_index`.
    With `tolerance` > 0 a colour within that per-channel difference of a palette (or ignore) colour
    takes its label. Any other colour is a DataError naming the file, the colour and its pixel count.
    `source` (classes.json) is named in the messages."""

    kind = "color"

    def __init__(self, palette: Sequence[Sequence[int]], ignore_colors: Sequence[Sequence[int]] = (),
                 ignore_index: int | None = 255, tolerance: int = 0, source: Path | None = None) -> None:
        self.palette: list[RGB] = [as_rgb(c) for c in palette]
        self.ignore_colors: list[RGB] = [as_rgb(c) for c in ignore_colors]
        self.ignore_index = ignore_index
        self.tolerance = int(tolerance)
        self.source = source
        seen: dict[RGB, str] = {}
        for what, colors in (("class", self.palette), ("ignore colour", self.ignore_colors)):
            for i, c in enumerate(colors):
                if c in seen:
                    raise DataError(f"{self._where()}: colour {c} is listed twice ({seen[c]} and {what} {i}); "
                                    "each colour must name one class")
                seen[c] = f"{what} {i}"
        if self.ignore_colors and ignore_index is None:
            raise DataError(f"{self._where()}: \"ignore_colors\" needs an \"ignore_index\" (it is null)")
        closest = closest_pair(self.palette + self.ignore_colors)
        if 2 * self.tolerance >= closest:  # a colour could then be within reach of two palette colours
            raise DataError(f"--mask-tolerance {self.tolerance} is too large for the palette of {self._where()}: "
                            f"two of its colours are only {closest} apart; use at most {(closest - 1) // 2}")

    def _where(self) -> str:
        return str(self.source) if self.source else "the palette"

    def _table(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(sorted packed colours, their labels, their RGB) for lookup."""
        colors = self.palette + self.ignore_colors
        labels = list(range(len(self.palette))) + [int(self.ignore_index or 0)] * len(self.ignore_colors)
        rgb = np.asarray(colors, dtype=np.uint8).reshape(-1, 3)
        keys = pack(rgb)
        order = np.argsort(keys)
        return keys[order], np.asarray(labels, dtype=np.int64)[order], rgb[order]

    def cache_key(self) -> str:
        """Everything the result depends on besides the file (the cache keys on it)."""
        return f"color|{self.palette}|{self.ignore_colors}|{self.ignore_index}|{self.tolerance}"

    def __call__(self, path: str | Path) -> np.ndarray:
        packed = pack(read_rgb(path))
        keys, labels, table_rgb = self._table()
        at = np.minimum(np.searchsorted(keys, packed), keys.size - 1)  # a lookup per pixel, no sort of the image
        found = keys[at] == packed
        out = labels[at]
        if found.all():
            return out
        colors, inverse, counts = np.unique(packed[~found], return_inverse=True, return_counts=True)
        mapped = np.full(colors.size, -1, dtype=np.int64)
        if self.tolerance:
            distance = chebyshev(unpack(colors), table_rgb.astype(np.int64))
            nearest = distance.argmin(axis=1)
            close = distance[np.arange(nearest.size), nearest] <= self.tolerance
            mapped[close] = labels[nearest[close]]
        unknown = np.flatnonzero(mapped < 0)
        if unknown.size:
            raise DataError(self._unknown_message(path, colors[unknown], counts[unknown]))
        out[~found] = mapped[inverse.ravel()]
        return out

    def _unknown_message(self, path: str | Path, colors: np.ndarray, counts: np.ndarray) -> str:
        order = np.argsort(-counts, kind="stable")
        first = tuple(int(v) for v in unpack(colors[order[:1]])[0])
        more = f" (and {colors.size - 1} more unknown colour(s))" if colors.size > 1 else ""
        hint = ("add it to \"palette\" (a new class) or \"ignore_colors\" in " + self._where()
                + (", or map near colours with --mask-tolerance N (JPEG-damaged masks)" if not self.tolerance else
                   f"; --mask-tolerance {self.tolerance} found no palette colour that close"))
        return (f"{path}: colour {first} on {int(counts[order[0]])} pixel(s) is not in the palette{more}; {hint}")


def discover_colors(paths: Iterable[Path]) -> list[tuple[RGB, int]]:
    """Every colour in the mask files with its pixel count, ordered by colour value (0xRRGGBB)."""
    totals: dict[int, int] = {}
    for path in paths:
        colors, counts = np.unique(pack(read_rgb(path)).ravel(), return_counts=True)
        for c, n in zip(colors.tolist(), counts.tolist()):
            totals[c] = totals.get(c, 0) + n
    keys = sorted(totals)
    rgb = unpack(np.asarray(keys, dtype=np.uint32)) if keys else np.zeros((0, 3), np.int64)
    return [(as_rgb(c), totals[k]) for c, k in zip(rgb, keys)]


def discovered_document(found: Sequence[tuple[RGB, int]], masks_folder: str) -> dict[str, object]:
    """The classes.json written for discovered colours: one class per colour, named after it for the
    user to rename (or move to "ignore_colors")."""
    return {
        "names": [color_name(c) for c, _ in found],
        "palette": [list(c) for c, _ in found],
        "ignore_index": 255,
        "ignore_colors": [],
        "mask_format": "color",
        "source": {"discovered_from": masks_folder, "pixels": [n for _, n in found]},
    }


def is_color_image(path: str | Path) -> bool:
    """True when a mask file holds colours: three or more channels that are not all equal."""
    data = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if data is None or data.ndim != 3 or data.shape[2] < 3:
        return False
    return not (np.array_equal(data[:, :, 0], data[:, :, 1]) and np.array_equal(data[:, :, 0], data[:, :, 2]))
