"""What TensorRT's ONNX parser accepts, per TensorRT family (8.6, 10.x, 11.x): operators and opset range.

Sources (read 2026-11 through the project's search tool):
- onnx/onnx-tensorrt `docs/operators.md`, release/8.5-GA ("TensorRT 8.5 supports operators up to Opset 17"),
  plus the ONNX-TensorRT changelog for 8.6 EA (added GroupNormalization, LayerNormalization, IsInf) -> 8.6 table.
- onnx/onnx-tensorrt `docs/operators.md` for TensorRT 10.15 ("opset 9 to opset 24"); 10.0's matrix says
  "opset 9 to opset 20". The changelog dates Attention to 10.14 and RotaryEmbedding, RMSNormalization,
  TensorScatter to 10.15, so those are warnings for the 10 family (JetPack 6.x ships 10.3).
- NVIDIA TensorRT "ONNX Opset Guide" for 11.x (maximum opset 25, minimum 9) and the 11.0 release notes
  (parser added Swish); opset 25 itself arrived in 11.5 (GitHub release notes), hence a warning for it.
Restrictions that matter in practice (MaxPool Indices, ScatterND reduction, Resize modes, Q/DQ zero points,
build-time constant inputs) are checked in `segnet.export.trt_lint`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

# Operators the 8.5-GA matrix marks "Y".
_OPS_85 = frozenset([
    "Abs", "Acos", "Acosh", "Add", "And", "ArgMax", "ArgMin", "Asin", "Asinh", "Atan", "Atanh", "AveragePool",
    "BatchNormalization", "Cast", "Ceil", "Celu", "Clip", "Concat", "Constant", "ConstantOfShape", "Conv",
    "ConvTranspose", "Cos", "Cosh", "CumSum", "DepthToSpace", "DequantizeLinear", "Div", "Dropout", "Einsum",
    "Elu", "Equal", "Erf", "Exp", "Expand", "EyeLike", "Flatten", "Floor", "Gather", "GatherElements",
    "GatherND", "Gemm", "GlobalAveragePool", "GlobalLpPool", "GlobalMaxPool", "Greater", "GreaterOrEqual",
    "GridSample", "GRU", "HardSwish", "HardSigmoid", "Identity", "If", "ImageScaler", "InstanceNormalization",
    "IsNaN", "LeakyRelu", "Less", "LessOrEqual", "Log", "LogSoftmax", "Loop", "LRN", "LSTM", "LpNormalization",
    "LpPool", "MatMul", "Max", "MaxPool", "Mean", "MeanVarianceNormalization", "Min", "Mod", "Mul", "Neg",
    "NonMaxSuppression", "NonZero", "Not", "OneHot", "Or", "Pad", "ParametricSoftplus", "Pow", "PRelu",
    "QuantizeLinear", "RandomNormal", "RandomNormalLike", "RandomUniform", "RandomUniformLike", "Range",
    "Reciprocal", "ReduceL1", "ReduceL2", "ReduceLogSum", "ReduceLogSumExp", "ReduceMax", "ReduceMean",
    "ReduceMin", "ReduceProd", "ReduceSum", "ReduceSumSquare", "Relu", "Reshape", "Resize", "ReverseSequence",
    "RNN", "RoiAlign", "Round", "ScaledTanh", "Scan", "Scatter", "ScatterElements", "ScatterND", "Selu",
    "Shape", "Shrink", "Sigmoid", "Sign", "Sin", "Sinh", "Size", "Slice", "Softmax", "Softplus", "Softsign",
    "SpaceToDepth", "Split", "Sqrt", "Squeeze", "Sub", "Sum", "Tan", "Tanh", "ThresholdedRelu", "Tile", "TopK",
    "Transpose", "Trilu", "Unsqueeze", "Upsample", "Where", "Xor",
])
_OPS_86 = _OPS_85 | {"GroupNormalization", "LayerNormalization", "IsInf"}
# Marked "Y" in the 10.15 matrix but not in 8.5/8.6 (and not among the late-10.x additions below).
_OPS_10 = _OPS_86 | {"BlackmanWindow", "CastLike", "DeformConv", "Gelu", "HammingWindow", "HannWindow", "Hardmax",
                     "Mish", "STFT"}
_LATE_10 = {"Attention": "10.14", "RotaryEmbedding": "10.15", "RMSNormalization": "10.15", "TensorScatter": "10.15"}
_OPS_11 = _OPS_10 | set(_LATE_10) | {"Swish"}


@dataclass(frozen=True)
class TrtFamily:
    """One TensorRT release family as the linter sees it."""

    name: str
    ops: frozenset[str]
    min_opset: int
    max_opset: int
    # opsets above max_opset that later releases of the family accept: opset -> first release
    late_opsets: dict[int, str] = field(default_factory=dict)
    # operators that only later releases of the family parse: op -> first release
    late_ops: dict[str, str] = field(default_factory=dict)
    int64_native: bool = True  # 8.x casts INT64 down to INT32 (clamping); 9.0+ has INT64
    bf16: bool = True


FAMILIES: dict[str, TrtFamily] = {
    "8.6": TrtFamily("8.6", frozenset(_OPS_86), 1, 17, int64_native=False, bf16=False),
    "10": TrtFamily("10", frozenset(_OPS_10), 9, 20, late_opsets={21: "10.x", 22: "10.x", 23: "10.x", 24: "10.15"},
                    late_ops=dict(_LATE_10)),
    "11": TrtFamily("11", frozenset(_OPS_11), 9, 24, late_opsets={25: "11.5"}),
}
DEFAULT_VERSIONS: tuple[str, ...] = ("8.6", "10", "11")


def family(version: str) -> TrtFamily:
    """Map a version string ("8.6", "8.6.2", "10", "10.3", "11.1") to its family; ValueError if unknown."""
    text = version.strip()
    major = text.split(".")[0]
    if major == "8" and text in ("8", "8.6") or text.startswith("8.6."):
        return FAMILIES["8.6"]
    if major in ("10", "11"):
        return FAMILIES[major]
    raise ValueError(f"unknown TensorRT version {version!r}: use 8.6, 10 or 11 (e.g. --trt 8.6,10,11)")
