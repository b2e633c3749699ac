"""Build a TensorRT engine (plan) from an ONNX model, on TensorRT 8.6 to 11.x (torch-free).

`build_engine(onnx, engine, options)` parses the ONNX with TensorRT's parser, configures the builder
(workspace, precision per version, DLA, optimisation profile, timing cache, optimisation level), writes
the plan atomically and records it in the model's sidecar JSON with the TensorRT version and GPU it was
built for. Version differences are feature-detected (see `plan_precision`).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import sys
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from segnet import artifacts, atomic
from segnet.errors import MissingDependencyError, SegnetError
from segnet.lazy import require
from segnet.nvidia import cuda_utils, trt_utils
from segnet.nvidia.build_options import BuildOptions
from segnet.nvidia.trt_utils import trt
from segnet.spec import (
    ARTIFACT_KEY,
    SPEC_KEY,
    Artifact,
    FramePath,
    ModelSpec,
    read_sidecar,
    write_sidecar,
)


@dataclass
class OnnxFacts:
    """What the builder needs from the ONNX file before TensorRT sees it."""

    spec: ModelSpec | None
    artifact: Artifact | None
    has_qdq: bool
    node_names: list[str] = field(default_factory=list)  # by node index, for parser errors on TensorRT 8.x
    sha256: str = ""


@dataclass
class PrecisionPlan:
    """Network creation flags, builder flags (names of enum members) and whether to convert to FP16."""

    network_flags: list[str]
    builder_flags: list[str]
    convert_fp16: bool


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def read_onnx_facts(onnx_path: Path) -> OnnxFacts:
    """Spec and artifact from the ONNX metadata (else the sidecar), Q/DQ presence and node names."""
    onnx = require("onnx", "reading the ONNX model")
    try:
        model = onnx.load(str(onnx_path), load_external_data=False)
    except Exception as exc:  # noqa: BLE001 - onnx raises assorted errors for bad files
        raise SegnetError(f"{onnx_path}: not a readable ONNX model ({exc})") from None
    meta = {p.key: p.value for p in model.metadata_props}
    spec = ModelSpec.from_json(meta[SPEC_KEY]) if SPEC_KEY in meta else None
    artifact = Artifact.from_dict(json.loads(meta[ARTIFACT_KEY])) if ARTIFACT_KEY in meta else None
    if spec is None:
        side = read_sidecar(onnx_path)
        if side is not None:
            spec, artifact = side[0], artifact or side[1]
    ops = [node.op_type for node in model.graph.node]
    return OnnxFacts(spec=spec, artifact=artifact, has_qdq="QuantizeLinear" in ops,
                     node_names=[node.name or f"{node.op_type}#{i}" for i, node in enumerate(model.graph.node)],
                     sha256=file_sha256(onnx_path))


def plan_precision(options: BuildOptions, has_qdq: bool) -> PrecisionPlan:
    """Pick network and builder flags for this TensorRT version, by feature detection:
    - 8.x: EXPLICIT_BATCH network; BuilderFlag.FP16 / INT8 (INT8 from Q/DQ, no calibrator);
    - 10.x: a Q/DQ model builds STRONGLY_TYPED (precision from the graph) unless --fp16 also asks for
      FP16 in the unquantized layers, then weakly typed with INT8 + FP16 flags; else FP16 flag;
    - 11.x (no EXPLICIT_BATCH, no BuilderFlag.FP16/INT8, always strongly typed): --fp16 converts the ONNX
      to FP16 first, --int8 relies on the Q/DQ nodes."""
    if options.int8 and not has_qdq:
        raise SegnetError("--int8 needs a model with Q/DQ (QuantizeLinear) nodes, which this ONNX lacks: "
                          "export one with `segnet export CKPT --int8 --calib-data ROOT` and build that")
    creation = trt.NetworkDefinitionCreationFlag
    flag_names = set(getattr(trt.BuilderFlag, "__members__", {}))
    weak_precision = "FP16" in flag_names and "INT8" in flag_names
    network_flags: list[str] = []
    builder_flags: list[str] = []
    convert_fp16 = False
    if hasattr(creation, "EXPLICIT_BATCH") and trt_utils.major() < 10:
        network_flags.append("EXPLICIT_BATCH")
    if weak_precision:
        if has_qdq and not options.fp16 and hasattr(creation, "STRONGLY_TYPED"):
            network_flags.append("STRONGLY_TYPED")
        else:
            builder_flags += (["INT8"] if has_qdq else []) + (["FP16"] if options.fp16 else [])
    else:
        convert_fp16 = options.fp16
    if options.dla_core is not None and options.gpu_fallback:
        builder_flags.append("GPU_FALLBACK")
    return PrecisionPlan(network_flags, builder_flags, convert_fp16)


def pin_switch_layers(network: trt.INetworkDefinition, plan: PrecisionPlan) -> list[str]:
    """In a weakly typed FP16 build, keep the layers that compute max-pool switches in FP32 and return their
    names. TensorRT picks each layer's precision by speed there, so the Max of a window could run in FP16
    while its Equal compares FP32 phases with that rounded maximum: no phase matches and the decoder loses
    its values. Pinned are every comparison (an ElementWise layer with a BOOL output) and the Slice and
    ElementWise layers feeding it, up to the activation being pooled; all of them then see one rounding."""
    if "STRONGLY_TYPED" in plan.network_flags or "FP16" not in plan.builder_flags:
        return []
    boolean = trt.DataType.BOOL
    layers = [network.get_layer(i) for i in range(network.num_layers)]
    producers = {layer.get_output(j).name: layer for layer in layers for j in range(layer.num_outputs)}

    def numeric(layer: trt.ILayer) -> bool:
        return layer.type in (trt.LayerType.SLICE, trt.LayerType.ELEMENTWISE) and all(
            layer.get_output(j).dtype != boolean for j in range(layer.num_outputs))

    stack = [layer for layer in layers if layer.type == trt.LayerType.ELEMENTWISE and not numeric(layer)
             and any(layer.get_input(k).dtype != boolean for k in range(layer.num_inputs))]
    pinned: dict[str, trt.ILayer] = {}
    while stack:
        layer = stack.pop()
        if layer.name in pinned:
            continue
        pinned[layer.name] = layer
        feeding = (producers.get(layer.get_input(k).name) for k in range(layer.num_inputs))
        stack.extend(p for p in feeding if p is not None and numeric(p))
    for layer in pinned.values():
        layer.precision = trt.DataType.FLOAT
        for j in range(layer.num_outputs):
            if layer.get_output(j).dtype != boolean:
                layer.set_output_type(j, trt.DataType.FLOAT)
    return sorted(pinned)


def network_flag_bits(names: list[str]) -> int:
    """OR of `1 << int(flag)` for the named NetworkDefinitionCreationFlag members (values differ per version)."""
    bits = 0
    for name in names:
        bits |= 1 << int(getattr(trt.NetworkDefinitionCreationFlag, name))
    return bits


def describe_parser_error(error: Any, node_names: list[str]) -> str:
    """One parser error as text with the ONNX node's name and operator (10.x API, else the node index)."""
    desc = str(error.desc())
    name = error.node_name() if hasattr(error, "node_name") else ""
    op = error.node_operator() if hasattr(error, "node_operator") else ""
    index = int(error.node())
    if not name and 0 <= index < len(node_names):
        name = node_names[index]
    where = f"node {name!r}" if name else (f"node #{index}" if index >= 0 else "model")
    return f"{where}{f' ({op})' if op else ''}: {desc}"


