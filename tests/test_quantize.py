"""INT8 variants: the TensorRT flavour is symmetric (every zero point 0, int8, no int32 bias), the CPU
flavour uses uint8 activations; both run under ONNX Runtime, follow the FP32 model, and are recorded in
the sidecar. Calibration uses real CamVid images at a small size."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
import torch

from segnet.errors import SegnetError
from segnet.export import inputs, verify
from segnet.export.onnx_export import export_model
from segnet.export.quantize import nonzero_zero_points, quantize_int8, quantized_inputs, sensitive_convs
from segnet.export.trt_lint import check_onnx
from segnet.models import create_model
from segnet.spec import ModelSpec, read_sidecar

SIZE = (48, 64)


@pytest.fixture(scope="module")
def fp32(tmp_path_factory):
    torch.manual_seed(0)
    model = create_model("segnet_lite", 12, width=0.25).eval()
    spec = ModelSpec(arch="segnet_lite", num_classes=12, arch_args=model.arch_args, input_size=SIZE)
    return export_model(model, spec, tmp_path_factory.mktemp("int8") / "model.onnx", embed_preprocess=True,
                        argmax=True, keep_logits=True, check_rewrite=False)


def qdq_nodes(model):
    return [n for n in model.graph.node if n.op_type in ("QuantizeLinear", "DequantizeLinear")]


def agreement(fp32_path, int8_path, images) -> float:
    """Share of pixels where the INT8 model's class map equals the FP32 model's (batch-1 models)."""
    reference, quantized = verify.ort_runner(str(fp32_path)), verify.ort_runner(str(int8_path))
    same = []
    for image in images:
        ref, got = reference(image[None]), quantized(image[None])
        assert got["labels"].dtype == np.uint8 and got["logits"].dtype == np.float32
        same.append(ref["labels"] == got["labels"])
    return float(np.mean(same))


def test_tensorrt_flavour_is_symmetric_int8_with_zero_points_0(fp32, camvid_root):
    out = quantize_int8(fp32, None, camvid_root, num_images=6, target="tensorrt")
    assert out.name == "model.int8.onnx"
    model = onnx.load(str(out))
    assert len(qdq_nodes(model)) > 0
    assert nonzero_zero_points(model) == []
    report = check_onnx(out, run_parser=False)  # quantized weights (DQ of a constant) are build-time constants
    assert report.ok and not report.issues, report.format()
    # the first conv and the classifier stay FP32: no DequantizeLinear feeds their weights
    dequantized = {n.output[0] for n in model.graph.node if n.op_type == "DequantizeLinear"}
    first, last = sensitive_convs(onnx.load(str(fp32)))
    for node in model.graph.node:
        if node.name in (first, last):
            assert node.input[1] not in dequantized
    artifact = read_sidecar(out)[1]
    assert artifact.precision == "int8"
    info = artifact.details["int8"]
    assert info["flavour"] == "tensorrt" and info["calibration_images"] == 6
    assert sorted(info["excluded_nodes"]) == sorted([first, last])
    assert read_sidecar(fp32)[1].precision == "fp32"  # both entries share model.json
    images = np.stack(inputs.dataset_images(camvid_root, SIZE, read_sidecar(fp32)[0], 4, split="val"))
    assert agreement(fp32, out, images) >= 0.95


def test_cpu_flavour_uses_uint8_activations(fp32, camvid_root, tmp_path):
    out = quantize_int8(fp32, tmp_path / "cpu.int8.onnx", camvid_root, num_images=4, target="cpu",
                        method="percentile", exclude="none")
    model = onnx.load(str(out))
    init = {t.name: t for t in model.graph.initializer}
    activation_zero_points = [init[n.input[2]] for n in model.graph.node
                              if n.op_type == "QuantizeLinear" and n.input[2] in init]
    assert activation_zero_points
    assert all(t.data_type == onnx.TensorProto.UINT8 for t in activation_zero_points)
    assert nonzero_zero_points(model)  # what the TensorRT check would reject
    info = read_sidecar(out)[1].details["int8"]
    assert info["flavour"] == "cpu" and info["calibration_method"] == "percentile" and info["excluded_nodes"] == []
    images = np.stack(inputs.dataset_images(camvid_root, SIZE, read_sidecar(fp32)[0], 4, split="val"))
    assert agreement(fp32, out, images) >= 0.95


def comparison_inputs(model) -> dict[str, str]:
    """Every input of every Equal node, with the op type of the node producing it."""
    producer = {o: n.op_type for n in model.graph.node for o in n.output}
    return {name: producer.get(name, "graph input") for n in model.graph.node if n.op_type == "Equal"
            for name in n.input}


@pytest.mark.parametrize("target", ["tensorrt", "cpu"])
def test_pooling_switches_compare_the_fp32_maximum(fp32, camvid_root, tmp_path, target):
    """onnxruntime hands the dequantized pooled maximum to the switch's Equal nodes as well as to the next
    conv; the variant must give the Equal nodes the exact FP32 tensors the FP32 model compares."""
    out = quantize_int8(fp32, tmp_path / f"{target}.int8.onnx", camvid_root, num_images=4, target=target)
    model = onnx.load(str(out))
    compared = comparison_inputs(model)
    assert compared.keys() == comparison_inputs(onnx.load(str(fp32))).keys()
    assert "DequantizeLinear" not in compared.values()
    # the pooled maxima are still quantized for the convolutions that read them
    assert set(compared) & set(quantized_inputs(model).values())
    assert read_sidecar(out)[1].details["int8"]["fp32_switch_nodes"]
    # what onnxruntime alone produces, kept reproducible for benchmarks/scripts/export_report.py
    shared = quantize_int8(fp32, tmp_path / f"{target}-shared.int8.onnx", camvid_root, num_images=4, target=target,
                           shared_qdq=True)
    assert "DequantizeLinear" in comparison_inputs(onnx.load(str(shared))).values()
    # `segnet check` warns about exactly that, naming the Equal nodes, and not about ours
    flagged = {i.node for i in check_onnx(shared, run_parser=False).issues if "quantized copy" in i.message}
    shared_model = onnx.load(str(shared))
    dequantized = {n.output[0] for n in shared_model.graph.node if n.op_type == "DequantizeLinear"}
    assert flagged == {n.name for n in shared_model.graph.node
                       if n.op_type == "Equal" and dequantized & set(n.input)}
    assert not [i for i in check_onnx(out, run_parser=False).issues if "quantized copy" in i.message]


def pooled_quantized(model) -> list[str]:
    """Relu nodes whose output is sliced into pooling phases and whose input is a dequantized tensor."""
    dequantized = {n.output[0] for n in model.graph.node if n.op_type == "DequantizeLinear"}
    sliced = {n.input[0] for n in model.graph.node if n.op_type == "Slice"}
    return [n.name for n in model.graph.node
            if n.op_type == "Relu" and n.output[0] in sliced and n.input[0] in dequantized]


@pytest.mark.parametrize("target,default", [("tensorrt", "fp32"), ("cpu", "int8")])
def test_switch_inputs_fp32_pools_unrounded_values(fp32, camvid_root, tmp_path, target, default):
    """switch_inputs="fp32" takes onnxruntime's Q/DQ off the convolution outputs that are pooled (ties made by
    rounding would move the switches); "int8" keeps them for ONNX Runtime's QLinearConv. Either way the
    next convolution still reads a quantized input."""
    models = {}
    for mode in ("fp32", "int8"):
        out = quantize_int8(fp32, tmp_path / f"{mode}.int8.onnx", camvid_root, num_images=4, target=target,
                            switch_inputs=mode)
        models[mode] = onnx.load(str(out))
        assert read_sidecar(out)[1].details["int8"]["switch_inputs"] == mode
        assert "DequantizeLinear" not in comparison_inputs(models[mode]).values()
        assert nonzero_zero_points(models[mode]) == [] or target == "cpu"
    encoder_pools = len([n for n in onnx.load(str(fp32)).graph.node if n.op_type == "Max"]) // 3
    assert pooled_quantized(models["fp32"]) == []
    assert len(pooled_quantized(models["int8"])) == encoder_pools
    convs_reading_dq = [sum(n.op_type == "Conv" and n.input[0] in quantized_inputs(m) for n in m.graph.node)
                        for m in models.values()]
    assert convs_reading_dq[0] == convs_reading_dq[1] > 0
    assert read_sidecar(quantize_int8(fp32, tmp_path / "default.int8.onnx", camvid_root, num_images=2,
                                      target=target))[1].details["int8"]["switch_inputs"] == default


def test_quantize_refuses_bad_input(fp32, tmp_path, camvid_root):
    foreign = tmp_path / "foreign.onnx"
    model = onnx.load(str(fp32))
    del model.metadata_props[:]
    onnx.save(model, str(foreign))
    with pytest.raises(SegnetError, match="not a segnet ONNX export"):
        quantize_int8(foreign, None, camvid_root, num_images=2)
    with pytest.raises(SegnetError, match="no such nodes"):
        quantize_int8(fp32, tmp_path / "x.onnx", camvid_root, num_images=2, exclude=["nope"])
    with pytest.raises(SegnetError, match="unknown switch_inputs"):
        quantize_int8(fp32, tmp_path / "x.onnx", camvid_root, switch_inputs="int4")
    with pytest.raises(SegnetError, match="unknown calibration method"):
        quantize_int8(fp32, tmp_path / "x.onnx", camvid_root, method="magic")
    with pytest.raises(SegnetError, match="dataset folder not found"):
        quantize_int8(fp32, tmp_path / "x.onnx", tmp_path / "missing", num_images=2)
    assert not (tmp_path / "x.onnx").exists()
