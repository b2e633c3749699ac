"""ONNX's own backend node test cases for MaxPool and MaxUnpool (shipped in the onnx package) through rewrite-unpool.

Each case's node is put into a model at opsets 11-20 (the cases themselves are opset 22, which TensorRT 8.6 and
10.0 do not parse). Every 2-D MaxPool case also gets an Indices output, so the general path sees every pooling
configuration ONNX tests. The rewritten model must give what the original gives under ONNX Runtime, keep no
MaxUnpool and no MaxPool Indices, and pass `segnet check` for TensorRT 8.6, 10 and 11 (10 and 11 above opset 17).
"""

from __future__ import annotations

import numpy as np
import onnx
import pytest
from onnx import helper

pytest.importorskip("onnx_graphsurgeon")
ort = pytest.importorskip("onnxruntime")

import unpool_models as um

from segnet.export.rewrite_unpool import rewrite_unpool
from segnet.export.trt_lint import check_onnx


def _cases(op: str) -> list:
    import warnings

    from onnx.backend.test.case import node as node_cases

    seen = {}
    with warnings.catch_warnings():  # the collection runs every case's numpy, some of it dividing by zero
        warnings.simplefilter("ignore")
        collected = node_cases.collect_testcases(None)
    for case in collected:
        if case.model is not None and [n.op_type for n in case.model.graph.node] == [op]:
            seen.setdefault(case.name, case)
    return list(seen.values())


POOL_CASES = [c for c in _cases("MaxPool") if len(c.data_sets[0][0][0].shape) == 4]
UNPOOL_CASES = _cases("MaxUnpool")


def _model_at(case, opset: int, with_indices: bool, declare_io: bool = True) -> onnx.ModelProto:
    graph = case.model.graph
    node = onnx.NodeProto()
    node.CopyFrom(graph.node[0])
    node.name = node.name or case.name
    outputs = list(graph.output)
    if with_indices and len(node.output) == 1:
        node.output.append("indices")
        outputs.append(helper.make_tensor_value_info("indices", onnx.TensorProto.INT64, None))
    values = list(graph.input) + outputs
    if not declare_io:
        values = [helper.make_tensor_value_info(v.name, v.type.tensor_type.elem_type, None) for v in values]
    inputs, outputs = values[:len(graph.input)], values[len(graph.input):]
    model = helper.make_model(helper.make_graph([node], case.name, inputs, outputs),
                              opset_imports=[helper.make_opsetid("", opset)])
    model.ir_version = um.IR_VERSION
    return model


def _run(path, feeds):
    options = ort.SessionOptions()
    options.log_severity_level = 3
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"]).run(None, feeds)


def _assert_clean(path, opset: int) -> None:
    report = check_onnx(path, ("8.6", "10", "11") if opset <= 17 else ("10", "11"), run_parser=False)
    assert report.ok, report.format()
    for node in onnx.load(str(path)).graph.node:
        assert node.op_type != "MaxUnpool"
        assert node.op_type != "MaxPool" or len(node.output) == 1


def test_the_onnx_package_ships_the_cases():
    names = {c.name for c in POOL_CASES + UNPOOL_CASES}
    assert {"test_maxpool_with_argmax_2d_precomputed_pads", "test_maxpool_2d_ceil", "test_maxpool_2d_dilations",
            "test_maxunpool_export_with_output_shape", "test_maxunpool_export_without_output_shape"} <= names


@pytest.mark.parametrize("case", POOL_CASES, ids=lambda c: c.name)
@pytest.mark.parametrize("opset", [12, 17, 20])
def test_maxpool_cases_with_indices(tmp_path, case, opset):
    if um.OLD_ONNXRUNTIME and case.name in ("test_maxpool_2d_uint8", "test_maxpool_2d_ceil_output_size_reduce_by_one"):
        pytest.skip(um.OLD_ONNXRUNTIME_REASON)
    src, out = tmp_path / "in.onnx", tmp_path / "out.onnx"
    onnx.save(_model_at(case, opset, with_indices=True), str(src))
    summary = rewrite_unpool(src, out)
    assert summary.indices
    for inputs, expected in case.data_sets:
        feeds = {case.model.graph.input[0].name: inputs[0]}
        before, after = _run(src, feeds), _run(out, feeds)
        assert all(np.array_equal(b, a) for b, a in zip(before, after))
        assert all(np.array_equal(e, a) for e, a in zip(expected, after))  # ONNX's expected values too
    _assert_clean(out, opset)


@pytest.mark.parametrize("case", UNPOOL_CASES, ids=lambda c: c.name)
@pytest.mark.parametrize("opset", [11, 17, 20])
@pytest.mark.parametrize("declare_io", [True, False], ids=["shapes", "no-shapes"])
def test_maxunpool_cases(tmp_path, case, opset, declare_io):
    """With and without output_shape, and with graph inputs and outputs declared without shapes (the
    with_output_shape case used to fail: "Field 'shape' of 'type' is required but missing"). Compared with ONNX
    Runtime only: ONNX's expected output for with_output_shape scatters into the default 4x4 frame and pads it
    (as its reference evaluator does), while ONNX Runtime indexes the 5x5 output_shape, as the spec says."""
    src, out = tmp_path / "in.onnx", tmp_path / "out.onnx"
    onnx.save(_model_at(case, opset, with_indices=False, declare_io=declare_io), str(src))
    summary = rewrite_unpool(src, out)
    assert summary.scatter
    for inputs, _expected in case.data_sets:
        feeds = {v.name: x for v, x in zip(case.model.graph.input, inputs)}
        before, after = _run(src, feeds), _run(out, feeds)
        assert np.array_equal(before[0], after[0])
    _assert_clean(out, opset)
