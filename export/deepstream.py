"""DeepStream files for a segnet model: the probabilities model nvinfer needs, its nvinfer config, labels
and a deepstream-app config, all named after the model's stem in one folder.

nvinfer (network-type=2, semantic segmentation) feeds the network `net-scale-factor * (pixel - offsets)`
in NCHW, in `model-color-format` order, and then runs its own arg-max on the CPU over the output, marking
a pixel with the winning class only where that class's value exceeds `segmentation-threshold` (else -1).
So the model for it (`<stem>.ds.onnx`) is the exported network with:
- its input as nvinfer gives it. nvinfer has one scale factor but the spec has a std per channel: with
  equal stds net-scale-factor is 1/(255 std) exactly; otherwise net-scale-factor is 1/255 and a per-channel
  Mul by 1/std (a Conv-free elementwise op TensorRT fuses) is put in front of the network, so the result
  is exactly (pixel/255 - mean)/std in both cases. offsets are 255 * mean per channel.
- softmax probabilities out (NCHW, "probs"; binary models: [1 - sigmoid, sigmoid]), whose arg-max is the
  class map and whose winning value is above 1/classes, so segmentation-threshold 0 keeps every pixel.
The configs are checked against nvinfer's keys and value rules (segnet.export.deepstream_rules).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from segnet import atomic, preprocess
from segnet.artifacts import stem
from segnet.errors import SegnetError
from segnet.export import deepstream_rules
from segnet.lazy import require
from segnet.spec import ARTIFACT_KEY, SPEC_KEY, Artifact, ModelSpec, read_sidecar

NETWORK_MODES = {"fp32": 0, "int8": 1, "fp16": 2}  # nvinfer's network-mode values
SINKS = ("file", "display", "fake")
COLOR_FORMATS = {"RGB": 0, "BGR": 1, "GRAY": 2}  # nvinfer's model-color-format values
PROBS = "probs"
METADATA_KEY = "segnet.deepstream"


def nvinfer_normalisation(spec: ModelSpec) -> tuple[float, list[float], np.ndarray | None]:
    """(net-scale-factor, offsets, per-channel factor for the graph or None) such that nvinfer's
    scale * (pixel - offset), times the factor, is segnet.preprocess's pixel * scale_c + shift_c."""
    scale, shift = (v.astype(np.float64) for v in preprocess.normalization(spec))
    offsets = [round(float(o), 6) for o in -shift / scale]
    if np.allclose(scale, scale[0], rtol=1e-9, atol=0):
        return float(scale[0]), offsets, None
    pixel_range = 1.0 / 255.0  # nvinfer's single factor takes pixels to [0, 1]; the rest goes into the graph
    return pixel_range, offsets, (scale / pixel_range).astype(np.float32)


def color_format(spec: ModelSpec) -> int:
    return COLOR_FORMATS["GRAY"] if spec.in_channels == 1 else COLOR_FORMATS[spec.color_order]


def _model(onnx_path: Path) -> tuple[Any, ModelSpec, Artifact]:
    onnx = require("onnx", "the DeepStream model")
    try:
        proto = onnx.load(str(onnx_path))
    except Exception as exc:  # noqa: BLE001 (onnx raises DecodeError and others)
        raise SegnetError(f"{onnx_path}: not a readable ONNX file ({exc})") from None
    props = {p.key: p.value for p in proto.metadata_props}
    found = read_sidecar(onnx_path)
    if found and found[1] is not None:
        spec, artifact = found[0], found[1]
    elif SPEC_KEY in props and ARTIFACT_KEY in props:
        spec, artifact = ModelSpec.from_json(props[SPEC_KEY]), Artifact.from_dict(json.loads(props[ARTIFACT_KEY]))
    else:
        raise SegnetError(f"{onnx_path}: no segnet spec; export it with `segnet export`")
    if artifact.frame or artifact.embedded_preprocess or "logits" not in artifact.output_names:
        raise SegnetError(f"{onnx_path}: nvinfer feeds normalised NCHW and needs the per-class scores: export "
                          "the plain network (no --embed-preprocess, --frame-size or --argmax without --keep-logits)")
    return proto, spec, artifact


