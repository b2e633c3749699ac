"""`segnet check`: audit any ONNX file against TensorRT's ONNX parser (8.6, 10.x, 11.x) without TensorRT.

Each finding names the node, the TensorRT versions it affects, what is wrong and how to fix it. Where
TensorRT is importable the real parser runs as well (`segnet.export.trt_parse`). Needs onnx, never torch.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from segnet.errors import SegnetError
from segnet.export.trt_support import DEFAULT_VERSIONS, TrtFamily, family
from segnet.lazy import require

ERROR, WARNING, INFO = "error", "warning", "info"
REWRITE_FIX = "run `segnet rewrite-unpool IN.onnx OUT.onnx` (index-free switch form / scatter)"
_FORMS = {"switch": "folds it into the index-free switch form", "indices": "computes its Indices exactly from "
          "Slice/Equal/Where", "scatter": "turns it into ScatterElements"}
# Index arithmetic the dynamo exporter puts between MaxPool's Indices and ScatterND (max_unpool2d).
_INDEX_OPS = {"Reshape", "Unsqueeze", "Squeeze", "Flatten", "Add", "Sub", "Cast", "Slice", "Mul", "Div", "Concat",
              "Expand", "Identity"}
# Inputs the parser needs as build-time constants: op -> ((input index, input name), ...), from operators.md.
_CONSTANT_INPUTS = {
    "Slice": ((3, "axes"),), "Squeeze": ((1, "axes"),), "Unsqueeze": ((1, "axes"),), "CumSum": ((1, "axis"),),
    "TopK": ((1, "K"),), "Conv": ((1, "W"),), "ConvTranspose": ((1, "W"),), "OneHot": ((1, "depth"),),
    **{op: ((1, "axes"),) for op in ("ReduceL1", "ReduceL2", "ReduceLogSum", "ReduceLogSumExp", "ReduceMax",
                                      "ReduceMean", "ReduceMin", "ReduceProd", "ReduceSum", "ReduceSumSquare")},
}
_RESIZE_COORD_MODES = {"half_pixel", "pytorch_half_pixel", "tf_half_pixel_for_nn", "asymmetric", "align_corners"}


@dataclass
class Issue:
    """One finding: severity, affected TensorRT versions, node, operator, message and a suggested fix."""

    severity: str
    versions: list[str]
    node: str
    op: str
    message: str
    fix: str = ""


@dataclass
class LintReport:
    """All findings for one ONNX file; `.ok` is True when no requested TensorRT version has an error."""

    path: str
    versions: list[str]
    opset: int
    num_nodes: int
    issues: list[Issue] = field(default_factory=list)
    parser: dict[str, Any] | None = None  # the real TensorRT parser's verdict, when TensorRT is importable

    def failing_versions(self) -> list[str]:
        """Requested versions with at least one error (including the real parser's)."""
        bad = {v for issue in self.issues if issue.severity == ERROR for v in issue.versions}
        return [v for v in self.versions if v in bad]

    @property
    def ok(self) -> bool:
        return not self.failing_versions()

    def to_dict(self) -> dict[str, Any]:
        return {"path": self.path, "opset": self.opset, "nodes": self.num_nodes, "versions": self.versions,
                "ok": self.ok, "failing_versions": self.failing_versions(),
                "issues": [asdict(i) for i in self.issues], "parser": self.parser}

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2)

    def format(self) -> str:
        """A readable table per TensorRT version, then a summary line."""
        lines = [f"{self.path}: opset {self.opset}, {self.num_nodes} nodes"]
        for version in self.versions:
            found = [i for i in self.issues if version in i.versions]
            errors = sum(i.severity == ERROR for i in found)
            verdict = "FAIL" if errors else "pass"
            lines.append(f"\nTensorRT {version}: {verdict} ({errors} error(s), {len(found) - errors} other)")
            for issue in found:
                lines.append(f"  {issue.severity.upper():7} {issue.node} [{issue.op}]: {issue.message}")
                if issue.fix:
                    lines.append(f"          fix: {issue.fix}")
        if self.parser:
            lines.append(f"\nTensorRT parser {self.parser.get('version')}: "
                         f"{'parsed' if self.parser.get('ok') else 'FAILED'} {self.parser.get('note', '')}".rstrip())
        failing = self.failing_versions()
        passing = [v for v in self.versions if v not in failing]
        summary = f"passes TensorRT {', '.join(passing)}" if passing else ""
        if failing:
            summary = (summary + "; " if summary else "") + f"FAILS TensorRT {', '.join(failing)}"
        lines.append(f"\nsummary: {summary} ({sum(i.severity == ERROR for i in self.issues)} error(s), "
                     f"{sum(i.severity == WARNING for i in self.issues)} warning(s))")
        return "\n".join(lines)