def create_builder(logger: Any) -> trt.Builder:
    """trt.Builder, turning TensorRT's CUDA-initialisation failure into one clear line."""
    try:
        builder = trt.Builder(logger)
    except (TypeError, RuntimeError) as exc:
        raise MissingDependencyError(
            f"TensorRT {trt_utils.version()} could not start: no usable NVIDIA GPU/driver here ({exc}; "
            f"{logger.tail() or 'CUDA initialization failure'}); run `segnet doctor`") from None
    if builder is None:
        raise MissingDependencyError("TensorRT could not create a builder: no usable NVIDIA GPU/driver here")
    return builder


def configure_inputs(builder: trt.Builder, network: trt.INetworkDefinition, config: trt.IBuilderConfig,
                     options: BuildOptions, frame: FramePath | None = None) -> int | None:
    """Add an optimisation profile for a dynamic batch and, for a frame-path model with a dynamic frame size,
    for the frame's height and width (min/max from the export, opt from --frame-opt or the max); return the
    engine's fixed batch (None if dynamic)."""
    profile = None
    batch: int | None = None
    for i in range(network.num_inputs):
        tensor = network.get_input(i)
        shape = trt_utils.shape_of(tensor.shape)
        if frame is not None and tensor.name == "alpha":
            continue  # one overlay weight per class: fixed
        batches = _batch_range(tensor.name, shape, options)
        sizes = _frame_range(tensor.name, shape, options, frame)
        if batches is None and sizes is None:
            batch = shape[0] if shape else 1
            continue
        if batches is None:
            batch = shape[0]
        profile = profile or builder.create_optimization_profile()
        counts = batches or (shape[0],) * 3
        hw = sizes or [(shape[1], shape[2])] * 3
        profile.set_shape(tensor.name, *(trt_utils.dims_of((counts[k], *hw[k], *shape[3:])) for k in range(3)))
    if options.frame_opt is not None and frame is None:
        raise SegnetError("--frame-opt applies to models exported with a dynamic frame size (segnet export "
                          "--frame-size dynamic)")
    if profile is not None:
        config.add_optimization_profile(profile)
    return batch if options.dynamic_batch is None else None


