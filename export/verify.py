"""Self-verification of an exported model: graph checks, then outputs compared with a reference.

1. `check_graph`: onnx.checker (full check) and strict shape inference.
2. `pooling_nodes`: the nodes TensorRT's ONNX parser rejects in SegNet graphs (MaxUnpool, ScatterND, MaxPool
   with its Indices output); a TensorRT-target export must have none.
3. `compare`: run the exported model under ONNX Runtime on the same image batches as a reference (PyTorch
   in "indices" pooling mode for FP32 exports, the FP32 ONNX for FP16/INT8 variants) and measure the
   largest |logit difference|, the share of logits within the tolerance and the share of pixels whose
   class agrees.

Tolerances (`TOLERANCES`); a logit is "within" when |diff| <= abs_diff * max(1, |reference logit|):
- rewrite (the switch graph vs PyTorch's own ScatterND export of the same model, both under ONNX Runtime,
  so the same convolution numerics): 99.99% of pixels agree and of logits within 1e-5. This is the check
  that the index-free export is right; measured: bit-identical (max |diff| 0) on every preset.
- fp32 (vs PyTorch itself): 99.9% of pixels agree and 90% of logits within 1e-3. Not "max |diff| <=
  1e-3": ONNX Runtime's convolutions round differently from PyTorch's (by an ulp, differently per
  position), and where a 2x2 pooling window holds (near-)equal values - flat sky or road, or an untrained
  network's small activations - max-pooling may pick another position, so unpooling moves that value to
  the neighbouring pixel and the decoder spreads the change. PyTorch's own ScatterND export shows exactly
  the same differences. Measured (benchmarks/scripts/export_report.py): trained segnet_lite on CamVid at 360x480
  99.999% agreement and ~99.3% of logits within; untrained segnet_vgg16 (w0.25, 360x480) on random
  images 99.91% agreement, 95.4% within.
- fp16: 99% of pixels agree and 99% of logits are within 0.05 of the FP32 model's.
- int8: no hard bound here - its accuracy is measured as mIoU on real data (benchmarks/scripts/export_report.py);
  the agreement is reported.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any, Callable, Dict

import numpy as np

from segnet.errors import SegnetError
from segnet.export import inputs
from segnet.lazy import require
from segnet.spec import ModelSpec

Runner = Callable[[np.ndarray], Dict[str, np.ndarray]]  # typing generics: evaluated at import on 3.8


@dataclass(frozen=True)
class Tolerance:
    """`min_within` of the logits must be within `abs_diff` and `min_agreement` of the pixels agree."""

    abs_diff: float
    min_within: float
    min_agreement: float


TOLERANCES: dict[str, Tolerance | None] = {
    "fp32": Tolerance(abs_diff=1e-3, min_within=0.90, min_agreement=0.999),
    "rewrite": Tolerance(abs_diff=1e-5, min_within=0.9999, min_agreement=0.9999),
    "fp16": Tolerance(abs_diff=0.05, min_within=0.99, min_agreement=0.99),
    "int8": None,
}


@dataclass
class Comparison:
    """How closely a model's outputs follow a reference's on `images` images."""

    images: int
    pixels: int
    agreement: float  # share of pixels with the same class
    max_abs_diff: float | None  # None when the model has no logits output
    within: float | None  # share of logits within abs_diff * max(1, |reference logit|)
    abs_diff: float | None
    passed: bool | None  # None when the precision has no tolerance

    def to_dict(self) -> dict[str, object]:
        return asdict(self)

    def describe(self) -> str:
        parts = [f"{self.images} images", f"class agreement {100 * self.agreement:.4f}%"]
        if self.max_abs_diff is not None:
            parts.append(f"max |logit diff| {self.max_abs_diff:.2e}")
            parts.append(f"{100 * self.within:.4f}% within {self.abs_diff:g} x max(1, |logit|)")  # type: ignore[operator]
        verdict = {True: "PASS", False: "FAIL", None: "reported"}[self.passed]
        return f"{verdict}: " + ", ".join(parts)


def check_graph(model: object, name: str) -> None:
    """onnx.checker (full) and strict shape inference; SegnetError naming `name` when either fails."""
    onnx = require("onnx", "ONNX export")
    try:
        onnx.checker.check_model(model, full_check=True)
        onnx.shape_inference.infer_shapes(model, check_type=True, strict_mode=True)
    except (onnx.checker.ValidationError, onnx.shape_inference.InferenceError) as exc:
        first = str(exc).strip().splitlines()[0]
        raise SegnetError(f"{name}: the exported graph is invalid ({first})") from None


def pooling_nodes(model: object) -> list[str]:
    """Nodes TensorRT cannot parse in SegNet graphs: MaxUnpool, ScatterND, MaxPool with Indices."""
    found = []
    for node in model.graph.node:  # type: ignore[attr-defined]
        if node.op_type in ("MaxUnpool", "ScatterND"):
            found.append(f"{node.op_type} {node.name!r}")
        elif node.op_type == "MaxPool" and len(node.output) > 1 and node.output[1]:
            found.append(f"MaxPool {node.name!r} with Indices output")
    return found


def ort_runner(model: bytes | str, threads: int | None = None) -> Runner:
    """A function batch -> {output name: array} running `model` (bytes or path) on ONNX Runtime's CPU."""
    ort = require("onnxruntime", "verifying the export")
    options = ort.SessionOptions()
    options.log_severity_level = 3
    if threads:
        options.intra_op_num_threads = threads
    session = ort.InferenceSession(model, options, providers=["CPUExecutionProvider"])
    input_name = session.get_inputs()[0].name
    names = [o.name for o in session.get_outputs()]

    def run(batch: np.ndarray | dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        feed = batch if isinstance(batch, dict) else {input_name: batch}  # a dict feeds several inputs
        return dict(zip(names, session.run(None, feed)))

    return run  # type: ignore[return-value]


def labels_of(outputs: dict[str, np.ndarray], num_classes: int) -> np.ndarray:
    """The class map of a model's outputs: its "labels", else the argmax (or logit > 0) of "logits"."""
    if "labels" in outputs:
        return outputs["labels"].astype(np.int64)
    logits = outputs["logits"]
    return (logits[:, 0] > 0).astype(np.int64) if num_classes == 1 else logits.argmax(axis=1)


def compare(reference: Runner, candidate: Runner, batches: Sequence[np.ndarray], num_classes: int,
            tolerance: Tolerance | None, feed: Callable[[np.ndarray], np.ndarray] = lambda b: b,
            reference_feed: Callable[[np.ndarray], np.ndarray] = lambda b: b) -> Comparison:
    """Run both on every batch (each through its own `feed` conversion) and measure the differences."""
    agree = pixels = within = count = images = 0
    max_diff: float | None = None
    abs_diff = tolerance.abs_diff if tolerance else 1e-3
    for batch in batches:
        ref, out = reference(reference_feed(batch)), candidate(feed(batch))
        ref_labels, out_labels = labels_of(ref, num_classes), labels_of(out, num_classes)
        if ref_labels.shape != out_labels.shape:
            raise SegnetError(f"exported model gives class maps of shape {out_labels.shape}, "
                              f"the reference {ref_labels.shape}")
        agree += int((ref_labels == out_labels).sum())
        pixels += ref_labels.size
        images += len(batch)
        if "logits" in out and "logits" in ref:
            reference_logits = ref["logits"].astype(np.float64)
            diff = np.abs(out["logits"].astype(np.float64) - reference_logits)
            max_diff = max(max_diff or 0.0, float(diff.max()))
            within += int((diff <= abs_diff * np.maximum(1.0, np.abs(reference_logits))).sum())
            count += diff.size
    agreement = agree / pixels
    share = within / count if count else None
    passed = None
    if tolerance is not None:
        passed = agreement >= tolerance.min_agreement and (share is None or share >= tolerance.min_within)
    return Comparison(images=images, pixels=pixels, agreement=agreement, max_abs_diff=max_diff,
                      within=share, abs_diff=abs_diff if count else None, passed=passed)


def compare_onnx(reference: Any, candidate: Any, spec: ModelSpec, embedded: bool, batch: int | None,
                 tolerance: Tolerance | None, images: Sequence[np.ndarray] | None = None) -> Comparison:
    """Compare two ONNX ModelProtos with the same inputs under ONNX Runtime, on random (or given) images."""
    if images is None:
        images = inputs.random_images(4, spec.input_size, spec.in_channels)
    batches = inputs.batches(images, [batch or 1])

    def feed(b: np.ndarray) -> np.ndarray:
        return b if embedded else inputs.normalize(b, spec)

    return compare(ort_runner(reference.SerializeToString()), ort_runner(candidate.SerializeToString()),
                   batches, spec.num_classes, tolerance, feed=feed, reference_feed=feed)
