"""Tiny random-weight segmentation ONNX models built with onnx.helper (no torch), with a segnet spec.

They exercise the runtime end to end where no trained model exists (tests, pipeline benchmarks): a
conv -> pool -> conv -> upsample -> 1x1 conv network whose per-class logits depend on the image, either
plain (normalised float NCHW in, "logits" out) or with preprocessing embedded (uint8 NHWC BGR in) and an
argmax "labels" output. `width`/`depth` make it as slow as a test needs.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from segnet import atomic, preprocess
from segnet.lazy import require
from segnet.spec import ARTIFACT_KEY, SPEC_KEY, Artifact, ModelSpec, write_sidecar

OPSET = 17


def tiny_spec(num_classes: int = 4, input_size: tuple[int, int] = (32, 48), in_channels: int = 3,
              color_order: str = "RGB") -> ModelSpec:
    """The spec the tiny models carry (ImageNet normalisation, default class names and palette)."""
    mean, std = ((0.485, 0.456, 0.406), (0.229, 0.224, 0.225)) if in_channels == 3 else ((0.5,), (0.25,))
    return ModelSpec(arch="tiny_onnx", num_classes=num_classes, in_channels=in_channels,
                     input_size=input_size, mean=mean, std=std, color_order=color_order,
                     provenance={"weights": "random", "builder": "segnet.benchmarks.tiny_onnx"})


def build_tiny_onnx(path: str | Path, spec: ModelSpec | None = None, *, embed_preprocess: bool = False,
                    outputs: Sequence[str] = ("logits",), batch: int | None = 1, width: int = 8,
                    depth: int = 1, seed: int = 0, metadata: bool = True, sidecar: bool = False) -> Path:
    """Write a tiny model to `path`. outputs: any of "logits", "labels". batch None = dynamic batch.
    metadata=False makes a "foreign" model (no segnet spec anywhere)."""
    onnx = require("onnx", "building tiny test models")
    helper, TP = onnx.helper, onnx.TensorProto
    spec = spec or tiny_spec()
    height, width_px = spec.input_size
    if height % 2 or width_px % 2:
        raise ValueError(f"input size must be even, got {spec.input_size}")
    rng = np.random.default_rng(seed)
    init: list = []
    nodes: list = []

    def const(name: str, array: np.ndarray) -> str:
        init.append(onnx.numpy_helper.from_array(np.ascontiguousarray(array), name))
        return name

    def conv(x: str, cin: int, cout: int, k: int, name: str) -> str:
        weight = rng.normal(0, (2.0 / (cin * k * k)) ** 0.5, (cout, cin, k, k)).astype(np.float32)
        bias = rng.normal(0, 0.1, cout).astype(np.float32)
        nodes.append(helper.make_node("Conv", [x, const(f"{name}.w", weight), const(f"{name}.b", bias)], [name],
                                      pads=[k // 2] * 4, name=name))
        return name

    n_dim = batch if batch is not None else "N"
    channels = spec.in_channels
    if embed_preprocess:
        graph_in = helper.make_tensor_value_info("input", TP.UINT8, [n_dim, height, width_px, channels])
        nodes.append(helper.make_node("Cast", ["input"], ["pre.f"], to=TP.FLOAT, name="pre.cast"))
        nodes.append(helper.make_node("Transpose", ["pre.f"], ["pre.nchw"], perm=[0, 3, 1, 2], name="pre.nchw"))
        x = "pre.nchw"
        if channels == 3 and spec.color_order == "RGB":
            nodes.append(helper.make_node("Gather", [x, const("pre.bgr2rgb", np.array([2, 1, 0], np.int64))],
                                          ["pre.rgb"], axis=1, name="pre.rgb"))
            x = "pre.rgb"
        scale, shift = (v.reshape(1, channels, 1, 1) for v in preprocess.normalization(spec))
        nodes.append(helper.make_node("Mul", [x, const("pre.scale", scale)], ["pre.scaled"], name="pre.mul"))
        nodes.append(helper.make_node("Add", ["pre.scaled", const("pre.shift", shift)], ["pre.out"], name="pre.add"))
        x = "pre.out"
    else:
        graph_in = helper.make_tensor_value_info("input", TP.FLOAT, [n_dim, channels, height, width_px])
        x = "input"

    x = conv(x, channels, width, 3, "enc0")
    nodes.append(helper.make_node("Relu", [x], ["enc0.relu"], name="enc0.relu"))
    nodes.append(helper.make_node("MaxPool", ["enc0.relu"], ["pool"], kernel_shape=[2, 2], strides=[2, 2],
                                  name="pool"))
    x = "pool"
    for i in range(depth):
        x = conv(x, width, width, 3, f"mid{i}")
        nodes.append(helper.make_node("Relu", [x], [f"mid{i}.relu"], name=f"mid{i}.relu"))
        x = f"mid{i}.relu"
    scales = const("up.scales", np.array([1, 1, 2, 2], np.float32))
    nodes.append(helper.make_node("Resize", [x, "", scales], ["up"], mode="nearest", name="up"))
    logits = conv("up", width, spec.num_classes, 1, "logits")

    graph_outs = []
    if "logits" in outputs:
        graph_outs.append(helper.make_tensor_value_info("logits", TP.FLOAT,
                                                        [n_dim, spec.num_classes, height, width_px]))
    if "labels" in outputs:
        if spec.num_classes == 1:
            nodes.append(helper.make_node("Greater", [logits, const("zero", np.zeros(1, np.float32))], ["fg"],
                                          name="fg"))
            nodes.append(helper.make_node("Squeeze", ["fg", const("axis1", np.array([1], np.int64))], ["fg2"],
                                          name="squeeze"))
            nodes.append(helper.make_node("Cast", ["fg2"], ["labels"], to=TP.UINT8, name="labels"))
        else:
            nodes.append(helper.make_node("ArgMax", [logits], ["argmax"], axis=1, keepdims=0, name="argmax"))
            nodes.append(helper.make_node("Cast", ["argmax"], ["labels"], to=TP.UINT8, name="labels"))
        graph_outs.append(helper.make_tensor_value_info("labels", TP.UINT8, [n_dim, height, width_px]))
    if not graph_outs:
        raise ValueError(f"outputs must name logits and/or labels, got {list(outputs)}")

    graph = helper.make_graph(nodes, "tiny_segnet", [graph_in], graph_outs, init)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)],
                              producer_name="segnet.benchmarks.tiny_onnx")
    model.ir_version = 8
    path = Path(path)
    artifact = Artifact(file=path.name, format="onnx", input_layout="NHWC" if embed_preprocess else "NCHW",
                        input_dtype="uint8" if embed_preprocess else "float32",
                        embedded_preprocess=embed_preprocess, output_names=list(outputs), batch=batch,
                        details={"opset": OPSET})
    if metadata:
        helper.set_model_props(model, {SPEC_KEY: spec.to_json(), ARTIFACT_KEY: json.dumps(artifact.to_dict(), sort_keys=True)})
    onnx.checker.check_model(model)
    atomic.write_bytes(path, model.SerializeToString())
    if sidecar:
        write_sidecar(path, spec, artifact)
    return path