def _batch_range(name: str, shape: tuple[int, ...], options: BuildOptions) -> tuple[int, int, int] | None:
    """(min, opt, max) batch of a dynamic-batch input, None for a fixed batch (SegnetError when the options
    do not match the model)."""
    if shape and shape[0] < 0:
        if options.dynamic_batch is None:
            raise SegnetError(f"input {name!r} has a dynamic batch {shape}: pass --dynamic-batch MIN "
                              "OPT MAX (e.g. 1 4 8)")
        return options.dynamic_batch
    if options.dynamic_batch is not None:
        raise SegnetError(f"--dynamic-batch given but input {name!r} has a fixed batch of "
                          f"{shape[0] if shape else 1}: export with `segnet export --dynamic-batch`")
    return None


def _frame_range(name: str, shape: tuple[int, ...], options: BuildOptions,
                 frame: FramePath | None) -> list[tuple[int, int]] | None:
    """[min, opt, max] (height, width) of a dynamic frame input, None when height and width are fixed."""
    if not any(d < 0 for d in shape[1:]):
        return None
    if frame is None or frame.size is not None or frame.min_size is None or frame.max_size is None:
        raise SegnetError(f"input {name!r} has dynamic height/width {shape}: export with a fixed --imgsz H W "
                          "(only the batch dimension may be dynamic), or with the frame path and a frame size "
                          "range (segnet export --frame-size dynamic --frame-min H W --frame-max H W)")
    lo, hi = frame.min_size, frame.max_size
    opt = options.frame_opt or hi
    if not (lo[0] <= opt[0] <= hi[0] and lo[1] <= opt[1] <= hi[1]):
        raise SegnetError(f"--frame-opt {opt[0]} {opt[1]} lies outside the model's frame sizes "
                          f"{lo[0]}x{lo[1]} to {hi[0]}x{hi[1]}")
    return [lo, opt, hi]


def configure_dla(builder: trt.Builder, config: trt.IBuilderConfig, options: BuildOptions) -> None:
    if options.dla_core is None:
        return
    cores = int(builder.num_DLA_cores)
    if cores == 0:
        raise SegnetError("--dla: this device has no DLA cores (DLA exists on Jetson AGX/NX Orin and Xavier; "
                          "TensorRT 11.0-11.3 has no DLA support); build without --dla")
    if options.dla_core >= cores:
        raise SegnetError(f"--dla {options.dla_core}: this device has {cores} DLA core(s), 0..{cores - 1}")
    config.default_device_type = trt.DeviceType.DLA
    config.DLA_core = options.dla_core


