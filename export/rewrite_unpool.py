"""`segnet rewrite-unpool`: make any ONNX model with max-unpooling parse in TensorRT (8.6, 10.x, 11.x).

Three rewrites, done with ONNX-GraphSurgeon (never by editing protobuf by hand):
1. The fast path. MaxPool(2x2, stride 2, no padding) whose Indices feed only 2x2/stride-2 MaxUnpool nodes of
   the pool's own input size -> the index-free "switch" form of docs/design.md: four strided Slices of the pool
   input, Max, first-in-scan-order Equal switches (And/Not/Or), Cast, Mul, Concat, DepthToSpace(DCR), zero Pad
   for odd sizes. Bit-exact with the original. The same for index arithmetic + ScatterND into zeros (the
   pattern `torch.onnx.export(..., dynamo=True)` emits for max_unpool2d, tf2onnx's NHWC one for Keras
   unpooling layers, others) once segnet.export.fold_probe has proved it on the subgraph to be that unpooling.
2. The general path. Any other 2-D MaxPool whose Indices are used (any kernel, strides, pads, dilations,
   ceil_mode, storage_order, any consumer): its Indices are computed exactly from Slice/Equal/Where
   (segnet.export.pool_indices), so the consumers stay as they are.
3. Any MaxUnpool left (indices from anywhere) -> ScatterElements on the flattened, zero-initialised output.
Refused with a SegnetError naming the node: pooling that is not 2-D, and pools whose input H or W is dynamic.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from segnet import atomic
from segnet.errors import MissingDependencyError, SegnetError
from segnet.export.fold_probe import proves_switch, scatter_uses
from segnet.export.graph_builder import constant_value
from segnet.export.io_ranks import declare_shapes, implied_ranks
from segnet.export.pool_indices import IndicesBuilder
from segnet.export.trt_lint import load_model
from segnet.lazy import require

_MIN_OPSET = 11  # Slice with steps as inputs, DepthToSpace mode, Pad with a pads input, ScatterElements


@dataclass
class RewriteSummary:
    """What was rewritten, by node name."""

    switch: list[str] = field(default_factory=list)  # "unpool <- pool" pairs turned into the switch form
    indices: list[str] = field(default_factory=list)  # MaxPools whose Indices are now computed (general path)
    scatter: list[str] = field(default_factory=list)  # MaxUnpool nodes turned into ScatterElements
    notes: list[str] = field(default_factory=list)  # why a fold was not tried
    nodes_before: int = 0
    nodes_after: int = 0

    @property
    def changed(self) -> bool:
        return bool(self.switch or self.indices or self.scatter)

    def lines(self) -> list[str]:
        out = ([f"switch form: {item}" for item in self.switch]
               + [f"computed indices: {item} (exact Slice/Equal/Where form)" for item in self.indices]
               + [f"scatter form: {item}" for item in self.scatter] + [f"note: {item}" for item in self.notes])
        if not out:
            out.append("nothing to rewrite: no MaxUnpool and no MaxPool Indices in use")
        out.append(f"nodes: {self.nodes_before} -> {self.nodes_after}")
        return out


def rewrite_unpool(in_path: Any, out_path: Any, fast: bool = True) -> RewriteSummary:
    """Rewrite `in_path`'s max-unpooling into TensorRT-supported operators and save to `out_path` atomically.
    `fast=False` skips the switch-form folds (every pool takes the general path; for comparisons)."""
    onnx = require("onnx", "rewrite-unpool")
    model = load_model(in_path)
    new_model, summary = rewrite_model(model, source=str(in_path), fast=fast)
    try:
        onnx.checker.check_model(new_model)
        new_model = onnx.shape_inference.infer_shapes(new_model, strict_mode=True)
    except (onnx.checker.ValidationError, onnx.shape_inference.InferenceError) as exc:
        raise SegnetError(f"{in_path}: the rewritten model fails onnx.checker/shape inference ({exc}); "
                          "please report this model") from None
    with atomic.atomic_path(out_path) as tmp:
        onnx.save(new_model, str(tmp))
    return summary


def rewrite_model(model: Any, source: str = "model", fast: bool = True) -> tuple[Any, RewriteSummary]:
    """Return (rewritten ModelProto, summary); the input model is not modified. `fast`: see rewrite_unpool."""
    onnx = require("onnx", "rewrite-unpool")
    gs = require("onnx_graphsurgeon", "rewrite-unpool")
    opset = next((e.version for e in model.opset_import if e.domain in ("", "ai.onnx")), 0)
    uses_unpool = any(n.op_type in ("MaxUnpool", "MaxPool") for n in model.graph.node)
    if uses_unpool and opset < _MIN_OPSET:
        raise SegnetError(f"{source}: opset {opset} is too old to rewrite; re-export with opset 11-17, or convert it "
                          "first: onnx.version_converter.convert_version(model, 17)")
    declared = onnx.ModelProto()
    declared.CopyFrom(model)
    declare_shapes(list(declared.graph.input) + list(declared.graph.output), implied_ranks(declared.graph))
    inferred = onnx.shape_inference.infer_shapes(declared)
    graph = gs.import_onnx(inferred)
    summary = RewriteSummary(nodes_before=len(graph.nodes))
    rewriter = _Rewriter(graph, source)
    rewriter.run(summary, fast)
    graph.cleanup(remove_unused_graph_inputs=False).toposort()
    rewriter.drop_unused_indices()
    summary.nodes_after = len(graph.nodes)
    out = gs.export_onnx(graph, do_type_check=False)
    del out.graph.value_info[:]  # stale shapes of removed tensors; shape inference runs again on save
    out.ir_version = model.ir_version
    out.producer_name, out.producer_version = model.producer_name, model.producer_version
    out.model_version, out.doc_string, out.domain = model.model_version, model.doc_string, model.domain
    del out.metadata_props[:]
    out.metadata_props.extend(model.metadata_props)
    del out.opset_import[:]
    out.opset_import.extend(model.opset_import)
    return out, summary


class _Rewriter(IndicesBuilder):
    """Finds unpooling patterns in a GraphSurgeon graph and replaces them in place."""

    def __init__(self, graph: Any, source: str, prefix: str = "unpool_rw") -> None:
        super().__init__(graph, prefix)
        self.source = source
        self.switch_cache: dict[tuple[str, str], list[Any]] = {}

    # --- driver ---------------------------------------------------------------------------------------
    def run(self, summary: RewriteSummary, fast: bool = True) -> None:
        if fast:
            for pool in self._pools_with_indices():
                targets = self._switch_targets(pool)
                if targets is None and self._switchable(pool):
                    try:
                        targets = self._proved_targets(pool)
                    except MissingDependencyError as exc:  # no ONNX Runtime to prove a fold: the general path
                        summary.notes.append(f"{_label(pool)}: ScatterND fold not tried ({exc})")
                for kind, node, (value, out_tensor, size) in targets or ():
                    self._replace_with_switch(pool, value, out_tensor, size)
                    label = _label(node) if kind == "MaxUnpool" else f"{_label(node)} ({kind})"
                    summary.switch.append(f"{label} <- {_label(pool)}")
            self.graph.cleanup(remove_unused_graph_inputs=False)  # what the folds left dead (e.g. dynamo's 1x1 pools)
        for pool in self._pools_with_indices():
            self.replace_indices(pool, self.source)
            summary.indices.append(_label(pool))
        for node in [n for n in self.graph.nodes if n.op == "MaxUnpool" and n.outputs]:
            self._replace_with_scatter(node)
            summary.scatter.append(_label(node))

    def _pools_with_indices(self) -> list[Any]:
        return [n for n in self.graph.nodes if n.op == "MaxPool" and len(n.outputs) > 1 and self._used(n.outputs[1])]

    def _switch_targets(self, pool: Any) -> list[tuple[str, Any, tuple[Any, Any, tuple[int, int]]]] | None:
        """Every use of `pool`'s Indices with what the switch form must produce for it, if all of them are
        the exact 2x2 unpooling of the pool's own input (the fast path); else None."""
        uses = self._index_uses(pool)
        if uses is None or not self._switchable(pool):
            return None  # ScatterND uses are folded only once proved (_proved_targets): their arithmetic varies
        targets = []
        for kind, node in uses:
            target = self._unpool_target(pool, kind, node)
            if target is None:
                return None
            targets.append((kind, node, target))
        return targets

    def _proved_targets(self, pool: Any) -> list[tuple[str, Any, tuple[Any, Any, tuple[int, int]]]] | None:
        """Index arithmetic + ScatterND uses (tf2onnx's NHWC pattern and others) proved on the subgraph to be the
        2x2 unpooling of the pool's own input (segnet.export.fold_probe); None if not."""
        uses = scatter_uses(self, pool)
        if uses is None or not proves_switch(_Rewriter, self.graph, pool, uses, self.source):
            return None
        size = (pool.inputs[0].shape[2], pool.inputs[0].shape[3])
        return [("proved ScatterND fold", node, (value, out, size)) for node, value, out in uses]

    def drop_unused_indices(self) -> None:
        """Remove dead Indices outputs (every used one was replaced by now)."""
        for pool in [n for n in self.graph.nodes if n.op == "MaxPool" and len(n.outputs) > 1]:
            assert not self._used(pool.outputs[1]), pool.name
            pool.outputs = pool.outputs[:1]

    # --- pattern matching -----------------------------------------------------------------------------
    def _used(self, tensor: Any) -> bool:
        return bool(tensor.outputs) or tensor in self.graph.outputs

    def _pool_of(self, tensor: Any) -> Any | None:
        """The MaxPool whose Indices output is `tensor`, else None."""
        if len(tensor.inputs) == 1 and tensor.inputs[0].op == "MaxPool":
            pool = tensor.inputs[0]
            if len(pool.outputs) > 1 and pool.outputs[1] is tensor:
                return pool
        return None

    def _switchable(self, pool: Any) -> bool:
        """2x2 kernel, stride 2, no padding/dilation/ceil, row-major indices, 4-D input of known H and W."""
        attrs = pool.attrs
        shape = pool.inputs[0].shape
        return (list(attrs.get("kernel_shape", [])) == [2, 2] and list(attrs.get("strides", [1, 1])) == [2, 2]
                and not any(attrs.get("pads", [0, 0, 0, 0])) and all(d == 1 for d in attrs.get("dilations", [1, 1]))
                and not attrs.get("ceil_mode", 0) and not attrs.get("storage_order", 0)
                and _text(attrs.get("auto_pad", "NOTSET")) in ("NOTSET", "VALID")
                and shape is not None and len(shape) == 4 and all(isinstance(d, int) for d in shape[2:]))

    def _index_uses(self, pool: Any) -> list[tuple[str, Any]] | None:
        """[("MaxUnpool", node)] if the pool's Indices feed only MaxUnpool nodes directly (as their indices);
        None if anything else reads them: arithmetic on the way could make them mean something else."""
        indices = pool.outputs[1]
        if indices in self.graph.outputs or not indices.outputs:
            return None
        if not all(n.op == "MaxUnpool" and n.inputs[1] is indices and n.inputs[0] is not indices
                   for n in indices.outputs):
            return None
        return [("MaxUnpool", n) for n in {id(n): n for n in indices.outputs}.values()]

    def _unpool_target(self, pool: Any, kind: str, node: Any) -> tuple[Any, Any, tuple[int, int]] | None:
        """(value to unpool, output tensor to produce, output H x W) if this MaxUnpool is the exact 2x2 inverse
        of the pool (output size = the pool input's size), else None."""
        height, width = pool.inputs[0].shape[2:]
        pooled = (height // 2, width // 2)
        attrs = node.attrs
        if (list(attrs.get("kernel_shape", [])) != [2, 2] or list(attrs.get("strides", [1, 1])) != [2, 2]
                or any(attrs.get("pads", [0, 0, 0, 0]))):
            return None
        value, out = node.inputs[0], node.outputs[0]
        if len(node.inputs) > 2 and node.inputs[2].name:
            size = constant_value(node.inputs[2])
            if size is None or len(size) != 4:
                return None
            out_hw = (int(size[2]), int(size[3]))
        else:
            out_hw = (2 * pooled[0], 2 * pooled[1])
        value_shape = value.shape
        if value_shape is None or len(value_shape) != 4 or tuple(value_shape[2:]) != pooled:
            return None
        if out_hw != (height, width):
            return None
        return value, out, out_hw

    # --- graph building -------------------------------------------------------------------------------
    def _switches(self, pool: Any) -> list[Any]:
        """Four boolean one-hot masks (one per window position, scan order) for a 2x2/stride-2 pool's input."""
        key = (pool.name, "bool")
        if key in self.switch_cache:
            return self.switch_cache[key]
        source = pool.inputs[0]
        height, width = source.shape[2:]
        ends = self._const("ends", np.array([height // 2 * 2, width // 2 * 2], dtype=np.int64))
        axes = self._const("axes", np.array([2, 3], dtype=np.int64))
        steps = self._const("steps", np.array([2, 2], dtype=np.int64))
        phases = []
        for di, dj in ((0, 0), (0, 1), (1, 0), (1, 1)):
            starts = self._const("starts", np.array([di, dj], dtype=np.int64))
            phases.append(self._op("Slice", [source, starts, ends, axes, steps], dtype=source.dtype))
        peak = self._op("Max", phases, dtype=source.dtype)
        equal = [self._op("Equal", [phase, peak], dtype=bool) for phase in phases[:3]]
        # First maximum in scan order wins, as in PyTorch's and ONNX Runtime's MaxPool.
        switches = [equal[0]]
        taken = equal[0]
        for eq in equal[1:]:
            switches.append(self._op("And", [eq, self._op("Not", [taken], dtype=bool)], dtype=bool))
            taken = self._op("Or", [taken, eq], dtype=bool)
        switches.append(self._op("Not", [taken], dtype=bool))
        self.switch_cache[key] = switches
        return switches

    def _replace_with_switch(self, pool: Any, value: Any, out: Any, out_hw: tuple[int, int]) -> None:
        """Produce `out` = max-unpool of `value` with `pool`'s argmax, in the index-free switch form."""
        for producer in list(out.inputs):
            producer.outputs.clear()
        dtype = value.dtype if value.dtype is not None else np.float32
        key = (pool.name, np.dtype(dtype).name)
        if key not in self.switch_cache:
            onnx = require("onnx", "rewrite-unpool")
            to = onnx.helper.np_dtype_to_tensor_dtype(np.dtype(dtype))
            self.switch_cache[key] = [self._op("Cast", [s], {"to": to}, dtype=dtype) for s in self._switches(pool)]
        parts = [self._op("Mul", [value, mask], dtype=dtype) for mask in self.switch_cache[key]]
        stacked = self._op("Concat", parts, {"axis": 1}, dtype=dtype)
        # DCR: output[n, c, 2h+i, 2w+j] = input[n, (2i+j)*C + c, h, w], matching the concat order above.
        pad_h = out_hw[0] - 2 * (pool.inputs[0].shape[2] // 2)
        pad_w = out_hw[1] - 2 * (pool.inputs[0].shape[3] // 2)
        if not (pad_h or pad_w):
            self._op("DepthToSpace", [stacked], {"blocksize": 2, "mode": "DCR"}, out=out)
            return
        unpooled = self._op("DepthToSpace", [stacked], {"blocksize": 2, "mode": "DCR"}, dtype=dtype)
        pads = self._const("pads", np.array([0, 0, 0, 0, 0, 0, pad_h, pad_w], dtype=np.int64))
        self._op("Pad", [unpooled, pads], {"mode": "constant"}, out=out)

    def _replace_with_scatter(self, node: Any) -> None:
        """MaxUnpool -> ScatterElements of the flattened values into a flattened zero output, then Reshape."""
        value, indices = node.inputs[0], node.inputs[1]
        out = node.outputs[0]
        node.outputs.clear()
        dtype = value.dtype if value.dtype is not None else np.float32
        if len(node.inputs) > 2 and node.inputs[2].name:
            shape = node.inputs[2]
        else:
            shape = self._default_unpool_shape(node, value)
        flat = self._const("flat", np.array([-1], dtype=np.int64))
        zeros = self._op("ConstantOfShape", [shape], {"value": self._const("zero", np.zeros(1, dtype=dtype))}, dtype=dtype)
        zeros_flat = self._op("Reshape", [zeros, flat], dtype=dtype)
        indices_flat = self._op("Reshape", [indices, flat], dtype=np.int64)
        values_flat = self._op("Reshape", [value, flat], dtype=dtype)
        scattered = self._op("ScatterElements", [zeros_flat, indices_flat, values_flat], {"axis": 0}, dtype=dtype)
        self._op("Reshape", [scattered, shape], out=out)

    def _default_unpool_shape(self, node: Any, value: Any) -> Any:
        """MaxUnpool's default output shape: (in - 1) * stride - pad_begin - pad_end + kernel per spatial axis."""
        kernel = list(node.attrs["kernel_shape"])
        rank = len(kernel)
        strides = list(node.attrs.get("strides", [1] * rank))
        pads = list(node.attrs.get("pads", [0] * 2 * rank))
        extra = [k - s - pads[i] - pads[i + rank] for i, (k, s) in enumerate(zip(kernel, strides))]
        shape = value.shape
        if shape is not None and all(isinstance(d, int) for d in shape):
            dims = list(shape[:2]) + [(d - 1) * s + e + s for d, s, e in zip(shape[2:], strides, extra)]
            return self._const("shape", np.array(dims, dtype=np.int64))
        dynamic = self._op("Shape", [value], dtype=np.int64)
        scaled = self._op("Mul", [dynamic, self._const("stride", np.array([1, 1] + strides, dtype=np.int64))],
                          dtype=np.int64)
        return self._op("Add", [scaled, self._const("extra", np.array([0, 0] + extra, dtype=np.int64))],
                        dtype=np.int64)


def _label(node: Any) -> str:
    """A node's name, or its operator and first output for an unnamed node."""
    return node.name or f"{node.op} -> {node.outputs[0].name if node.outputs else '?'}"


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
