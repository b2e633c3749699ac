"""`segnet check` never advises a fix that then refuses: its advice for pooling findings comes from dry-running
rewrite-unpool on the model, and says which form that rewrite takes, or why it would refuse and what to do."""

from __future__ import annotations

import onnx
import pytest
from onnx import TensorProto, helper

pytest.importorskip("onnx_graphsurgeon")
pytest.importorskip("onnxruntime")

import unpool_models as um

from segnet.errors import SegnetError
from segnet.export.rewrite_unpool import rewrite_unpool
from segnet.export.trt_lint import check_onnx


def _pool_model(shape, kernel, strides, opset=17):
    nodes = [helper.make_node("MaxPool", ["x"], ["y", "i"], name="pool", kernel_shape=kernel, strides=strides),
             helper.make_node("MaxUnpool", ["y", "i"], ["z"], name="unpool", kernel_shape=kernel, strides=strides)]
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, shape)],
                              [helper.make_tensor_value_info("z", TensorProto.FLOAT, None)])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    model.ir_version = um.IR_VERSION
    return model


MODELS = {
    "2x2": (_pool_model((1, 2, 8, 8), [2, 2], [2, 2]), "folds it into the index-free switch form"),
    "3x3": (_pool_model((1, 2, 9, 9), [3, 3], [2, 2]), "computes its Indices exactly"),
    "dynamic_hw": (_pool_model((1, 2, "h", "w"), [2, 2], [2, 2]), "cannot fix this model"),
    "opset10": (_pool_model((1, 2, 8, 8), [2, 2], [2, 2], opset=10), "cannot fix this model"),
    "opset20": (_pool_model((1, 2, 8, 8), [3, 3], [2, 2], opset=20), "still fails TensorRT 8.6"),
}


def _pool_fix(report) -> str:
    fixes = {i.fix for i in report.issues if i.op == "MaxPool" and i.severity == "error"}
    assert len(fixes) == 1, report.format()
    return fixes.pop()


@pytest.mark.parametrize("name", sorted(MODELS))
def test_advice_is_what_rewrite_unpool_then_does(tmp_path, name):
    model, expected = MODELS[name]
    src, out = tmp_path / f"{name}.onnx", tmp_path / f"{name}.trt.onnx"
    onnx.save(model, str(src))
    fix = _pool_fix(check_onnx(src, run_parser=False))
    assert expected in fix
    if fix.startswith("run `segnet rewrite-unpool"):
        rewrite_unpool(src, out)  # the advised fix works
        after = check_onnx(out, run_parser=False)
        if "still fails" in fix:  # ... and says what it leaves: here only the opset above 8.6's 17
            assert after.failing_versions() == ["8.6"]
            assert all("opset" in i.message for i in after.issues if i.severity == "error")
        else:
            assert after.ok, after.format()
    else:
        with pytest.raises(SegnetError) as refused:
            rewrite_unpool(src, out)
        reason = fix.split("cannot fix this model: ", 1)[1]
        assert reason in str(refused.value)  # the same reason, which says what to do
        assert "re-export" in reason
