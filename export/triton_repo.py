"""A Triton Inference Server model repository from an exported model: `REPO/NAME/config.pbtxt` and
`REPO/NAME/1/model.onnx` (platform onnxruntime_onnx) or `REPO/NAME/1/model.plan` (tensorrt_plan).

The config is built as Triton's own protobuf message (tritonclient's `model_config_pb2`), written as text
format and parsed back and checked before anything is written (`check_config`): tensors, dims and types
as the model has them, max_batch_size and dynamic batching only where every tensor has a dynamic batch
axis, instance groups, and the segnet spec as parameters (`segnet.spec`, `segnet.artifact`, plus
`segnet.class_names` / `segnet.palette` as plain JSON lists) so a client reads classes and palette from the
server (segnet.triton_spec). The model folder is written complete or not at all, and never over an existing one.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from segnet import atomic, triton_spec
from segnet.artifacts import model_format, sibling, stem
from segnet.errors import SegnetError
from segnet.lazy import require
from segnet.spec import ARTIFACT_KEY, SPEC_KEY, Artifact, ModelSpec, read_sidecar

PLATFORMS = {"onnx": ("onnxruntime_onnx", "model.onnx"), "engine": ("tensorrt_plan", "model.plan")}
KINDS = ("gpu", "cpu")
# numpy dtype -> Triton's DataType name (model_config.proto)
TRITON_TYPES = {"uint8": "TYPE_UINT8", "int8": "TYPE_INT8", "int32": "TYPE_INT32", "int64": "TYPE_INT64",
                "float16": "TYPE_FP16", "float32": "TYPE_FP32", "float64": "TYPE_FP64", "bool": "TYPE_BOOL"}


@dataclass(frozen=True)
class Tensor:
    """A model tensor as Triton sees it: full shape, -1 for a dynamic dimension."""

    name: str
    shape: tuple[int, ...]
    dtype: str  # numpy dtype name


def model_config_pb2() -> Any:
    """Triton's model configuration schema (tritonclient[grpc] ships it)."""
    return require("tritonclient.grpc.model_config_pb2", "Triton model configurations")


def text_format() -> Any:
    return require("google.protobuf.text_format", "Triton model configurations")


def onnx_tensors(path: Path) -> tuple[list[Tensor], list[Tensor], dict[str, str]]:
    """(inputs, outputs, metadata) of an ONNX file, read with onnx (no session)."""
    onnx = require("onnx", "reading the model's tensors")
    try:
        proto = onnx.load(str(path), load_external_data=False)
    except Exception as exc:  # noqa: BLE001 (onnx raises DecodeError and others)
        raise SegnetError(f"{path}: not a readable ONNX file ({exc})") from None
    initializers = {i.name for i in proto.graph.initializer}

    def tensor(value: Any) -> Tensor:
        kind = value.type.tensor_type
        dims = tuple(d.dim_value if d.HasField("dim_value") and d.dim_value > 0 else -1 for d in kind.shape.dim)
        dtype = np.dtype(onnx.helper.tensor_dtype_to_np_dtype(kind.elem_type)).name
        return Tensor(value.name, dims, dtype)

    inputs = [tensor(v) for v in proto.graph.input if v.name not in initializers]
    outputs = [tensor(v) for v in proto.graph.output]
    return inputs, outputs, {p.key: p.value for p in proto.metadata_props}