def configure(builder: trt.Builder, network: trt.INetworkDefinition, options: BuildOptions, plan: PrecisionPlan,
              log: Callable[[str], None], frame: FramePath | None = None) -> tuple[trt.IBuilderConfig, int | None]:
    """The builder config for `options`; returns it with the engine's fixed batch (None if dynamic)."""
    config = builder.create_builder_config()
    config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, options.workspace_bytes)
    for name in plan.builder_flags:
        config.set_flag(getattr(trt.BuilderFlag, name))
    if options.opt_level is not None:
        if hasattr(config, "builder_optimization_level"):
            config.builder_optimization_level = options.opt_level
        else:
            log(f"note: TensorRT {trt_utils.version()} has no builder optimisation level; --opt-level ignored")
    configure_dla(builder, config, options)
    batch = configure_inputs(builder, network, config, options, frame)
    if options.timing_cache is not None:
        data = options.timing_cache.read_bytes() if options.timing_cache.is_file() else b""
        cache = config.create_timing_cache(data)
        config.set_timing_cache(cache, False)
    return config, batch


@contextlib.contextmanager
def fp16_model(onnx_path: Path, convert: Callable[[Path, Path], Path] | None) -> Iterator[Path]:
    """The ONNX to parse: `onnx_path`, or `convert`'s FP16 version of it in a temporary folder (TensorRT 11)."""
    if convert is None:
        yield onnx_path
        return
    with tempfile.TemporaryDirectory(prefix="segnet-fp16-") as tmp:
        out = artifacts.artifact_path(tmp, artifacts.stem(onnx_path), "onnx-fp16")
        convert(onnx_path, out)
        yield out


def gpu_details() -> dict[str, Any]:
    """GPU facts for the sidecar (empty values when cuda-python is missing)."""
    try:
        info = cuda_utils.device_info(0)
    except MissingDependencyError:
        return {"gpu_name": None, "compute_capability": None}
    return {"gpu_name": info.name, "compute_capability": info.compute_capability,
            "gpu_integrated": info.integrated}


def engine_artifact(engine_path: Path, network: trt.INetworkDefinition, facts: OnnxFacts, options: BuildOptions,
                    plan: PrecisionPlan, batch: int | None, onnx_path: Path) -> Artifact:
    """The sidecar entry for the engine: tensors from the parsed network, facts from the ONNX artifact."""
    base = facts.artifact or Artifact(file=onnx_path.name, format="onnx")
    inputs = [network.get_input(i) for i in range(network.num_inputs)]
    outputs = [network.get_output(i).name for i in range(network.num_outputs)]
    precision = "int8" if facts.has_qdq else options.precision
    details = {"tensorrt_version": trt_utils.version(), **gpu_details(),
               "build_options": options.to_dict(), "network_flags": plan.network_flags,
               "builder_flags": plan.builder_flags, "fp16_converted": plan.convert_fp16,
               "onnx_file": onnx_path.name, "onnx_sha256": facts.sha256}
    return Artifact(file=engine_path.name, format="engine", precision=precision,
                    input_name=inputs[0].name if inputs else base.input_name, input_layout=base.input_layout,
                    input_dtype=base.input_dtype, embedded_preprocess=base.embedded_preprocess,
                    output_names=outputs or base.output_names, batch=batch, details=details, frame=base.frame)


def default_engine_path(onnx_path: Path, options: BuildOptions) -> Path:
    """The engine of `options.precision` beside the ONNX, of its stem: model.onnx -> model.engine,
    model.fp16.engine, model.int8.engine (lite_w0.25.onnx -> lite_w0.25.engine)."""
    return artifacts.sibling(onnx_path, artifacts.kind_of("engine", options.precision))