def load_model(path: Any) -> Any:
    """Load an ONNX model or raise SegnetError naming the file (missing, not ONNX, corrupt)."""
    onnx = require("onnx", "reading ONNX models")
    path = Path(path)
    if not path.is_file():
        raise SegnetError(f"{path}: no such file")
    from google.protobuf.message import Error as ProtobufError  # type: ignore[import-untyped]

    try:
        model = onnx.load(str(path))
    except (OSError, ValueError, ProtobufError) as exc:
        raise SegnetError(f"{path}: not a readable ONNX model ({type(exc).__name__}); export it again") from None
    if not model.graph.node and not model.graph.output:
        raise SegnetError(f"{path}: not an ONNX model (empty graph)")
    return model


def default_opset(model: Any) -> int:
    """The model's default-domain (ai.onnx) opset version."""
    for entry in model.opset_import:
        if entry.domain in ("", "ai.onnx"):
            return int(entry.version)
    return 0


def check_onnx(path: Any, trt_versions: Sequence[str] = DEFAULT_VERSIONS, run_parser: bool = True) -> LintReport:
    """Audit `path` for the given TensorRT versions; with TensorRT importable also run its parser."""
    try:
        families = list({f.name: f for f in (family(v) for v in trt_versions)}.values())
    except ValueError as exc:
        raise SegnetError(str(exc)) from None
    model = load_model(path)
    report = LintReport(str(path), [f.name for f in families], default_opset(model), len(model.graph.node))
    report.issues.extend(_Linter(model, families).run())
    if run_parser:
        from segnet.export.trt_parse import parse_with_tensorrt

        report.parser = parse_with_tensorrt(Path(path), report)
    return report


def _dry_run_rewrite(model: Any, families: Sequence[TrtFamily]) -> tuple[Any, str, list[Issue]]:
    """(summary, "", errors left in the rewritten model) or (None, why rewrite-unpool refuses, [])."""
    try:
        from segnet.export.rewrite_unpool import rewrite_model
    except SegnetError as exc:  # onnx-graphsurgeon missing
        return None, str(exc), []
    try:
        rewritten, summary = rewrite_model(model, source="")
    except SegnetError as exc:
        text = str(exc)
        return None, text[2:] if text.startswith(": ") else text, []
    remaining = [i for i in _Linter(rewritten, families).run() if i.severity == ERROR]
    return summary, "", remaining