def probabilities_model(onnx_path: Path, out: Path) -> tuple[Path, dict[str, Any]]:
    """Write `out`, the DeepStream variant of `onnx_path` (see the module docstring); returns it and the
    nvinfer facts (scale, offsets, input dims, classes)."""
    onnx = require("onnx", "the DeepStream model")
    helper, numpy_helper, TP = onnx.helper, onnx.numpy_helper, onnx.TensorProto
    proto, spec, artifact = _model(onnx_path)
    graph = proto.graph
    scale, offsets, factor = nvinfer_normalisation(spec)
    input_name = artifact.input_name
    if factor is not None:  # per-channel std: nvinfer's single scale, then this factor per channel
        scaled = "segnet_ds/input_per_channel"
        for node in graph.node:
            node.input[:] = [scaled if name == input_name else name for name in node.input]
        graph.initializer.append(numpy_helper.from_array(factor.reshape(1, -1, 1, 1), "segnet_ds/inv_std"))
        graph.node.insert(0, helper.make_node("Mul", [input_name, "segnet_ds/inv_std"], [scaled],
                                              name="segnet_ds/per_channel_std"))
    logits = next(o for o in graph.output if o.name == "logits")
    dims = [d.dim_value if d.HasField("dim_value") else d.dim_param for d in logits.type.tensor_type.shape.dim]
    if spec.num_classes == 1:
        graph.node.extend([
            helper.make_node("Sigmoid", ["logits"], ["segnet_ds/fg"], name="segnet_ds/sigmoid"),
            helper.make_node("Sub", ["segnet_ds/one", "segnet_ds/fg"], ["segnet_ds/bg"], name="segnet_ds/background"),
            helper.make_node("Concat", ["segnet_ds/bg", "segnet_ds/fg"], [PROBS], axis=1, name="segnet_ds/probs")])
        graph.initializer.append(numpy_helper.from_array(np.ones((1,), np.float32), "segnet_ds/one"))
        dims[1] = 2
    else:
        graph.node.append(helper.make_node("Softmax", ["logits"], [PROBS], axis=1, name="segnet_ds/softmax"))
    del graph.output[:]
    graph.output.append(helper.make_tensor_value_info(PROBS, TP.FLOAT, dims))
    _prune(graph)
    channels, height, width = spec.in_channels, *spec.input_size
    shape = [d.dim_value for d in graph.input[0].type.tensor_type.shape.dim][1:]
    if all(shape):
        channels, height, width = shape
    facts = {"net_scale_factor": scale, "offsets": offsets, "std_in_graph": factor is not None,
             "model_color_format": color_format(spec), "infer_dims": [channels, height, width],
             "classes": spec.num_labels, "batch": artifact.batch, "source": onnx_path.name}
    keep = [p for p in proto.metadata_props if p.key not in (SPEC_KEY, ARTIFACT_KEY, METADATA_KEY)]
    del proto.metadata_props[:]
    proto.metadata_props.extend(keep)  # no segnet.spec: the input is nvinfer's, not the spec's normalisation
    entry = proto.metadata_props.add()
    entry.key, entry.value = METADATA_KEY, json.dumps({"spec": spec.to_dict(), "nvinfer": facts}, sort_keys=True)
    onnx.checker.check_model(proto)
    atomic.write_bytes(out, proto.SerializeToString())
    return out, facts


def _prune(graph: Any) -> None:
    """Drop the nodes and initializers no graph output depends on (e.g. an ArgMax "labels" branch)."""
    needed = {o.name for o in graph.output}
    keep = []
    for node in reversed(graph.node):
        if any(name in needed for name in node.output):
            keep.append(node)
            needed.update(name for name in node.input if name)
    kept = list(reversed(keep))
    del graph.node[:]
    graph.node.extend(kept)
    inits = [i for i in graph.initializer if i.name in needed]
    del graph.initializer[:]
    graph.initializer.extend(inits)


