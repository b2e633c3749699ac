"""INT8 variant of an exported model: ONNX Runtime static quantization to Q/DQ nodes, calibrated on real
images preprocessed exactly as the runtime will feed them.

Two flavours, different files (docs/tensorrt.md, "INT8 on CPU versus on TensorRT"):
- "tensorrt": symmetric signed INT8 for activations and weights, every zero point 0 - what TensorRT's
  explicit quantization requires (checked after quantizing: SegnetError otherwise).
- "cpu" (alias "onnxruntime"): unsigned asymmetric activations, symmetric int8 weights - the form ONNX
  Runtime's x86 INT8 kernels run fastest.
Weights are per-channel; biases stay FP32 for TensorRT (its DequantizeLinear takes INT8 only) and
become int32 for ONNX Runtime's QLinearConv. By default ("auto") the first convolution and the classifier
stay FP32. The model is pre-processed first (onnxruntime.quantization.shape_inference.quant_pre_process),
as ONNX Runtime recommends.

Only convolutions are quantized; the pooling switches (Slice/Max/Equal) must decide on the same values as
in FP32. onnxruntime gets this wrong twice, and both are undone after it:
- it puts one Q/DQ pair on a tensor and hands the dequantized copy to every consumer, so the pooled maximum,
  which feeds both the next convolution and the switch's Equal nodes, reached the Equal rounded: equal to no
  phase, the switches broke, and CamVid mIoU fell 4 points. Comparisons always get the FP32 tensor back.
- it also quantizes convolution outputs (what its QLinearConv kernels need), so the tensor being pooled is
  rounded to 256 levels, near-ties in a window become exact ties, and the scan-order tie-break moves the
  switch (3 mIoU points on the demo's thin model). switch_inputs="fp32" takes those output Q/DQ pairs off
  the paths into a switch: only convolution inputs are quantized there, NVIDIA's recommended Q/DQ placement
  for TensorRT, where a convolution with INT8 input and float output is a native kernel. It is the default
  for the TensorRT flavour; the CPU flavour defaults to "int8", since ONNX Runtime then runs those
  convolutions in FP32 (measured: 2.3x -> 1.5x faster than FP32 on the CamVid model, export_report).
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from segnet.errors import SegnetError
from segnet.export import inputs, verify
from segnet.export.onnx_export import (
    read_metadata,
    save_variant,
    variant_path,
)
from segnet.lazy import require
from segnet.spec import Artifact, ModelSpec

if TYPE_CHECKING:
    from segnet.data.mask_options import MaskOptions

FLAVOURS = {"tensorrt": "tensorrt", "cpu": "cpu", "onnxruntime": "cpu"}
METHODS = ("minmax", "percentile", "entropy")
DEFAULT_METHOD = "minmax"
DEFAULT_IMAGES = 100
OP_TYPES = ["Conv"]
COMPARISONS = ("Equal", "Greater", "GreaterOrEqual", "Less", "LessOrEqual")
POOLING_PATH = ("Relu", "Slice", "Max", "Reshape", "Transpose", "Identity")  # value-preserving, conv -> switch
QDQ = ("QuantizeLinear", "DequantizeLinear")
SWITCH_INPUTS = {"tensorrt": "fp32", "cpu": "int8"}  # default per flavour, see the module docstring


def sensitive_convs(model: Any) -> list[str]:
    """Names of the first convolution and the classifier (the last one), kept FP32 by exclude="auto"."""
    convs = [node.name for node in model.graph.node if node.op_type == "Conv"]
    return sorted(set(convs[:1] + convs[-1:]))


def quantized_inputs(model: Any) -> dict[str, str]:
    """Dequantized activation -> its FP32 source, for every QuantizeLinear -> DequantizeLinear pair on an
    activation (weights, which are initializers, are left out)."""
    weights = {t.name for t in model.graph.initializer}
    quantized = {n.output[0]: n.input[0] for n in model.graph.node
                 if n.op_type == "QuantizeLinear" and n.input[0] not in weights}
    return {n.output[0]: quantized[n.input[0]] for n in model.graph.node
            if n.op_type == "DequantizeLinear" and n.input[0] in quantized}


def fp32_switch_inputs(model: Any, through_pooling: bool) -> list[str]:
    """Give the pooling switches FP32 values: every consumer of a dequantized activation that is not a
    quantized op (Q/DQ, Conv) and leads to a comparison - directly, or with `through_pooling` across the
    value-preserving ops between a convolution and its switch - reads the FP32 source instead. Q/DQ pairs
    left without consumers are removed. Returns the names of the rewired nodes."""
    sources = quantized_inputs(model)
    consumers: dict[str, list[Any]] = {}
    for node in model.graph.node:
        for name in node.input:
            consumers.setdefault(name, []).append(node)

    def leads_to_comparison(node: Any) -> bool:
        if node.op_type in COMPARISONS:
            return True
        return (through_pooling and node.op_type in POOLING_PATH
                and any(leads_to_comparison(c) for out in node.output for c in consumers.get(out, [])))

    rewired = []
    for dequantized, source in sources.items():
        for node in consumers.get(dequantized, []):
            if node.op_type in OP_TYPES or node.op_type in QDQ or not leads_to_comparison(node):
                continue
            node.input[:] = [source if name == dequantized else name for name in node.input]
            rewired.append(node.name)
    _drop_unused_qdq(model)
    return rewired


def _drop_unused_qdq(model: Any) -> None:
    while True:
        used = {name for node in model.graph.node for name in node.input} | {o.name for o in model.graph.output}
        unused = [n for n in model.graph.node if n.op_type in QDQ and not set(n.output) & used]
        if not unused:
            return
        for node in unused:
            model.graph.node.remove(node)
        names = {name for node in model.graph.node for name in node.input}
        kept = [t for t in model.graph.initializer if t.name in names]
        if len(kept) != len(model.graph.initializer):
            del model.graph.initializer[:]
            model.graph.initializer.extend(kept)


def nonzero_zero_points(model: Any) -> list[str]:
    """Q/DQ nodes whose zero point is not 0 or not int8 (TensorRT rejects both)."""
    numpy_helper = require("onnx.numpy_helper", "INT8 checks")
    initializers = {t.name: numpy_helper.to_array(t) for t in model.graph.initializer}
    constants = {n.output[0]: numpy_helper.to_array(a.t) for n in model.graph.node
                 if n.op_type == "Constant" for a in n.attribute if a.name == "value"}
    bad = []
    for node in model.graph.node:
        if node.op_type not in ("QuantizeLinear", "DequantizeLinear"):
            continue
        if len(node.input) < 3 or not node.input[2]:
            continue  # no zero point: defaults to uint8 0 for Q, which ORT never emits in QDQ models
        zero_point = initializers.get(node.input[2], constants.get(node.input[2]))
        if zero_point is None or zero_point.dtype != np.int8 or np.any(zero_point != 0):
            bad.append(node.name or node.output[0])
    return bad


class _Reader:
    """onnxruntime CalibrationDataReader over prepared input batches; `set_range` lets ORT collect one
    batch at a time ("CalibStridedMinMax"), so histogram calibration never holds every activation of every
    image at once (hundreds of MB per 360x480 image)."""

    def __init__(self, name: str, batches: Sequence[np.ndarray]) -> None:
        self.name = name
        self.batches = list(batches)
        self.position, self.end = 0, len(self.batches)

    def __len__(self) -> int:
        return len(self.batches)

    def set_range(self, start_index: int, end_index: int) -> None:
        self.position, self.end = start_index, min(end_index, len(self.batches))

    def get_next(self) -> dict[str, np.ndarray] | None:
        if self.position >= self.end:
            return None
        self.position += 1
        return {self.name: self.batches[self.position - 1]}

    def rewind(self) -> None:
        self.position, self.end = 0, len(self.batches)


def calibration_batches(spec: ModelSpec, artifact: Artifact, images: Sequence[np.ndarray]) -> list[np.ndarray]:
    """The model's input batches for `images` (uint8 NHWC when preprocessing is embedded, else normalised)."""
    batches = inputs.batches(images, [artifact.batch or 1])
    return batches if artifact.embedded_preprocess else [inputs.normalize(b, spec) for b in batches]


