"""rewrite-unpool: the rewritten model computes exactly what the original did, and TensorRT's rules accept it.

'Before' runs under ONNX Runtime. ONNX's reference evaluator is used wherever it is right about the original:
its MaxUnpool ignores `output_shape` (it scatters into the default shape, then pads) and its MaxPool returns
per-channel rather than whole-tensor indices for 1x1 kernels (the dynamo pattern uses one), so for those
originals the reference evaluator only runs the rewritten side, compared against ONNX Runtime's original.
"""

from __future__ import annotations

import numpy as np
import onnx
import pytest

pytest.importorskip("onnx_graphsurgeon")
pytest.importorskip("onnxruntime")

import unpool_models as um

from segnet.export.rewrite_unpool import rewrite_unpool
from segnet.export.trt_lint import check_onnx


def assert_trt_clean(path) -> None:
    """No error for TensorRT 8.6, 10 and 11 (10 and 11 only above opset 17, which 8.6 does not parse)."""
    opset = onnx.load(str(path)).opset_import[0].version
    report = check_onnx(path, ("8.6", "10", "11") if opset <= 17 else ("10", "11"), run_parser=False)
    errors = [i for i in report.issues if i.severity == "error"]
    assert report.ok and not errors, report.format()
    ops = {n.op_type for n in onnx.load(str(path)).graph.node}
    assert "MaxUnpool" not in ops
    for node in onnx.load(str(path)).graph.node:
        if node.op_type == "MaxPool":
            assert len(node.output) == 1 or not node.output[1]


@pytest.fixture(scope="module")
def dynamo_models(tmp_path_factory):
    torch = pytest.importorskip("torch")
    pytest.importorskip("onnxscript")
    del torch
    root = tmp_path_factory.mktemp("dynamo")
    return {
        "segnet_even": um.export_dynamo(um.segnet_like(), (1, 3, 32, 48), root / "segnet_even.onnx"),
        "segnet_odd": um.export_dynamo(um.segnet_like(), (1, 3, 30, 46), root / "segnet_odd.onnx"),
        "enet": um.export_dynamo(um.enet_like(), (1, 3, 32, 48), root / "enet.onnx"),
    }


@pytest.mark.parametrize("name,shape", [("segnet_even", (1, 3, 32, 48)), ("segnet_odd", (1, 3, 30, 46)),
                                        ("enet", (1, 3, 32, 48))])
def test_dynamo_export_becomes_exact_switch_form(dynamo_models, tmp_path, name, shape):
    src = dynamo_models[name]
    out = tmp_path / f"{name}.trt.onnx"
    summary = rewrite_unpool(src, out)
    assert summary.switch and not summary.scatter
    assert all("ScatterND" in item for item in summary.switch)
    after_ops = {n.op_type for n in onnx.load(str(out)).graph.node}
    assert "ScatterND" not in after_ops and "DepthToSpace" in after_ops
    for seed, make in ((0, um.tied_input), (1, None)):
        x = make(shape, seed) if make else np.random.default_rng(seed).standard_normal(shape).astype(np.float32)
        before = um.run_ort(src, {"input": x})
        after = um.run_ort(out, {"input": x})
        assert np.array_equal(before, after), f"{name}: max diff {np.abs(before - after).max()}"
        reference = um.run_reference(out, {"input": x})  # reference Conv rounds differently from ORT's
        np.testing.assert_allclose(reference, before, rtol=1e-4, atol=1e-4)
    assert_trt_clean(out)


