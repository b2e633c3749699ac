"""MaxPool's Indices output rebuilt from TensorRT-parsable operators, exactly as ONNX Runtime computes it.

For every 2-D MaxPool (any kernel, strides, pads, dilations, auto_pad, ceil_mode, storage_order):
pad the input with -inf (pads and ceil_mode overhang), take one strided Slice per kernel offset, compare it
with the pooled value (Equal) and pick the first offset in scan order that holds the maximum (a chain of
Where over precomputed in-plane indices), then add the (n*C + c) * H * W plane offset. That is ONNX
Runtime's rule: its MaxPool scans each window row by row and keeps a value only if it is strictly greater,
so the first maximum wins; padding is never a candidate. The result replaces the Indices tensor in place,
so whatever consumes it (MaxUnpool, ScatterND after index arithmetic, Gather, ...) is unchanged.

Padding holds -inf, so it can only equal a window maximum that is -inf, i.e. a window whose every input is
-inf, where ONNX Runtime's own index is undefined (it never finds a value greater than the lowest float).
Integer inputs pad with the type's lowest value, which can be a real maximum, so there a constant mask keeps
padded positions out of the comparison.
Dilated pools (TensorRT's pooling layer has no dilation) and ceil_mode pools also get their pooled value as a
Max of the Slices: ONNX Runtime 1.32's one-output MaxPool sizes some ceil_mode outputs differently (one row or
column fewer) from its two-output MaxPool, which is the one the original model ran.
Needs a static H and W (the window table is a constant); the batch may be dynamic.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from segnet.errors import SegnetError
from segnet.export.graph_builder import GraphBuilder
from segnet.export.pool_geometry import PoolGeometry, pool_geometry


def geometry_of(pool: Any, source: str) -> PoolGeometry:
    """The window geometry of a GraphSurgeon MaxPool node, or SegnetError saying why it has none."""
    name = pool.name or f"-> {pool.outputs[0].name}"
    shape = pool.inputs[0].shape
    if shape is None or len(shape) != 4:
        raise SegnetError(f"{source}: MaxPool {name}: only 2-D pooling (N x C x H x W input) can be rewritten; "
                          f"its input has shape {shape}")
    height, width = shape[2:]
    if not (isinstance(height, int) and isinstance(width, int)):
        raise SegnetError(f"{source}: MaxPool {name}: its input's height and width are dynamic ({height} x "
                          f"{width}); re-export the model with a fixed input size (the batch may stay dynamic)")
    try:
        return pool_geometry(pool.attrs, height, width)
    except ValueError as exc:
        raise SegnetError(f"{source}: MaxPool {name}: {exc}") from None


class IndicesBuilder(GraphBuilder):
    """Replaces MaxPool Indices outputs with the exact Slice/Equal/Where construction."""

    def replace_indices(self, pool: Any, source: str) -> PoolGeometry:
        """Make `pool` a one-output MaxPool (or Max of Slices if dilated) and compute its old Indices tensor."""
        geom = geometry_of(pool, source)
        x, pooled, indices = pool.inputs[0], pool.outputs[0], pool.outputs[1]
        dtype = x.dtype if x.dtype is not None else np.float32
        pool.outputs = [pooled]
        slices = self.window_slices(x, geom, dtype)
        if any(d != 1 for d in geom.dilations) or pool.attrs.get("ceil_mode", 0):
            pool.outputs.clear()  # the pooled value as the max of the slices: see the module docstring
            self._op("Max", slices, out=pooled) if len(slices) > 1 else self._op("Identity", slices, out=pooled)
        offsets = geom.offsets
        local = [self._const("index", geom.local_index(i, j)[None, None]) for i, j in offsets]
        chosen = local[-1]  # no earlier offset holds the maximum: the last one does
        floating = np.issubdtype(np.dtype(dtype), np.floating)
        for k in range(len(offsets) - 2, -1, -1):
            equal = self._op("Equal", [slices[k], pooled], dtype=bool)
            inside = geom.valid(*offsets[k])
            if not floating and not inside.all():  # integer padding holds the lowest value, a possible maximum
                equal = self._op("And", [equal, self._const("inside", inside[None, None])], dtype=bool)
            chosen = self._op("Where", [equal, local[k], chosen], dtype=np.int64)
        self._op("Add", [chosen, self.plane_offsets(x, geom)], out=indices)
        indices.dtype = np.int64
        return geom

    def window_slices(self, x: Any, geom: PoolGeometry, dtype: Any) -> list[Any]:
        """One (N, C, out_h, out_w) Slice of the -inf padded input per kernel offset, in scan order."""
        top, left = geom.pad_begin
        bottom, right = geom.pad_end(0), geom.pad_end(1)
        padded = x
        if top or left or bottom or right:
            pads = self._const("pads", np.array([0, 0, top, left, 0, 0, bottom, right], dtype=np.int64))
            kind = np.dtype(dtype)
            lowest = -np.inf if np.issubdtype(kind, np.floating) else np.iinfo(kind).min
            fill = self._const("lowest", np.array(lowest, dtype=kind))
            padded = self._op("Pad", [x, pads, fill], {"mode": "constant"}, dtype=dtype)
        axes = self._const("axes", np.array([2, 3], dtype=np.int64))
        steps = self._const("steps", np.array(geom.strides, dtype=np.int64))
        out = []
        for i, j in geom.offsets:
            start = (i * geom.dilations[0], j * geom.dilations[1])
            end = tuple(s + (geom.out[a] - 1) * geom.strides[a] + 1 for a, s in enumerate(start))
            if geom.kernel == (1, 1) and geom.strides == (1, 1) and padded is x:
                out.append(x)
                continue
            out.append(self._op("Slice", [padded, self._const("starts", np.array(start, dtype=np.int64)),
                                          self._const("ends", np.array(end, dtype=np.int64)), axes, steps],
                                dtype=dtype))
        return out

    def plane_offsets(self, x: Any, geom: PoolGeometry) -> Any:
        """(N, C, 1, 1) int64 (n * C + c) * H * W; from Shape and Range when N (or C) is dynamic."""
        plane = geom.height * geom.width
        batch, channels = x.shape[0], x.shape[1]
        if isinstance(channels, int) and isinstance(batch, int):
            values = np.arange(batch * channels, dtype=np.int64).reshape(batch, channels, 1, 1) * plane
            return self._const("plane", values)
        shape = self._op("Shape", [x], dtype=np.int64)
        nc = self._op("Slice", [shape, self._const("s", np.array([0], np.int64)),
                                self._const("e", np.array([2], np.int64))], dtype=np.int64)
        zero, one = self._const("zero", np.array(0, np.int64)), self._const("one", np.array(1, np.int64))
        count = self._op("ReduceProd", [nc], {"keepdims": 0}, dtype=np.int64)
        planes = self._op("Range", [zero, count, one], dtype=np.int64)
        scaled = self._op("Mul", [planes, self._const("plane_size", np.array(plane, np.int64))], dtype=np.int64)
        nc11 = self._op("Concat", [nc, self._const("ones", np.array([1, 1], np.int64))], {"axis": 0}, dtype=np.int64)
        return self._op("Reshape", [scaled, nc11], dtype=np.int64)