def model_description(model: Path, onnx_source: Path | None = None) -> tuple[ModelSpec, Artifact, list[Tensor],
                                                                              list[Tensor]]:
    """The spec, artifact and tensors of a segnet model file. An engine's tensors are read from the ONNX it
    was built from (`onnx_source`, default the `<stem>.onnx` beside it): TensorRT is not needed here."""
    fmt = model_format(model)
    if fmt not in PLATFORMS:
        raise SegnetError(f"{model}: expected an .onnx or .engine model file")
    if not model.is_file():
        raise SegnetError(f"{model}: model file not found")
    found = read_sidecar(model)
    spec, artifact = found if found else (None, None)
    source = model if fmt == "onnx" else (onnx_source or sibling(model, "onnx"))
    if not source.is_file():
        raise SegnetError(f"{model}: its tensors come from the ONNX it was built from, and {source} is not there; "
                          "pass --onnx FILE")
    inputs, outputs, metadata = onnx_tensors(source)
    if fmt == "onnx" and (spec is None or artifact is None) and SPEC_KEY in metadata:
        spec = ModelSpec.from_json(metadata[SPEC_KEY])
        artifact = Artifact.from_dict(json.loads(metadata[ARTIFACT_KEY])) if ARTIFACT_KEY in metadata else artifact
    if spec is None or artifact is None:
        raise SegnetError(f"{model}: no segnet spec (sidecar JSON or ONNX metadata): export it with `segnet export`")
    return spec, artifact, inputs, outputs


def batchable(inputs: Sequence[Tensor], outputs: Sequence[Tensor]) -> bool:
    """Triton batches a model (max_batch_size > 0) only when every tensor's first dimension is the batch."""
    return all(len(t.shape) >= 2 and t.shape[0] == -1 for t in (*inputs, *outputs))


def build_config(name: str, fmt: str, spec: ModelSpec, artifact: Artifact, inputs: Sequence[Tensor],
                 outputs: Sequence[Tensor], max_batch_size: int = 8, preferred: Sequence[int] | None = None,
                 queue_delay_us: int = 500, kind: str = "gpu", instances: int = 1) -> Any:
    """The ModelConfig message. max_batch_size is used only for models with a dynamic batch axis (else 0:
    Triton passes the full shape and does not batch)."""
    mc = model_config_pb2()
    if kind not in KINDS:
        raise SegnetError(f"instance kind must be gpu or cpu, got {kind!r}")
    if fmt == "engine" and kind != "gpu":
        raise SegnetError("a TensorRT plan runs on the GPU only: drop --kind cpu")
    if instances < 1:
        raise SegnetError(f"--instances must be at least 1, got {instances}")
    batch = batchable(inputs, outputs)
    config = mc.ModelConfig(name=name, platform=PLATFORMS[fmt][0], max_batch_size=max_batch_size if batch else 0)
    for tensors, field in ((inputs, config.input), (outputs, config.output)):
        for tensor in tensors:
            if tensor.dtype not in TRITON_TYPES:
                raise SegnetError(f"tensor {tensor.name!r} has type {tensor.dtype}, which Triton has no type for")
            entry = field.add(name=tensor.name, data_type=mc.DataType.Value(TRITON_TYPES[tensor.dtype]))
            entry.dims.extend(tensor.shape[1:] if batch else tensor.shape)
    if batch:
        sizes = sorted(set(preferred)) if preferred else [s for s in (2, 4, 8) if s <= max_batch_size]
        config.dynamic_batching.preferred_batch_size.extend(sizes)
        config.dynamic_batching.max_queue_delay_microseconds = int(queue_delay_us)
    group = config.instance_group.add(count=int(instances))
    group.kind = mc.ModelInstanceGroup.KIND_GPU if kind == "gpu" else mc.ModelInstanceGroup.KIND_CPU
    set_parameters(config, spec, artifact)
    return config


def set_parameters(config: Any, spec: ModelSpec, artifact: Artifact) -> None:
    """The segnet spec as config parameters (segnet.triton_spec)."""
    for key, value in triton_spec.parameters(spec, artifact).items():
        config.parameters[key].string_value = value


def config_text(config: Any) -> str:
    return str(text_format().MessageToString(config))


def check_config(text: str, where: str, inputs: Sequence[Tensor] | None = None,
                 outputs: Sequence[Tensor] | None = None) -> Any:
    """Parse config.pbtxt text with Triton's schema and check the rules Triton applies at load time (and that
    its tensors are the model's, when given); returns the message, SegnetError naming `where` otherwise."""
    mc = model_config_pb2()
    config = mc.ModelConfig()
    try:
        text_format().Parse(text, config)
    except Exception as exc:  # noqa: BLE001 (text_format.ParseError and decode errors)
        raise SegnetError(f"{where}: not a valid Triton model configuration ({exc})") from None
    problems = config_problems(config, inputs, outputs)
    if problems:
        raise SegnetError(f"{where}: {'; '.join(problems)}")
    return config