def test_dynamo_export_matches_pytorch(dynamo_models, tmp_path):
    torch = pytest.importorskip("torch")
    out = tmp_path / "segnet.trt.onnx"
    rewrite_unpool(dynamo_models["segnet_odd"], out)
    x = um.tied_input((1, 3, 30, 46), seed=3)
    with torch.no_grad():
        expected = um.segnet_like()(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(um.run_ort(out, {"input": x}), expected, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("shape,with_shape", [((1, 3, 8, 12), False), ((2, 3, 8, 12), True), ((1, 3, 7, 9), True)])
@pytest.mark.parametrize("convs", [True, False])
def test_onnx_maxunpool_becomes_exact_switch_form(tmp_path, shape, with_shape, convs):
    src = um.save(um.onnx_segnet_maxunpool(shape, with_shape, convs=convs), tmp_path / "in.onnx")
    out = tmp_path / "out.onnx"
    summary = rewrite_unpool(src, out)
    assert summary.switch == ["unpool1 <- pool1"] and not summary.scatter
    for x in (um.tied_input(shape), np.random.default_rng(2).standard_normal(shape).astype(np.float32)):
        before = um.run_ort(src, {"input": x})
        assert np.array_equal(before, um.run_ort(out, {"input": x}))
        reference_after = um.run_reference(out, {"input": x})
        if shape[2] % 2 == 0 and shape[3] % 2 == 0:  # reference MaxUnpool is right without padding
            assert np.array_equal(um.run_reference(src, {"input": x}), reference_after)
        if not convs:
            assert np.array_equal(reference_after, before)
    assert_trt_clean(out)


@pytest.mark.parametrize("x_shape,kernel,strides,out_shape", [
    ((1, 2, 4, 5), (2, 2), (2, 2), None),
    ((2, 3, 4, 5), (2, 2), (2, 2), (2, 3, 9, 11)),  # odd output size, bigger than the default
    ((1, 2, 3, 3), (3, 3), (2, 2), None),  # overlapping windows: not a 2x2 pattern
    ((1, 1, 5, 4), (2, 3), (2, 3), (1, 1, 11, 13)),
])
def test_any_maxunpool_becomes_exact_scatter(tmp_path, x_shape, kernel, strides, out_shape):
    src = um.save(um.onnx_single_unpool(x_shape, kernel, strides, out_shape), tmp_path / "in.onnx")
    out = tmp_path / "out.onnx"
    summary = rewrite_unpool(src, out)
    assert summary.scatter == ["unpool_single"] and not summary.switch
    rng = np.random.default_rng(4)
    x = rng.standard_normal(x_shape).astype(np.float32)
    default = [x_shape[0], x_shape[1]] + [(d - 1) * s + k for d, s, k in zip(x_shape[2:], strides, kernel)]
    total = int(np.prod(out_shape or default))
    indices = rng.choice(total, size=x.size, replace=False).reshape(x_shape).astype(np.int64)
    feeds = {"X": x, "I": indices}
    before = um.run_ort(src, feeds)
    after = um.run_ort(out, feeds)
    assert after.shape == tuple(out_shape or default)
    assert np.array_equal(before, after)
    assert np.array_equal(um.run_reference(out, feeds), before)
    if out_shape is None:
        assert np.array_equal(um.run_reference(src, feeds), before)
    assert_trt_clean(out)


def _run_all(path, feeds):
    import onnxruntime as ort

    return ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).run(None, feeds)


def test_pool_indices_used_elsewhere_take_the_general_path(tmp_path):
    """Indices that also feed something else: computed exactly (general path), MaxUnpool becomes a scatter."""
    model = um.onnx_segnet_maxunpool((1, 3, 8, 8), False, convs=False)
    model.graph.node.append(onnx.helper.make_node("Cast", ["indices"], ["indices_f"], name="leak", to=1))
    model.graph.output.append(onnx.helper.make_tensor_value_info("indices_f", onnx.TensorProto.FLOAT, [1, 3, 4, 4]))
    src, out = um.save(model, tmp_path / "in.onnx"), tmp_path / "out.onnx"
    summary = rewrite_unpool(src, out)
    assert summary.indices == ["pool1"] and summary.scatter == ["unpool1"] and not summary.switch
    for x in (um.tied_input((1, 3, 8, 8)), np.random.default_rng(5).standard_normal((1, 3, 8, 8)).astype(np.float32)):
        before, after = _run_all(src, {"input": x}), _run_all(out, {"input": x})
        assert all(np.array_equal(b, a) for b, a in zip(before, after))
    assert_trt_clean(out)


def test_3x3_pool_with_unpool_takes_the_general_path(tmp_path):
    """Overlapping 3x3/stride-2 windows: not the switch form, indices computed, unpool to the input size."""
    model = um.onnx_segnet_maxunpool((1, 3, 8, 8), True, convs=False)
    for node in model.graph.node:
        if node.op_type in ("MaxPool", "MaxUnpool"):
            del node.attribute[:]
            node.attribute.extend([onnx.helper.make_attribute("kernel_shape", [3, 3]),
                                   onnx.helper.make_attribute("strides", [2, 2])])
    src, out = um.save(model, tmp_path / "in.onnx"), tmp_path / "out.onnx"
    summary = rewrite_unpool(src, out)
    assert summary.indices == ["pool1"] and summary.scatter == ["unpool1"]
    for x in (um.tied_input((1, 3, 8, 8)), np.random.default_rng(5).standard_normal((1, 3, 8, 8)).astype(np.float32)):
        assert np.array_equal(um.run_ort(src, {"input": x}), um.run_ort(out, {"input": x}))
    assert_trt_clean(out)


def test_model_without_unpooling_is_copied_unchanged(tmp_path):
    node = onnx.helper.make_node("Relu", ["x"], ["y"], name="relu")
    graph = onnx.helper.make_graph([node], "g", [onnx.helper.make_tensor_value_info("x", 1, [1, 2])],
                                   [onnx.helper.make_tensor_value_info("y", 1, [1, 2])])
    model = onnx.helper.make_model(graph, opset_imports=[onnx.helper.make_opsetid("", 17)])
    model.metadata_props.add(key="segnet.spec", value="{}")
    src = um.save(model, tmp_path / "in.onnx")
    summary = rewrite_unpool(src, tmp_path / "out.onnx")
    assert not summary.changed
    out = onnx.load(str(tmp_path / "out.onnx"))
    assert [n.op_type for n in out.graph.node] == ["Relu"]
    assert {p.key: p.value for p in out.metadata_props} == {"segnet.spec": "{}"}


def test_cli_rewrite_and_check(tmp_path, capsys):
    from segnet.cli import main

    src = um.save(um.onnx_segnet_maxunpool((1, 3, 8, 12), True), tmp_path / "in.onnx")
    out = tmp_path / "out.onnx"
    assert main(["rewrite-unpool", str(src), str(out), "--check"]) == 0
    printed = capsys.readouterr().out
    assert "switch form: unpool1 <- pool1" in printed and "passes TensorRT 8.6, 10, 11" in printed
    assert main(["rewrite-unpool", str(src), str(src)]) == 2
    assert main(["rewrite-unpool", str(tmp_path / "missing.onnx"), str(out)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 2 and "missing.onnx: no such file" in err[-1]


def _project_preset_roundtrip(tmp_path, name: str, width: float, size):
    """A preset from segnet.models exported with indices (dynamo) -> rewrite -> exact vs the original."""
    torch = pytest.importorskip("torch")
    models = pytest.importorskip("segnet.models")
    model = models.create_model(name, 12, width=width).eval()
    src, out = tmp_path / f"{name}.onnx", tmp_path / f"{name}.trt.onnx"
    um.export_dynamo(model, (1, 3, *size), src)
    summary = rewrite_unpool(src, out)
    x = um.tied_input((1, 3, *size), seed=6)
    assert np.array_equal(um.run_ort(src, {"input": x}), um.run_ort(out, {"input": x}))
    with torch.no_grad():
        expected = model(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(um.run_ort(out, {"input": x}), expected, rtol=1e-4, atol=1e-4)
    assert_trt_clean(out)
    return summary


def test_project_segnet_basic_preset(tmp_path):
    summary = _project_preset_roundtrip(tmp_path, "segnet_basic", 0.125, (48, 64))
    assert len(summary.switch) == 4 and not summary.scatter


@pytest.mark.slow
def test_project_segnet_vgg16_at_camvid_size(tmp_path):
    """360x480: the fourth pool sees 45 rows (odd), so this covers slicing to even and zero padding back."""
    summary = _project_preset_roundtrip(tmp_path, "segnet_vgg16", 0.125, (360, 480))
    assert len(summary.switch) == 5 and not summary.scatter


def test_torchscript_export_maxunpool_if_torch_can(tmp_path):
    """dynamo=False emits ONNX MaxUnpool; torch 2.13's tracer fails inside max_unpool2d's size check
    (TypeError: cond must be a bool), so this runs only where the TorchScript exporter works."""
    torch = pytest.importorskip("torch")
    src, out = tmp_path / "ts.onnx", tmp_path / "ts.trt.onnx"
    try:
        torch.onnx.export(um.segnet_like(), (torch.randn(1, 3, 32, 48),), str(src), dynamo=False, opset_version=17,
                          input_names=["input"])
    except (TypeError, RuntimeError) as exc:
        pytest.skip(f"torch {torch.__version__} TorchScript exporter cannot trace max_unpool2d: {exc}")
    um.save(onnx.load(str(src)), src)
    summary = rewrite_unpool(src, out)
    assert summary.switch and not summary.scatter
    x = um.tied_input((1, 3, 32, 48), seed=7)
    assert np.array_equal(um.run_ort(src, {"input": x}), um.run_ort(out, {"input": x}))
    assert_trt_clean(out)


@pytest.mark.parametrize("opset,dynamic_batch", [(17, False), (17, True), (18, True), (20, False)])
def test_torch_overlapping_pools_take_the_general_path(tmp_path, opset, dynamic_batch):
    """3x3 / stride-2 / padding-1 pooling with max_unpool2d (refused before): indices computed, ScatterND kept."""
    torch = pytest.importorskip("torch")
    pytest.importorskip("onnxscript")
    module = um.segnet_overlapping()
    src, out = tmp_path / "overlap.onnx", tmp_path / "overlap.trt.onnx"
    um.export_dynamo(module, (2, 3, 15, 17), src, opset=opset, dynamic_batch=dynamic_batch)
    summary = rewrite_unpool(src, out)
    assert summary.indices and not summary.switch
    for batch in ((1, 3) if dynamic_batch else (2,)):
        for x in (um.tied_input((batch, 3, 15, 17), seed=batch),
                  np.random.default_rng(batch).standard_normal((batch, 3, 15, 17)).astype(np.float32)):
            before = um.run_ort(src, {"input": x})
            after = um.run_ort(out, {"input": x})
            assert np.abs(before - after).max() <= 1e-5
            with torch.no_grad():
                np.testing.assert_allclose(after, module(torch.from_numpy(x)).numpy(), rtol=1e-4, atol=1e-4)
    assert_trt_clean(out)
    assert onnx.load(str(out)).opset_import[0].version == opset