def build_engine(onnx_path: str | Path, engine_path: str | Path | None = None,
                 options: BuildOptions | None = None, log: Callable[[str], None] | None = None,
                 convert_fp16: Callable[[Path, Path], Path] | None = None) -> Path:
    """Build `onnx_path` into a TensorRT plan at `engine_path` (written atomically) and record it in the
    sidecar JSON. `convert_fp16(onnx, out)` writes at `out` the FP16 ONNX that TensorRT 11 needs for --fp16
    (segnet.export.tensorrt_build passes segnet.export.fp16's). Raises MissingDependencyError without
    TensorRT or a GPU, SegnetError for bad models."""
    log = log or (lambda msg: print(msg, file=sys.stderr))
    onnx_path = Path(onnx_path)
    options = options or BuildOptions()
    if not onnx_path.is_file():
        raise SegnetError(f"{onnx_path}: ONNX model not found")
    engine_path = Path(engine_path) if engine_path else default_engine_path(onnx_path, options)
    trt_utils.import_tensorrt("building TensorRT engines")
    facts = read_onnx_facts(onnx_path)
    plan = plan_precision(options, facts.has_qdq)
    if plan.convert_fp16 and convert_fp16 is None:
        raise SegnetError(f"{onnx_path}: TensorRT {trt_utils.version()} takes FP16 from the ONNX itself: build "
                          "it with `segnet build --fp16` (which converts it), or pass an FP16 ONNX "
                          "(`segnet export --fp16`) without --fp16")
    log_file = (options.log_file or artifacts.stem_path(engine_path, artifacts.BUILD_LOG_SUFFIX)) \
        if options.verbose else None
    engine_path.parent.mkdir(parents=True, exist_ok=True)
    logger = trt_utils.make_logger(log_file=log_file)
    try:
        return _build(logger, onnx_path, engine_path, options, facts, plan, log,
                      convert_fp16 if plan.convert_fp16 else None)
    finally:
        logger.close()


def _build(logger: Any, onnx_path: Path, engine_path: Path, options: BuildOptions,
           facts: OnnxFacts, plan: PrecisionPlan, log: Callable[[str], None],
           convert_fp16: Callable[[Path, Path], Path] | None) -> Path:
    builder = create_builder(logger)
    trt.init_libnvinfer_plugins(logger, "")
    network = builder.create_network(network_flag_bits(plan.network_flags))
    parser = trt.OnnxParser(network, logger)
    with fp16_model(onnx_path, convert_fp16) as model_file:
        if not parser.parse_from_file(str(model_file)):
            errors = [describe_parser_error(parser.get_error(i), facts.node_names) for i in range(parser.num_errors)]
            raise SegnetError(f"{onnx_path}: TensorRT {trt_utils.version()} cannot parse it: "
                              f"{'; '.join(errors) or logger.tail()}. Run `segnet check {onnx_path}` for fixes")
    pinned = pin_switch_layers(network, plan)
    frame = facts.artifact.frame_path if facts.artifact is not None else None
    config, batch = configure(builder, network, options, plan, log, frame)
    if pinned:
        config.set_flag(trt.BuilderFlag.PREFER_PRECISION_CONSTRAINTS)
        log(f"keeping the {len(pinned)} layers of the max-pool switches in FP32 (TensorRT would pick each "
            "layer's precision, and a switch compared with a differently rounded maximum matches nothing)")
    log(f"building {engine_path.name} with TensorRT {trt_utils.version()} ({options.precision}); "
        "this takes a while")
    serialized = builder.build_serialized_network(network, config)
    if serialized is None:
        raise SegnetError(f"{onnx_path}: TensorRT could not build an engine: {logger.tail() or 'no details'}"
                          " (try --verbose, a larger --workspace, or without --dla/--fp16)")
    atomic.write_bytes(engine_path, bytes(memoryview(serialized)))
    if options.timing_cache is not None:
        atomic.write_bytes(options.timing_cache, bytes(memoryview(config.get_timing_cache().serialize())))
    if facts.spec is not None:
        artifact = engine_artifact(engine_path, network, facts, options, plan, batch, onnx_path)
        artifact.details["fp32_switch_layers"] = len(pinned)
        write_sidecar(engine_path, facts.spec, artifact)
    else:
        log(f"note: {onnx_path} carries no segnet spec: no sidecar JSON written for {engine_path.name}")
    return engine_path