def quantize_int8(onnx_in: str | Path, onnx_out: str | Path | None, calib_dir: str | Path,
                  num_images: int = DEFAULT_IMAGES, target: str = "tensorrt", method: str = DEFAULT_METHOD,
                  exclude: str | Sequence[str] = "auto", split: str | None = None,
                  log: Callable[[str], None] | None = None, switch_inputs: str | None = None,
                  shared_qdq: bool = False, masks: MaskOptions | None = None) -> Path:
    """Write the INT8 (Q/DQ) variant of the segnet ONNX export `onnx_in` (default MODEL.int8.onnx) and its
    sidecar entry. `exclude`: "auto" (first conv + classifier stay FP32), "none", or node names.
    `switch_inputs`: "fp32" or "int8" (default per flavour: SWITCH_INPUTS). `shared_qdq=True` leaves
    onnxruntime's graph as it is (quantized comparisons): only for benchmarks/scripts/export_report.py, which
    shows what the fix is worth."""
    onnx = require("onnx", "INT8 quantization")
    flavour = FLAVOURS.get(target)
    if flavour is None:
        raise SegnetError(f"unknown INT8 target {target!r}: use tensorrt or cpu")
    if method not in METHODS:
        raise SegnetError(f"unknown calibration method {method!r}: use one of {', '.join(METHODS)}")
    switch_inputs = switch_inputs or SWITCH_INPUTS[flavour]
    if switch_inputs not in ("fp32", "int8"):
        raise SegnetError(f"unknown switch_inputs {switch_inputs!r}: use fp32 or int8")
    if num_images < 1:
        raise SegnetError(f"calibration needs at least 1 image, got {num_images}")
    onnx_in = Path(onnx_in)
    out = Path(onnx_out) if onnx_out is not None else variant_path(onnx_in, "int8")
    source = onnx.load(str(onnx_in))
    spec, artifact = read_metadata(source, str(onnx_in))
    if artifact.precision != "fp32":
        raise SegnetError(f"{onnx_in}: quantize the FP32 export, not a {artifact.precision} variant")
    images = inputs.dataset_images(calib_dir, spec.input_size, spec, num_images, split, masks)
    excluded = _excluded(source, exclude)
    model = _quantize(source, spec, artifact, images, flavour, method, excluded)
    rewired = [] if shared_qdq else fp32_switch_inputs(model, through_pooling=switch_inputs == "fp32")
    if flavour == "tensorrt":
        bad = nonzero_zero_points(model)
        if bad:
            raise SegnetError(f"{out}: {len(bad)} Q/DQ nodes have non-zero or non-int8 zero points "
                              f"(first: {bad[0]}); TensorRT would reject the model")
    verify.check_graph(model, str(out))
    check = verify.compare_onnx(source, model, spec, artifact.embedded_preprocess, artifact.batch, None,
                                images=images[: verify_count(len(images))])
    if log:
        log(f"INT8 ({flavour}, {method}, {len(images)} calibration images) vs FP32 model: {check.describe()}")
    details = dict(artifact.details, int8={
        "flavour": flavour, "calibration_method": method, "calibration_images": len(images),
        "calibration_data": str(calib_dir), "excluded_nodes": excluded, "op_types": OP_TYPES,
        "switch_inputs": "shared Q/DQ (onnxruntime as is)" if shared_qdq else switch_inputs,
        "fp32_switch_nodes": rewired,
        "activations": "int8 symmetric" if flavour == "tensorrt" else "uint8 asymmetric",
        "weights": "int8 symmetric per-channel"},
        verification={"reference": onnx_in.name, "calibration_images": check.to_dict()})
    return save_variant(model, spec, artifact, out, "int8", details)


