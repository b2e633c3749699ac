"""Strict fakes of TensorRT and cuda-python (built from NVIDIA's stubs / the real cuda-python signatures),
for unit tests of the engine builder and the TensorRT backend on machines without a GPU."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from .fake_cudart import FakeCudart
from .fake_tensorrt import VARIANTS, FakeTensorRT, Layer, Script, Tensor

__all__ = ["VARIANTS", "FakeCudart", "FakeTensorRT", "Layer", "Script", "Tensor", "install", "tiny_onnx"]


def install(monkeypatch: Any, version: str = "10.13", script: Script | None = None,
            **cudart_options: Any) -> tuple[FakeTensorRT, FakeCudart]:
    """Put a fake `tensorrt` and a fake `cuda.bindings.runtime` in sys.modules for one test."""
    cudart = FakeCudart(**cudart_options)
    trt = FakeTensorRT(version, script, cudart=cudart)
    monkeypatch.setitem(sys.modules, "tensorrt", trt.module)
    monkeypatch.setitem(sys.modules, "cuda.bindings.runtime", cudart)
    return trt, cudart


def tiny_onnx(path: Path, shape: tuple[Any, ...] = (1, 3, 4, 6), qdq: bool = False, spec: bool = True,
              node_name: str = "head_conv", frame: dict[str, Any] | None = None) -> Path:
    """A one-node ONNX model (input -> [Q/DQ ->] Identity -> logits) with a segnet spec in its metadata
    (and `frame`, a FramePath dict, in its artifact)."""
    import onnx
    from onnx import TensorProto, helper

    from segnet.spec import ARTIFACT_KEY, SPEC_KEY, Artifact, ModelSpec

    nodes = []
    source = "input"
    if qdq:
        scale = helper.make_tensor("scale", TensorProto.FLOAT, [], [0.05])
        zero = helper.make_tensor("zero", TensorProto.INT8, [], [0])
        nodes += [helper.make_node("QuantizeLinear", ["input", "scale", "zero"], ["q"], name="quant"),
                  helper.make_node("DequantizeLinear", ["q", "scale", "zero"], ["dq"], name="dequant")]
        source = "dq"
        initializers = [scale, zero]
    else:
        initializers = []
    nodes.append(helper.make_node("Identity", [source], ["logits"], name=node_name))
    graph = helper.make_graph(nodes, "tiny", [helper.make_tensor_value_info("input", TensorProto.FLOAT, list(shape))],
                              [helper.make_tensor_value_info("logits", TensorProto.FLOAT, list(shape))], initializers)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=9)
    if spec:
        model_spec = ModelSpec(arch="segnet_lite", num_classes=3, input_size=(4, 6))
        artifact = Artifact(file=path.name, format="onnx", output_names=["logits"], frame=frame)
        for key, value in ((SPEC_KEY, model_spec.to_json()), (ARTIFACT_KEY, json.dumps(artifact.to_dict()))):
            entry = model.metadata_props.add()
            entry.key, entry.value = key, value
    onnx.save(model, str(path))
    return path
