"""Where a 2-D ONNX MaxPool's windows lie, as ONNX Runtime computes them (numpy only, no graph).

Covers every 2-D MaxPool attribute: kernel_shape, strides, pads, dilations, auto_pad, ceil_mode and
storage_order. `PoolGeometry.local_index(i, j)` is the in-plane flat index ONNX Runtime writes into
MaxPool's Indices for kernel offset (i, j) of every window: h * W + w (storage_order 0) or w * H + h
(storage_order 1), where (h, w) may fall in the padding (those entries are never selected).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np


@dataclass(frozen=True)
class PoolGeometry:
    """One MaxPool's window layout over an H x W plane."""

    height: int
    width: int
    kernel: tuple[int, int]
    strides: tuple[int, int]
    dilations: tuple[int, int]
    pad_begin: tuple[int, int]  # top, left
    out: tuple[int, int]  # pooled height, width
    storage_order: int = 0

    @property
    def offsets(self) -> list[tuple[int, int]]:
        """Kernel offsets in ONNX Runtime's scan order (row by row): the first maximum in this order wins."""
        return [(i, j) for i in range(self.kernel[0]) for j in range(self.kernel[1])]

    def span(self, axis: int) -> int:
        """Rows (axis 0) or columns (axis 1) of the padded input that the windows reach."""
        return (self.out[axis] - 1) * self.strides[axis] + (self.kernel[axis] - 1) * self.dilations[axis] + 1

    def pad_end(self, axis: int) -> int:
        """Padding needed after the input (explicit pads and ceil_mode overhang); 0 where windows stop short."""
        size = (self.height, self.width)[axis]
        return max(0, self.span(axis) - size - self.pad_begin[axis])

    def positions(self, i: int, j: int) -> tuple[np.ndarray, np.ndarray]:
        """Input row and column (in unpadded coordinates) of kernel offset (i, j) for every window."""
        rows = np.arange(self.out[0]) * self.strides[0] - self.pad_begin[0] + i * self.dilations[0]
        cols = np.arange(self.out[1]) * self.strides[1] - self.pad_begin[1] + j * self.dilations[1]
        return rows, cols

    def local_index(self, i: int, j: int) -> np.ndarray:
        """(out_h, out_w) int64: the in-plane index ONNX Runtime reports when offset (i, j) holds the maximum."""
        rows, cols = self.positions(i, j)
        if self.storage_order:
            return (cols[None, :] * self.height + rows[:, None]).astype(np.int64)
        return (rows[:, None] * self.width + cols[None, :]).astype(np.int64)

    def valid(self, i: int, j: int) -> np.ndarray:
        """(out_h, out_w) bool: offset (i, j) lies inside the input (not in the padding)."""
        rows, cols = self.positions(i, j)
        return ((rows >= 0) & (rows < self.height))[:, None] & ((cols >= 0) & (cols < self.width))[None, :]


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def pool_geometry(attrs: dict[str, Any], height: int, width: int) -> PoolGeometry:
    """The geometry of a MaxPool with these ONNX attributes over an H x W input (ValueError if not 2-D)."""
    kernel = tuple(int(k) for k in attrs.get("kernel_shape", []))
    if len(kernel) != 2:
        raise ValueError(f"kernel_shape {list(kernel)} is not 2-D")
    strides = tuple(int(s) for s in attrs.get("strides", [1, 1]))
    dilations = tuple(int(d) for d in attrs.get("dilations", [1, 1]))
    pads = [int(p) for p in attrs.get("pads", [0, 0, 0, 0])]
    auto_pad = _text(attrs.get("auto_pad", "NOTSET"))
    ceil_mode = int(attrs.get("ceil_mode", 0))
    sizes = (height, width)
    begin, out = [0, 0], [0, 0]
    for axis in range(2):
        size, k, s, d = sizes[axis], kernel[axis], strides[axis], dilations[axis]
        extent = (k - 1) * d + 1
        if auto_pad in ("SAME_UPPER", "SAME_LOWER"):
            out[axis] = -(-size // s)
            needed = max(0, (out[axis] - 1) * s + extent - size)
            begin[axis] = needed // 2 if auto_pad == "SAME_UPPER" else (needed + 1) // 2
        elif auto_pad == "VALID":
            out[axis] = (size - extent) // s + 1
        else:
            begin[axis] = pads[axis]
            total = size + pads[axis] + pads[axis + 2] - extent
            out[axis] = (math.ceil(total / s) if ceil_mode else total // s) + 1
            if ceil_mode and (out[axis] - 1) * s >= size + pads[axis]:
                out[axis] -= 1  # the last window would start in the end padding
        if out[axis] < 1:
            raise ValueError(f"the {extent}-wide window does not fit the input size {size}")
    return PoolGeometry(height, width, kernel, strides, dilations, (begin[0], begin[1]),  # type: ignore[arg-type]
                        (out[0], out[1]), int(attrs.get("storage_order", 0)))