def check_options(network_mode: str, fixed_batch: int | None, batch_size: int) -> None:
    """SegnetError for a network mode nvinfer lacks or a batch size the model cannot take."""
    if network_mode not in NETWORK_MODES:
        raise SegnetError(f"network mode must be one of {', '.join(NETWORK_MODES)}, got {network_mode!r}")
    if fixed_batch is not None and fixed_batch != batch_size:
        raise SegnetError(f"the model has a fixed batch of {fixed_batch}; export it with --dynamic-batch "
                          f"for nvinfer batch-size {batch_size}")


def nvinfer_config(model_file: str, labels_file: str, facts: dict[str, Any], network_mode: str = "fp32",
                   batch_size: int = 1) -> str:
    """The Gst-nvinfer [property] config text for the probabilities model."""
    check_options(network_mode, facts["batch"], batch_size)
    c, h, w = facts["infer_dims"]
    # nvinfer names the engine it builds <onnx-file>_b<batch>_gpu<id>_<mode>.engine beside the config
    engine = f"{model_file}_b{batch_size}_gpu0_{network_mode}.engine"
    lines = [
        "# nvinfer (Gst-nvinfer) config for semantic segmentation, written by `segnet deploy deepstream`",
        f"# input: net-scale-factor * (pixel - offsets){'; the per-channel 1/std is inside the model' if facts['std_in_graph'] else ''}",
        "[property]",
        "gpu-id=0",
        f"net-scale-factor={facts['net_scale_factor']!r}",
        f"offsets={';'.join(repr(o) for o in facts['offsets'])}",
        f"model-color-format={facts['model_color_format']}",
        f"onnx-file={model_file}",
        f"model-engine-file={engine}",
        f"labelfile-path={labels_file}",
        f"infer-dims={c};{h};{w}",
        f"batch-size={batch_size}",
        f"network-mode={NETWORK_MODES[network_mode]}",
        "network-type=2",
        f"num-detected-classes={facts['classes']}",
        f"output-blob-names={PROBS}",
        "segmentation-threshold=0.0",
        "segmentation-output-order=0",
        "process-mode=1",
        "interval=0",
        "gie-unique-id=1",
        "maintain-aspect-ratio=0",
        "output-tensor-meta=0",
    ]
    return "\n".join(lines) + "\n"


def app_config(nvinfer_file: str, facts: dict[str, Any], source: str, sink: str = "file", batch_size: int = 1,
               output_file: str = "out.mp4") -> str:
    """A deepstream-app config: one URI source, nvstreammux at the network size, the nvinfer config as
    primary GIE, nvsegvisual ([segvisual]) and a sink (file: H.264 MP4, display: EGL, fake)."""
    if sink not in SINKS:
        raise SegnetError(f"sink must be one of {', '.join(SINKS)}, got {sink!r}")
    _, h, w = facts["infer_dims"]
    sink_lines = {"file": ["type=3", "container=1", "codec=1", "bitrate=4000000", f"output-file={output_file}"],
                  "display": ["type=2"], "fake": ["type=1"]}[sink]
    groups = [
        ("application", ["enable-perf-measurement=1", "perf-measurement-interval-sec=5"]),
        ("source0", ["enable=1", "type=3", f"uri={source}", f"num-sources={batch_size}", "gpu-id=0"]),
        ("streammux", ["gpu-id=0", f"batch-size={batch_size}", "batched-push-timeout=40000", f"width={w}",
                       f"height={h}", "live-source=0", "enable-padding=0"]),
        ("primary-gie", ["enable=1", "gpu-id=0", f"batch-size={batch_size}", "gie-unique-id=1",
                         f"config-file={nvinfer_file}"]),
        ("segvisual", ["enable=1", "gpu-id=0", f"batch-size={batch_size}", f"width={w}", f"height={h}"]),
        ("osd", ["enable=0"]),
        ("tiled-display", ["enable=0"]),
        ("sink0", ["enable=1", *sink_lines, "sync=0", "source-id=0", "gpu-id=0"]),
    ]
    text = ["# deepstream-app config written by `segnet deploy deepstream`: deepstream-app -c THIS_FILE"]
    for name, lines in groups:
        text += ["", f"[{name}]", *lines]
    return "\n".join(text) + "\n"


