"""The proved ScatterND fold: index arithmetic + ScatterND is folded into the switch form only when the subgraph
is the 2x2 unpooling of the pool's own input; anything else keeps its ScatterND on computed indices, exactly."""

from __future__ import annotations

import numpy as np
import pytest
from onnx import helper, numpy_helper

pytest.importorskip("onnx_graphsurgeon")
ort = pytest.importorskip("onnxruntime")

import unpool_models as um

from segnet.export.rewrite_unpool import rewrite_model


def _flat_scatter(shift: np.ndarray | None, shape=(1, 2, 4, 6)) -> helper.ModelProto:
    """x -> MaxPool 2x2 -> Indices (+ shift) -> ScatterND into N*C*H*W zeros -> Reshape to x's shape."""
    total = int(np.prod(shape))
    nodes = [helper.make_node("MaxPool", ["x"], ["y", "i"], name="pool", kernel_shape=[2, 2], strides=[2, 2])]
    inits = [numpy_helper.from_array(np.array([-1, 1], np.int64), "col"),
             numpy_helper.from_array(np.array([-1], np.int64), "flat"),
             numpy_helper.from_array(np.array([total], np.int64), "total"),
             numpy_helper.from_array(np.array(shape, np.int64), "xshape")]
    index = "i"
    if shift is not None:
        nodes.append(helper.make_node("Add", ["i", "shift"], ["i_shifted"]))
        inits.append(numpy_helper.from_array(shift.astype(np.int64), "shift"))
        index = "i_shifted"
    nodes += [helper.make_node("Reshape", [index, "col"], ["idx"]),
              helper.make_node("Reshape", ["y", "flat"], ["upd"]),
              helper.make_node("ConstantOfShape", ["total"], ["zeros"],
                               value=numpy_helper.from_array(np.zeros(1, np.float32))),
              helper.make_node("ScatterND", ["zeros", "idx", "upd"], ["scattered"], name="scatter"),
              helper.make_node("Reshape", ["scattered", "xshape"], ["z"])]
    graph = helper.make_graph(nodes, "flat_scatter", [helper.make_tensor_value_info("x", 1, list(shape))],
                              [helper.make_tensor_value_info("z", 1, list(shape))], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = um.IR_VERSION
    return model


def _same(model, rewritten, shape=(1, 2, 4, 6)):
    for x in (np.random.default_rng(0).standard_normal(shape).astype(np.float32), um.tied_input(shape)):
        want = ort.InferenceSession(model.SerializeToString()).run(None, {"x": x})[0]
        got = ort.InferenceSession(rewritten.SerializeToString()).run(None, {"x": x})[0]
        assert np.array_equal(want, got)


def test_flat_nchw_scatter_is_proved_and_folded():
    model = _flat_scatter(None)
    rewritten, summary = rewrite_model(model)
    assert summary.switch == ["scatter (proved ScatterND fold) <- pool"] and not summary.indices
    assert "ScatterND" not in {n.op_type for n in rewritten.graph.node}
    _same(model, rewritten)


def test_scatter_that_is_not_the_unpooling_is_not_folded():
    """Channel 0's values scattered into channel 1's places: the index arithmetic the old structural match of the
    dynamo pattern accepted (Add is index arithmetic there too), which made it unpool into the wrong places."""
    model = _flat_scatter(np.array([24, 0]).reshape(1, 2, 1, 1))
    rewritten, summary = rewrite_model(model)
    assert summary.indices == ["pool"] and not summary.switch
    assert "ScatterND" in {n.op_type for n in rewritten.graph.node}
    _same(model, rewritten)


def test_without_onnxruntime_the_fold_is_not_tried_and_the_general_path_is_taken(monkeypatch):
    from segnet.errors import MissingDependencyError
    from segnet.export import fold_probe

    real = fold_probe.require

    def no_onnxruntime(module, feature=""):
        if module == "onnxruntime":
            raise MissingDependencyError("onnxruntime is needed (proving a fold) but cannot be imported")
        return real(module, feature)

    monkeypatch.setattr(fold_probe, "require", no_onnxruntime)
    model = _flat_scatter(None)
    rewritten, summary = rewrite_model(model)
    assert summary.indices == ["pool"] and not summary.switch
    assert any("ScatterND fold not tried" in line for line in summary.lines())
    _same(model, rewritten)
