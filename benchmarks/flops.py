"""FLOPs of an ONNX model: multiply-accumulates of its Conv, ConvTranspose, Gemm and MatMul nodes.

Counted from shape-inferred ONNX (dynamic dimensions fixed first), so the number matches the graph that
actually runs. What is counted: one MAC per weight tap per output element (Conv, including depthwise/grouped
and Q/DQ-wrapped convolutions, since DequantizeLinear feeds a plain Conv), ConvTranspose, Gemm, MatMul.
What is not: bias adds, BatchNormalization, activations, pooling, unpooling, ArgMax, Q/DQ themselves;
for SegNet these are well under 1% of the arithmetic. FLOPs = 2 x MACs.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from segnet.errors import SegnetError
from segnet.lazy import require

COUNTED_OPS = ("Conv", "ConvTranspose", "Gemm", "MatMul")
WHAT_IS_COUNTED = ("MACs of Conv, ConvTranspose, Gemm and MatMul (one per weight tap per output element); "
                   "bias, BatchNorm, activations, pooling, unpooling, ArgMax not counted; FLOPs = 2 x MACs")


@dataclass
class FlopReport:
    """MACs per counted node type, plus the nodes whose shapes could not be inferred (not counted)."""

    macs_by_op: dict[str, int] = field(default_factory=dict)
    uncounted: list = field(default_factory=list)
    weight_values: int = 0  # weights of the counted nodes
    output_values: int = 0  # values the counted nodes write (their activations)

    @property
    def traffic_values(self) -> int:
        """A DRAM-traffic estimate in tensor values: weights read once, each counted node's output
        written once and read once (fused BN/activation/pooling assumed to ride along)."""
        return self.weight_values + 2 * self.output_values

    @property
    def macs(self) -> int:
        return sum(self.macs_by_op.values())

    @property
    def gflops(self) -> float:
        """Giga floating-point operations per inference (2 x MACs / 1e9)."""
        return 2 * self.macs / 1e9

    def to_dict(self) -> dict[str, Any]:
        return {"macs": self.macs, "gflops": self.gflops, "macs_by_op": dict(self.macs_by_op),
                "weight_values": self.weight_values, "output_values": self.output_values,
                "uncounted": list(self.uncounted), "counted": WHAT_IS_COUNTED}


def count_macs(model: str | Path | Any, input_shape: Sequence[int] | None = None) -> FlopReport:
    """MACs of an ONNX model (path or ModelProto). `input_shape` fixes the first input's dynamic
    dimensions (e.g. (1, 3, 360, 480)); without it dynamic dimensions must not feed a counted node."""
    onnx = require("onnx", "FLOP counting")
    proto = onnx.load(str(model)) if isinstance(model, (str, Path)) else model
    proto = _with_static_input(proto, input_shape)
    try:
        inferred = onnx.shape_inference.infer_shapes(proto, data_prop=True)
    except (onnx.shape_inference.InferenceError, ValueError, RuntimeError) as exc:
        raise SegnetError(f"cannot infer shapes of the ONNX model for FLOP counting ({exc})") from None
    shapes = _known_shapes(inferred)
    report = FlopReport()
    for node in inferred.graph.node:
        if node.op_type not in COUNTED_OPS:
            continue
        macs = _node_macs(node, shapes)
        if macs is None:
            report.uncounted.append(node.name or node.op_type)
            continue
        report.macs_by_op[node.op_type] = report.macs_by_op.get(node.op_type, 0) + macs
        report.weight_values += math.prod(shapes.get(node.input[1], ()))
        report.output_values += math.prod(shapes.get(node.output[0], ()))
    return report


def _with_static_input(proto: Any, input_shape: Sequence[int] | None) -> Any:
    """A copy of `proto` whose first graph input has the given concrete shape."""
    if input_shape is None:
        return proto
    onnx = require("onnx", "FLOP counting")
    copy = onnx.ModelProto()
    copy.CopyFrom(proto)
    initializers = {init.name for init in copy.graph.initializer}
    graph_inputs = [i for i in copy.graph.input if i.name not in initializers]
    if not graph_inputs:
        raise SegnetError("the ONNX model has no inputs to size for FLOP counting")
    dims = graph_inputs[0].type.tensor_type.shape.dim
    if len(dims) != len(input_shape):
        raise SegnetError(f"input {graph_inputs[0].name!r} has {len(dims)} dimensions, "
                          f"got shape {tuple(input_shape)} to count FLOPs at")
    for dim, value in zip(dims, input_shape):
        dim.Clear()
        dim.dim_value = int(value)
    return copy


def _known_shapes(proto: Any) -> dict[str, tuple[int, ...]]:
    """Fully static shapes of every value, input, output and initializer the graph knows."""
    shapes: dict[str, tuple[int, ...]] = {}
    for init in proto.graph.initializer:
        shapes[init.name] = tuple(int(d) for d in init.dims)
    for info in list(proto.graph.value_info) + list(proto.graph.input) + list(proto.graph.output):
        dims = info.type.tensor_type.shape.dim
        if info.type.tensor_type.HasField("shape") and all(d.HasField("dim_value") for d in dims):
            shapes[info.name] = tuple(int(d.dim_value) for d in dims)
    return shapes


def _node_macs(node: Any, shapes: dict[str, tuple[int, ...]]) -> int | None:
    """MACs of one counted node, or None when a needed shape is unknown."""
    get = shapes.get
    if node.op_type in ("Conv", "ConvTranspose"):
        x, w = get(node.input[0]), get(node.input[1])
        y = get(node.output[0])
        if x is None or w is None or y is None:
            return None
        taps = math.prod(w[2:])
        if node.op_type == "Conv":  # w: (Cout, Cin/group, k...) -> every output element reads Cin/group*k taps
            return math.prod(y) * w[1] * taps
        # ConvTranspose, w: (Cin, Cout/group, k...): every input element scatters into Cout/group*k taps
        return math.prod(x) * w[1] * taps
    if node.op_type == "Gemm":
        a, b = get(node.input[0]), get(node.input[1])
        if a is None or b is None:
            return None
        trans_a = next((attr.i for attr in node.attribute if attr.name == "transA"), 0)
        trans_b = next((attr.i for attr in node.attribute if attr.name == "transB"), 0)
        m, k = (a[1], a[0]) if trans_a else (a[0], a[1])
        n = b[0] if trans_b else b[1]
        return m * n * k
    if node.op_type == "MatMul":
        a, y = get(node.input[0]), get(node.output[0])
        if a is None or y is None or len(a) < 1:
            return None
        return math.prod(y) * a[-1]  # every output element is a length-K dot product
    return None