class _Linter:
    """Walks one model's graph once and collects Issues for the requested TensorRT families."""

    def __init__(self, model: Any, families: Sequence[TrtFamily]) -> None:
        self.onnx = require("onnx", "reading ONNX models")
        self.model = model
        self.families = list(families)
        self.names = [f.name for f in families]
        self.issues: list[Issue] = []
        graph = model.graph
        self.constants: dict[str, Any] = {t.name: t for t in graph.initializer}
        self.producers: dict[str, Any] = {}
        self.consumers: dict[str, list[Any]] = {}
        for node in self._nodes():
            for name in node.output:
                self.producers[name] = node
            for name in node.input:
                self.consumers.setdefault(name, []).append(node)
            if node.op_type == "Constant" and node.domain in ("", "ai.onnx"):
                for attr in node.attribute:
                    if attr.name == "value":
                        self.constants[node.output[0]] = attr.t
        self.graph_outputs = {o.name for o in graph.output}

    def add(self, severity: str, versions: Iterable[str], node: Any, message: str, fix: str = "") -> None:
        versions = [v for v in self.names if v in set(versions)]
        if versions:
            self.issues.append(Issue(severity, versions, node.name or f"<{node.op_type}>", node.op_type, message, fix))

    def _nodes(self, graph: Any = None) -> Iterator[Any]:
        """Every node, including those inside If/Loop/Scan bodies."""
        for node in (graph or self.model.graph).node:
            yield node
            for attr in node.attribute:
                if attr.type == self.onnx.AttributeProto.GRAPH:
                    yield from self._nodes(attr.g)
                for sub in attr.graphs:
                    yield from self._nodes(sub)

    def run(self) -> list[Issue]:
        self._check_model()
        self._check_types()
        for node in self._nodes():
            self._check_node(node)
        return self.issues

    # --- whole-model checks ---------------------------------------------------------------------------
    def _check_model(self) -> None:
        model_node = self.onnx.helper.make_node("Model", [], [], name="<model>")
        try:
            self.onnx.checker.check_model(self.model)
        except self.onnx.checker.ValidationError as exc:
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            self.add(ERROR, self.names, model_node, f"onnx.checker rejects the model: {first}",
                     "re-export the model; TensorRT's parser rejects invalid graphs")
        opset = default_opset(self.model)
        for fam in self.families:
            if opset < fam.min_opset:
                self.add(ERROR, [fam.name], model_node,
                         f"opset {opset} is below the {fam.min_opset} TensorRT {fam.name} parses",
                         "re-export with --opset 17, or convert: onnx.version_converter.convert_version(m, 17)")
            elif opset > fam.max_opset and opset in fam.late_opsets:
                self.add(WARNING, [fam.name], model_node,
                         f"opset {opset} needs TensorRT {fam.late_opsets[opset]} or newer "
                         f"(earlier {fam.name} releases parse up to {fam.max_opset})",
                         f"re-export with --opset {min(17, fam.max_opset)} to cover every {fam.name} release")
            elif opset > fam.max_opset:
                self.add(ERROR, [fam.name], model_node,
                         f"opset {opset} is newer than TensorRT {fam.name} parses (up to {fam.max_opset})",
                         f"re-export with --opset {min(17, fam.max_opset)} (segnet export --opset 17)")
        for entry in self.model.opset_import:
            if entry.domain not in ("", "ai.onnx"):
                used = [n for n in self._nodes() if n.domain == entry.domain]
                if used:
                    self.add(WARNING, self.names, model_node,
                             f"custom domain {entry.domain!r} is used by {len(used)} node(s); each needs a "
                             "TensorRT plugin of the same name", "register the plugins or remove those nodes")
        for value in self.model.graph.input:
            if value.name in self.constants:
                continue
            dims = value.type.tensor_type.shape.dim if value.type.HasField("tensor_type") else []
            dynamic = [d.dim_param or "?" for d in dims if not d.HasField("dim_value")]
            if dynamic:
                self.add(INFO, self.names, self.onnx.helper.make_node("Input", [], [], name=value.name),
                         f"dynamic dimension(s) {', '.join(dynamic)}: the engine needs an optimization profile",
                         "segnet build with min/opt/max shapes, or re-export with a fixed size")

    def _check_types(self) -> None:
        """Data types TensorRT cannot hold: string and complex (error), double (cast down), INT64 on 8.x."""
        elem = self.onnx.TensorProto
        try:  # types of intermediate tensors too (a Cast to DOUBLE inside the graph)
            graph = self.onnx.shape_inference.infer_shapes(self.model).graph
        except (self.onnx.shape_inference.InferenceError, self.onnx.checker.ValidationError):
            graph = self.model.graph
        tensors: list[tuple[str, int]] = [(t.name, t.data_type) for t in graph.initializer]
        for value in list(graph.input) + list(graph.output) + list(graph.value_info):
            if value.type.HasField("tensor_type"):
                tensors.append((value.name, value.type.tensor_type.elem_type))
        seen: set[tuple[str, int]] = set()
        io_names = {v.name for v in list(graph.input) + list(graph.output)}
        for name, dtype in tensors:
            if (name, dtype) in seen:
                continue
            seen.add((name, dtype))
            where = self.onnx.helper.make_node("Tensor", [], [], name=name)
            where.op_type = "tensor"
            type_name = elem.DataType.Name(dtype)
            if dtype in (elem.STRING, elem.COMPLEX64, elem.COMPLEX128):
                self.add(ERROR, self.names, where, f"tensor type {type_name} is not supported by TensorRT",
                         "keep string/complex processing outside the network")
            elif dtype == elem.DOUBLE:
                self.add(WARNING, self.names, where, "DOUBLE is cast down to FLOAT (clamped to +-FLT_MAX)",
                         "export in float32")
            elif dtype == elem.BFLOAT16:
                self.add(ERROR, [f.name for f in self.families if not f.bf16], where,
                         "BFLOAT16 needs TensorRT 9+", "convert the model to float16/float32")
            elif dtype == elem.INT64 and name in io_names:
                self.add(WARNING, [f.name for f in self.families if not f.int64_native], where,
                         "INT64 network input/output: TensorRT 8.x casts it to INT32 (bind int32 buffers)",
                         "export the class map as uint8 or int32 (e.g. Cast after ArgMax)")
            elif dtype == elem.UINT8 and name not in io_names:
                self.add(WARNING, self.names, where, "UINT8 is only supported as a network input or output",
                         "cast to float/int32 inside the network")

    # --- per-node checks ------------------------------------------------------------------------------
    def _check_node(self, node: Any) -> None:
        if node.domain not in ("", "ai.onnx"):
            return  # counted once per custom domain above
        op = node.op_type
        for fam in self.families:
            if op not in fam.ops and op in fam.late_ops:
                self.add(WARNING, [fam.name], node, f"{op} is parsed from TensorRT {fam.late_ops[op]} on")
        missing = [f.name for f in self.families if op not in f.ops and op not in f.late_ops]
        if op == "MaxUnpool":
            self.add(ERROR, missing, node, "MaxUnpool is not supported by TensorRT's ONNX parser", self._rewrite_fix(node))
        elif missing:
            self.add(ERROR, missing, node, f"operator {op} is not supported by TensorRT's ONNX parser",
                     "replace it with supported operators (ONNX-GraphSurgeon) or provide a plugin")
        check = getattr(self, f"_op_{op}", None)
        if check:
            check(node)
        for index, name in _CONSTANT_INPUTS.get(op, ()):
            if len(node.input) > index and node.input[index] and not self._is_constant(node.input[index]):
                self.add(WARNING, self.names, node, f"input {name!r} ({node.input[index]}) is not a constant; "
                         "TensorRT needs it at build time",
                         "fold constants: onnxslim IN OUT, or polygraphy surgeon sanitize --fold-constants")

    def _attr(self, node: Any, name: str, default: Any = None) -> Any:
        for attr in node.attribute:
            if attr.name == name:
                value = self.onnx.helper.get_attribute_value(attr)
                return value.decode() if isinstance(value, bytes) else value
        return default

    def _is_constant(self, name: str) -> bool:
        """An initializer/Constant, or one passed through Q/DQ (TensorRT's form of quantized weights)."""
        if name in self.constants:
            return True
        producer = self.producers.get(name)
        return (producer is not None and producer.op_type in ("QuantizeLinear", "DequantizeLinear")
                and self._is_constant(producer.input[0]))

    def _const_array(self, name: str) -> Any:
        return self.onnx.numpy_helper.to_array(self.constants[name]) if name in self.constants else None

    def _rewrite_fix(self, node: Any) -> str:
        """What `segnet rewrite-unpool` will do for this node, found by dry-running it on the model; if it would
        refuse, its reason (which says what to do instead), so that check never advises a fix that refuses."""
        if not hasattr(self, "_plan"):
            self._plan = _dry_run_rewrite(self.model, self.families)
        summary, failure, remaining = self._plan
        if summary is None:
            return f"`segnet rewrite-unpool` cannot fix this model: {failure}"
        label = node.name or f"{node.op_type} -> {node.output[0] if node.output else '?'}"
        forms = [_FORMS[kind] for kind in ("switch", "indices", "scatter")
                 if any(item == label or item.startswith(f"{label} ") or item.endswith(f"<- {label}")
                        for item in getattr(summary, kind))]
        fix = "run `segnet rewrite-unpool IN.onnx OUT.onnx`" + (f": it {' and '.join(forms)}" if forms else "")
        if remaining:
            fix += f"; the rewritten model still fails TensorRT {', '.join(remaining[0].versions)}: {remaining[0].message}"
        return fix

    def _op_MaxPool(self, node: Any) -> None:
        if len(node.output) > 1 and node.output[1] and (node.output[1] in self.consumers
                                                         or node.output[1] in self.graph_outputs):
            users = ", ".join(f"{n.name} [{n.op_type}]" for n in self.consumers.get(node.output[1], []))
            self.add(ERROR, self.names, node, "MaxPool's Indices output is not supported by TensorRT"
                     + (f" (used by {users})" if users else ""), self._rewrite_fix(node))
        dilations = self._attr(node, "dilations") or []
        if any(d != 1 for d in dilations):
            self.add(ERROR, self.names, node, f"MaxPool dilations {list(dilations)} are not supported",
                     "use dilations 1")
        kernel = self._attr(node, "kernel_shape") or []
        if len(kernel) not in (2, 3):
            self.add(ERROR, self.names, node, f"{len(kernel)}D pooling: TensorRT pools in 2D or 3D only", "")

    def _op_ScatterND(self, node: Any) -> None:
        reduction = self._attr(node, "reduction", "none")
        if reduction != "none":
            self.add(ERROR, self.names, node, f"ScatterND reduction={reduction!r} is not supported",
                     "use reduction 'none' (or express the reduction separately)")
        pool = self._pool_feeding(node.input[1]) if len(node.input) > 1 else None
        if pool is not None:
            self.add(WARNING, self.names, node, f"scatters with MaxPool {pool.name}'s indices (the dynamo export "
                     "of max_unpool2d); it parses only once that MaxPool loses its Indices output", self._rewrite_fix(pool))

    def _op_ScatterElements(self, node: Any) -> None:
        reduction = self._attr(node, "reduction", "none")
        if reduction != "none":
            self.add(WARNING, self.names, node, f"ScatterElements reduction={reduction!r}: check that your "
                     "TensorRT release supports it", "use reduction 'none'")

    def _pool_feeding(self, name: str, depth: int = 12) -> Any:
        """The MaxPool whose Indices output reaches `name` through index arithmetic, if any."""
        frontier, seen = [name], set()
        for _ in range(depth):
            nxt: list[str] = []
            for tensor in frontier:
                producer = self.producers.get(tensor)
                if producer is None or tensor in seen:
                    continue
                seen.add(tensor)
                if producer.op_type == "MaxPool" and len(producer.output) > 1 and producer.output[1] == tensor:
                    return producer
                if producer.op_type in _INDEX_OPS:
                    nxt.extend(i for i in producer.input if i)
            frontier = nxt
        return None

    def _op_Resize(self, node: Any) -> None:
        mode = self._attr(node, "mode", "nearest")
        coord = self._attr(node, "coordinate_transformation_mode", "half_pixel")
        if mode not in ("nearest", "linear"):
            self.add(ERROR, self.names, node, f"Resize mode {mode!r} is not supported (nearest, linear only)",
                     "use mode 'linear' or 'nearest'")
        if coord not in _RESIZE_COORD_MODES:
            self.add(ERROR, self.names, node, f"Resize coordinate_transformation_mode {coord!r} is not supported",
                     "use half_pixel, pytorch_half_pixel, asymmetric or align_corners")
        if self._attr(node, "antialias", 0):
            self.add(ERROR, self.names, node, "Resize antialias=1 is not supported", "resize without antialias")
        policy = self._attr(node, "keep_aspect_ratio_policy", "stretch")
        if policy != "stretch":
            self.add(ERROR, self.names, node, f"Resize keep_aspect_ratio_policy {policy!r} is not supported",
                     "use 'stretch' and compute the target size outside")

    def _op_Equal(self, node: Any) -> None:
        for name in node.input:
            dequantize = self.producers.get(name)
            if dequantize is None or dequantize.op_type != "DequantizeLinear":
                continue
            quantize = self.producers.get(dequantize.input[0])
            source = quantize.input[0] if quantize is not None and quantize.op_type == "QuantizeLinear" else None
            if source is None or source in self.constants:
                continue
            self.add(WARNING, self.names, node, f"compares {name}, a quantized copy of {source}: a max-pool switch "
                     "built this way matches almost no position and the decoder loses its values",
                     f"compare {source} itself (`segnet export --int8` does; for other quantizers give "
                     f"{node.name or node.op_type} the Q/DQ pair's input)")

    _op_Greater = _op_Less = _op_GreaterOrEqual = _op_LessOrEqual = _op_Equal

    def _op_QuantizeLinear(self, node: Any) -> None:
        self._check_zero_point(node, 2, "y_zero_point")

    def _op_DequantizeLinear(self, node: Any) -> None:
        self._check_zero_point(node, 2, "x_zero_point")

    def _check_zero_point(self, node: Any, index: int, name: str) -> None:
        fix = ("quantize symmetrically: `segnet export --int8 --target tensorrt` (quantize_static with "
               "ActivationSymmetric/WeightSymmetric, QInt8)")
        if len(node.input) <= index or not node.input[index]:
            return  # no zero point: 0 by definition
        zero = self._const_array(node.input[index])
        if zero is None:
            self.add(WARNING, self.names, node, f"{name} ({node.input[index]}) is not a constant; TensorRT needs "
                     "zero points of 0", fix)
            return
        if zero.dtype.name == "uint8":
            self.add(ERROR, self.names, node, f"{name} is uint8: TensorRT's INT8 is signed and symmetric", fix)
        if zero.size and (zero != 0).any():
            self.add(ERROR, self.names, node, f"{name} has non-zero values (e.g. {zero.ravel()[zero.ravel() != 0][0]})"
                     ": TensorRT needs symmetric quantization (zero point 0)", fix)