def verify_count(available: int) -> int:
    """How many calibration images to compare INT8 and FP32 on (a few: it is a sanity check)."""
    return min(available, 8)


def _excluded(model: Any, exclude: str | Sequence[str]) -> list[str]:
    if exclude == "auto":
        return sensitive_convs(model)
    if exclude == "none":
        return []
    if isinstance(exclude, str):
        raise SegnetError(f"exclude must be 'auto', 'none' or a list of node names, got {exclude!r}")
    names = {node.name for node in model.graph.node}
    unknown = [n for n in exclude if n not in names]
    if unknown:
        raise SegnetError(f"cannot keep {unknown} in FP32: no such nodes in the model")
    return list(exclude)


def _quantize(source: Any, spec: ModelSpec, artifact: Artifact, images: Sequence[np.ndarray], flavour: str,
              method: str, excluded: list[str]) -> Any:
    """quant_pre_process + quantize_static in a temporary folder; returns the quantized ModelProto."""
    onnx = require("onnx", "INT8 quantization")
    quantization = require("onnxruntime.quantization", "INT8 quantization")
    from onnxruntime.quantization.shape_inference import quant_pre_process

    methods = {"minmax": quantization.CalibrationMethod.MinMax,
               "percentile": quantization.CalibrationMethod.Percentile,
               "entropy": quantization.CalibrationMethod.Entropy}
    symmetric = flavour == "tensorrt"
    reader = _Reader(artifact.input_name, calibration_batches(spec, artifact, images))
    with tempfile.TemporaryDirectory(prefix="segnet-int8-") as tmp:
        raw, prepared, quantized = (Path(tmp) / name for name in ("raw.onnx", "pre.onnx", "int8.onnx"))
        onnx.save(source, str(raw))
        quant_pre_process(str(raw), str(prepared), skip_symbolic_shape=True)
        quantization.quantize_static(
            str(prepared), str(quantized), reader, quant_format=quantization.QuantFormat.QDQ,
            op_types_to_quantize=OP_TYPES, per_channel=True,
            activation_type=quantization.QuantType.QInt8 if symmetric else quantization.QuantType.QUInt8,
            weight_type=quantization.QuantType.QInt8, nodes_to_exclude=excluded,
            calibrate_method=methods[method],
            extra_options={"ActivationSymmetric": symmetric, "WeightSymmetric": True,
                           # TensorRT dequantizes INT8 only: biases stay FP32 (it folds them itself)
                           "QuantizeBias": not symmetric,
                           "CalibStridedMinMax": 1})
        return onnx.load(str(quantized))
