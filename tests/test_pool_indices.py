"""The general path of rewrite-unpool: MaxPool's Indices computed from Slice/Equal/Where equal ONNX Runtime's own.

Every comparison is with ONNX Runtime running the original two-output MaxPool, on random inputs, tie-heavy
inputs (integers 0-2) and constant planes (every window all ties), odd sizes included.
"""

from __future__ import annotations

import itertools

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper

pytest.importorskip("onnx_graphsurgeon")
ort = pytest.importorskip("onnxruntime")

import unpool_models as um

from segnet.errors import SegnetError
from segnet.export.pool_geometry import pool_geometry
from segnet.export.rewrite_unpool import rewrite_model, rewrite_unpool


def pool_model(shape, attrs, opset=17):
    """x -> MaxPool(attrs) -> (y, indices), both graph outputs."""
    node = helper.make_node("MaxPool", ["x"], ["y", "indices"], name="pool", **attrs)
    outputs = [helper.make_tensor_value_info("y", TensorProto.FLOAT, None),
               helper.make_tensor_value_info("indices", TensorProto.INT64, None)]
    graph = helper.make_graph([node], "pool", [helper.make_tensor_value_info("x", TensorProto.FLOAT, shape)],
                              outputs)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    model.ir_version = um.IR_VERSION
    return model


def session(model):
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.log_severity_level = 3
    return ort.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])


def inputs(shape, seed=0):
    rng = np.random.default_rng(seed)
    return [rng.standard_normal(shape).astype(np.float32), um.tied_input(shape, seed),
            np.full(shape, 2.0, np.float32)]


def assert_same_indices(model, shape, seeds=(0,)):
    rewritten, summary = rewrite_model(model)
    assert summary.indices and not summary.switch
    assert all(n.op_type != "MaxPool" or len(n.output) == 1 for n in rewritten.graph.node)
    before, after = session(model), session(rewritten)
    for seed in seeds:
        for x in inputs(shape, seed):
            want_y, want_i = before.run(None, {"x": x})
            got_y, got_i = after.run(None, {"x": x})
            assert np.array_equal(want_i, got_i), f"indices differ at {np.argwhere(want_i != got_i)[:3]}"
            assert np.array_equal(want_y, got_y)
    return rewritten


_KERNELS = [(2, 2), (3, 3), (2, 3), (1, 1)]
_STRIDES = [(1, 1), (2, 2), (3, 2)]
_DILATIONS = [(1, 1), (2, 2), (1, 2)]
_PADS = [(0, 0, 0, 0), (1, 1, 1, 1), (0, 1, 1, 0)]


def _combos():
    for k, s, d, p, ceil, order in itertools.product(_KERNELS, _STRIDES, _DILATIONS, _PADS, (0, 1), (0, 1)):
        if any(pad >= kk for pad, kk in zip(p, k + k)):
            continue  # ONNX Runtime requires pads smaller than the kernel
        yield {"kernel_shape": list(k), "strides": list(s), "dilations": list(d), "pads": list(p), "ceil_mode": ceil,
                   "storage_order": order}


@pytest.mark.skipif(um.OLD_ONNXRUNTIME, reason=um.OLD_ONNXRUNTIME_REASON)
@pytest.mark.parametrize("shape", [(2, 3, 7, 9), (1, 2, 8, 8)])
def test_every_attribute_combination_matches_onnxruntime(shape):
    cases = 0
    for attrs in _combos():
        assert tuple(session(pool_model(shape, attrs)).run(None, {"x": inputs(shape)[0]})[0].shape[2:]) == \
            pool_geometry(attrs, *shape[2:]).out, attrs
        assert_same_indices(pool_model(shape, attrs), shape)
        cases += 1
    assert cases > 150


@pytest.mark.parametrize("auto_pad", ["SAME_UPPER", "SAME_LOWER", "VALID"])
@pytest.mark.parametrize("kernel,strides", [((3, 3), (2, 2)), ((2, 2), (1, 1)), ((2, 3), (2, 1))])
def test_auto_pad_matches_onnxruntime(auto_pad, kernel, strides):
    shape = (1, 2, 7, 10)
    assert_same_indices(pool_model(shape, {"kernel_shape": list(kernel), "strides": list(strides), "auto_pad": auto_pad}),
                        shape, seeds=(0, 1))


@pytest.mark.parametrize("opset", range(11, 21))
def test_opsets_11_to_20(opset):
    shape = (1, 3, 9, 11)
    attrs = {"kernel_shape": [3, 3], "strides": [2, 2], "pads": [1, 1, 1, 1]}
    if opset >= 12:
        attrs["dilations"] = [1, 2]  # MaxPool-12 is where ONNX Runtime takes dilations with Indices
    rewritten = assert_same_indices(pool_model(shape, attrs, opset=opset), shape)
    assert rewritten.opset_import[0].version == opset


def test_dynamic_batch():
    shape = ("batch", 3, 7, 9)
    model = pool_model(shape, {"kernel_shape": [3, 3], "strides": [2, 2], "pads": [1, 1, 1, 1]})
    rewritten, _ = rewrite_model(model)
    before, after = session(model), session(rewritten)
    for batch in (1, 3):
        for x in inputs((batch, 3, 7, 9), batch):
            assert all(np.array_equal(a, b) for a, b in zip(before.run(None, {"x": x}), after.run(None, {"x": x})))


def test_dynamic_height_is_refused_with_what_to_do(tmp_path):
    src = tmp_path / "in.onnx"
    onnx.save(pool_model((1, 3, "h", 9), {"kernel_shape": [2, 2], "strides": [2, 2]}), str(src))
    with pytest.raises(SegnetError, match=r"in.onnx: MaxPool pool: .*dynamic.*fixed input size"):
        rewrite_unpool(src, tmp_path / "out.onnx")
    assert not (tmp_path / "out.onnx").exists()


def test_indices_through_gather_keep_working(tmp_path):
    """A consumer the fast path knows nothing about (a Gather of the flattened input at the argmax)."""
    shape = (2, 3, 7, 9)
    nodes = [helper.make_node("MaxPool", ["x"], ["y", "indices"], name="pool", kernel_shape=[3, 3], strides=[2, 2],
                              pads=[1, 1, 1, 1]),
             helper.make_node("Reshape", ["x", "flat"], ["x_flat"]),
             helper.make_node("Gather", ["x_flat", "indices"], ["picked"], axis=0)]
    graph = helper.make_graph(nodes, "gather", [helper.make_tensor_value_info("x", TensorProto.FLOAT, shape)],
                              [helper.make_tensor_value_info("picked", TensorProto.FLOAT, None),
                               helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
                              [onnx.numpy_helper.from_array(np.array([-1], np.int64), "flat")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = um.IR_VERSION
    rewritten, summary = rewrite_model(model)
    assert summary.indices == ["pool"]
    for x in inputs(shape):
        picked, pooled = session(rewritten).run(None, {"x": x})
        assert np.array_equal(picked, pooled)  # the value at each computed index is the window's maximum
        assert np.array_equal(picked, session(model).run(None, {"x": x})[0])