def gst_launch(nvinfer_file: str, facts: dict[str, Any], source: str = "file") -> str:
    """A gst-launch-1.0 line: file (H.264 MP4) or CSI camera -> nvstreammux -> nvinfer -> nvsegvisual -> sink."""
    _, h, w = facts["infer_dims"]
    head = {"file": "filesrc location=road.mp4 ! qtdemux ! h264parse ! nvv4l2decoder ! m.sink_0",
            "camera": "nvarguscamerasrc ! 'video/x-raw(memory:NVMM),width=1280,height=720,framerate=30/1' ! m.sink_0"}
    return (f"gst-launch-1.0 {head[source]} nvstreammux name=m batch-size=1 width={w} height={h} "
            f"{'live-source=1 ' if source == 'camera' else ''}! nvinfer config-file-path={nvinfer_file} ! "
            f"nvsegvisual width={w} height={h} ! nvvideoconvert ! nveglglessink")


def write_deepstream(onnx_path: str | Path, folder: str | Path, network_mode: str = "fp32", batch_size: int = 1,
                     source: str = "file:///opt/nvidia/deepstream/deepstream/samples/streams/sample_720p.mp4",
                     sink: str = "file") -> dict[str, Path]:
    """Write `<stem>.ds.onnx`, `<stem>.nvinfer.txt`, `<stem>.labels.txt`, `<stem>.deepstream-app.txt` and
    `<stem>.gst-launch.txt` into `folder` (each atomically; checked before they are written)."""
    onnx_path, folder = Path(onnx_path), Path(folder)
    if not onnx_path.is_file():
        raise SegnetError(f"{onnx_path}: model file not found")
    name = stem(onnx_path)
    paths = {kind: folder / f"{name}{suffix}" for kind, suffix in (
        ("model", ".ds.onnx"), ("nvinfer", ".nvinfer.txt"), ("labels", ".labels.txt"),
        ("app", ".deepstream-app.txt"), ("gst", ".gst-launch.txt"))}
    _, spec, artifact = _model(onnx_path)
    check_options(network_mode, artifact.batch, batch_size)
    if sink not in SINKS:
        raise SegnetError(f"sink must be one of {', '.join(SINKS)}, got {sink!r}")
    folder.mkdir(parents=True, exist_ok=True)
    _, facts = probabilities_model(onnx_path, paths["model"])
    texts = {"nvinfer": nvinfer_config(paths["model"].name, paths["labels"].name, facts, network_mode, batch_size),
             "labels": "\n".join(spec.class_names) + "\n",
             "app": app_config(paths["nvinfer"].name, facts, source, sink, batch_size),
             "gst": "\n".join(gst_launch(paths["nvinfer"].name, facts, kind) for kind in ("file", "camera")) + "\n"}
    problems = deepstream_rules.nvinfer_problems(texts["nvinfer"], {paths["model"].name: True,
                                                                     paths["labels"].name: True},
                                                 labels=spec.class_names)
    problems += deepstream_rules.app_problems(texts["app"])
    if problems:
        paths["model"].unlink()
        raise SegnetError(f"{paths['nvinfer']}: the generated DeepStream files break nvinfer's rules: {'; '.join(problems)}")
    for kind, text in texts.items():
        atomic.write_text(paths[kind], text)
    return paths