def config_problems(config: Any, inputs: Sequence[Tensor] | None, outputs: Sequence[Tensor] | None) -> list[str]:
    """What Triton would refuse in a parsed ModelConfig (and where it disagrees with the model's tensors)."""
    mc = model_config_pb2()
    problems = []
    if not config.name:
        problems.append("no model name")
    if config.platform not in {p for p, _ in PLATFORMS.values()}:
        problems.append(f"platform {config.platform!r} is not one segnet writes")
    if config.max_batch_size < 0:
        problems.append(f"max_batch_size {config.max_batch_size} is negative")
    if config.HasField("dynamic_batching"):
        if config.max_batch_size == 0:
            problems.append("dynamic_batching needs max_batch_size > 0")
        bad = [s for s in config.dynamic_batching.preferred_batch_size if not 0 < s <= config.max_batch_size]
        if bad:
            problems.append(f"preferred_batch_size {bad} outside 1..max_batch_size {config.max_batch_size}")
    if not config.input or not config.output:
        problems.append("a model needs inputs and outputs")
    for entry in (*config.input, *config.output):
        if entry.data_type == mc.TYPE_INVALID:
            problems.append(f"tensor {entry.name!r} has no data_type")
        if not entry.dims or any(d == 0 or d < -1 for d in entry.dims):
            problems.append(f"tensor {entry.name!r} has dims {list(entry.dims)}: each must be -1 or positive")
    for group in config.instance_group:
        if config.platform == "tensorrt_plan" and group.kind != mc.ModelInstanceGroup.KIND_GPU:
            problems.append("tensorrt_plan instances must be KIND_GPU")
        if group.count < 1:
            problems.append(f"instance_group count {group.count} must be at least 1")
    for key in triton_spec.PARAMETER_KEYS:
        if key not in config.parameters:
            problems.append(f"parameter {key!r} missing")
    if SPEC_KEY in config.parameters:
        try:
            ModelSpec.from_json(config.parameters[SPEC_KEY].string_value)
        except (ValueError, SegnetError, TypeError) as exc:
            problems.append(f"parameter {SPEC_KEY!r} is not a segnet spec ({exc})")
    batch = config.max_batch_size > 0
    for tensors, entries, what in ((inputs, config.input, "input"), (outputs, config.output, "output")):
        if tensors is None:
            continue
        want = {t.name: (list(t.shape[1:] if batch else t.shape), TRITON_TYPES.get(t.dtype)) for t in tensors}
        have = {e.name: (list(e.dims), mc.DataType.Name(e.data_type)) for e in entries}
        if want != have:
            problems.append(f"{what}s {have} differ from the model's {want}")
    return problems


def write_repository(model: str | Path, repo: str | Path, name: str | None = None, onnx_source: Path | None = None,
                     **options: Any) -> Path:
    """Write `repo/name/` (config.pbtxt and version 1 of the model) for a segnet .onnx or .engine; returns
    the model folder. options: max_batch_size, preferred, queue_delay_us, kind, instances (build_config)."""
    model = Path(model)
    spec, artifact, inputs, outputs = model_description(model, onnx_source)
    name = name or stem(model)
    if not name or "/" in name or name.startswith("."):
        raise SegnetError(f"model name {name!r}: use letters, digits, '-', '_' or '.' (not starting with '.')")
    fmt = str(model_format(model))
    text = config_text(build_config(name, fmt, spec, artifact, inputs, outputs, **options))
    folder = Path(repo) / name
    check_config(text, str(folder / "config.pbtxt"), inputs, outputs)
    try:
        with atomic.new_folder(folder) as tmp:
            (tmp / "1").mkdir()
            shutil.copyfile(model, tmp / "1" / PLATFORMS[fmt][1])
            (tmp / "config.pbtxt").write_text(text, encoding="utf-8")
    except FileExistsError:
        raise SegnetError(f"{folder} exists: choose another --name, or remove that model folder first") from None
    return folder
