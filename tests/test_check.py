"""segnet check: TensorRT findings named by node, per version, with the right exit codes and JSON."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import onnx
import pytest
import unpool_models as um
from onnx import TensorProto, helper, numpy_helper

from segnet.cli import main
from segnet.errors import SegnetError
from segnet.export.trt_lint import check_onnx


def errors(report, version=None):
    return [i for i in report.issues if i.severity == "error" and (version is None or version in i.versions)]


def tiny_model(nodes, inits=(), opset=17, out_type=TensorProto.FLOAT, in_shape=(1, 2, 4, 4), out_shape=None):
    graph = helper.make_graph(list(nodes), "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, in_shape)],
                              [helper.make_tensor_value_info("y", out_type, out_shape or in_shape)], list(inits))
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])


@pytest.fixture(scope="module")
def dynamo_segnet(tmp_path_factory):
    pytest.importorskip("torch")
    pytest.importorskip("onnxscript")
    path = tmp_path_factory.mktemp("check") / "segnet.onnx"
    return um.export_dynamo(um.segnet_like(), (1, 3, 32, 48), path)


def test_dynamo_segnet_fails_with_pool_and_scatter_findings_then_rewrite_passes(dynamo_segnet, tmp_path):
    pytest.importorskip("onnx_graphsurgeon")
    model = onnx.load(str(dynamo_segnet))
    pools = {n.name for n in model.graph.node
             if n.op_type == "MaxPool" and any(o.name for o in model.graph.node for i in o.input if i == n.output[1])}
    scatters = {n.name for n in model.graph.node if n.op_type == "ScatterND"}
    assert pools and len(scatters) == 2
    report = check_onnx(dynamo_segnet, run_parser=False)
    assert not report.ok and report.failing_versions() == ["8.6", "10", "11"]
    flagged_pools = {i.node for i in errors(report) if i.op == "MaxPool" and "Indices" in i.message}
    assert flagged_pools == pools
    flagged_scatter = {i.node for i in report.issues if i.op == "ScatterND"}
    assert flagged_scatter == scatters
    assert all("rewrite-unpool" in i.fix for i in report.issues if i.op in ("MaxPool", "ScatterND"))

    from segnet.export.rewrite_unpool import rewrite_unpool

    fixed = tmp_path / "segnet.trt.onnx"
    rewrite_unpool(dynamo_segnet, fixed)
    after = check_onnx(fixed, run_parser=False)
    assert after.ok and not errors(after), after.format()


def test_maxunpool_is_an_error_for_every_version(tmp_path):
    path = um.save(um.onnx_segnet_maxunpool((1, 3, 8, 8), False), tmp_path / "m.onnx")
    report = check_onnx(path, run_parser=False)
    unpool = [i for i in errors(report) if i.node == "unpool1"]
    assert len(unpool) == 1 and unpool[0].versions == ["8.6", "10", "11"] and "rewrite-unpool" in unpool[0].fix
    assert any(i.node == "pool1" for i in errors(report))


@pytest.mark.parametrize("opset,failing", [(17, []), (18, ["8.6"]), (26, ["8.6", "10", "11"])])
def test_opset_range_per_version(tmp_path, opset, failing):
    path = tmp_path / "relu.onnx"
    um.save(tiny_model([helper.make_node("Relu", ["x"], ["y"], name="relu")], opset=opset), path)
    report = check_onnx(path, run_parser=False)
    assert report.failing_versions() == failing
    if failing:
        assert "--opset 17" in errors(report)[0].fix


def test_opset_21_is_a_warning_for_10_only(tmp_path):
    path = tmp_path / "relu.onnx"
    model = tiny_model([helper.make_node("Relu", ["x"], ["y"], name="relu")], opset=21)
    model.ir_version = 10
    onnx.save(model, str(path))
    report = check_onnx(path, run_parser=False)
    assert report.failing_versions() == ["8.6"]
    assert any(i.severity == "warning" and i.versions == ["10"] and "opset 21" in i.message for i in report.issues)


def _qdq_model(zero_point: np.ndarray):
    inits = [numpy_helper.from_array(np.array(0.05, np.float32), "scale"),
             numpy_helper.from_array(zero_point, "zp")]
    nodes = [helper.make_node("QuantizeLinear", ["x", "scale", "zp"], ["q"], name="quant_in"),
             helper.make_node("DequantizeLinear", ["q", "scale", "zp"], ["y"], name="dequant_in")]
    return tiny_model(nodes, inits)


def test_qdq_non_zero_zero_point_is_flagged(tmp_path):
    path = um.save(_qdq_model(np.array(3, np.int8)), tmp_path / "asym.onnx")
    report = check_onnx(path, run_parser=False)
    assert {i.node for i in errors(report)} == {"quant_in", "dequant_in"}
    assert all("symmetric" in i.message for i in errors(report))

    symmetric = um.save(_qdq_model(np.array(0, np.int8)), tmp_path / "sym.onnx")
    assert check_onnx(symmetric, run_parser=False).ok

    unsigned = um.save(_qdq_model(np.array(0, np.uint8)), tmp_path / "u8.onnx")
    assert {i.node for i in errors(check_onnx(unsigned, run_parser=False))} == {"quant_in", "dequant_in"}


def test_resize_cubic_and_scatternd_reduction_are_errors(tmp_path):
    inits = [numpy_helper.from_array(np.array([1, 1, 2, 2], np.float32), "scales"),
             numpy_helper.from_array(np.zeros((1, 1), np.int64), "idx"),
             numpy_helper.from_array(np.ones((1, 2, 8, 8), np.float32), "upd")]
    nodes = [helper.make_node("Resize", ["x", "", "scales"], ["r"], name="up_cubic", mode="cubic"),
             helper.make_node("ScatterND", ["r", "idx", "upd"], ["y"], name="scatter_add", reduction="add")]
    path = um.save(tiny_model(nodes, inits, out_shape=(1, 2, 8, 8)), tmp_path / "m.onnx")
    report = check_onnx(path, run_parser=False)
    assert {i.node for i in errors(report)} == {"up_cubic", "scatter_add"}


def test_unsupported_operator_and_double_type(tmp_path):
    nodes = [helper.make_node("Cast", ["x"], ["d"], name="to_double", to=TensorProto.DOUBLE),
             helper.make_node("Det", ["d"], ["y"], name="det")]
    path = um.save(tiny_model(nodes, in_shape=(2, 3, 3), out_type=TensorProto.DOUBLE, out_shape=(2,)),
                   tmp_path / "m.onnx")
    report = check_onnx(path, run_parser=False)
    assert [(i.node, i.op) for i in errors(report)] == [("det", "Det")] * 1
    assert errors(report)[0].versions == ["8.6", "10", "11"]
    assert any(i.severity == "warning" and "DOUBLE" in i.message for i in report.issues)


def test_bad_files_give_one_line_errors(tmp_path, capsys):
    not_onnx = tmp_path / "notes.onnx"
    not_onnx.write_text("this is not a model")
    for path in (not_onnx, tmp_path / "missing.onnx"):
        with pytest.raises(SegnetError, match=path.name):
            check_onnx(path)
        assert main(["check", str(path)]) != 0
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and err[0].startswith("segnet check: error:") and path.name in err[0]
    assert main(["check", str(not_onnx), "--trt", "7"]) != 0
    assert "unknown TensorRT version" in capsys.readouterr().err


def test_cli_json_and_exit_codes(tmp_path, capsys):
    bad = um.save(um.onnx_segnet_maxunpool((1, 3, 8, 8), False), tmp_path / "bad.onnx")
    assert main(["check", str(bad), "--json", "--trt", "10,11"]) == 1
    data = json.loads(capsys.readouterr().out)
    assert data["ok"] is False and data["versions"] == ["10", "11"] and data["failing_versions"] == ["10", "11"]
    assert {"unpool1", "pool1"} <= {i["node"] for i in data["issues"]}

    good = um.save(tiny_model([helper.make_node("Relu", ["x"], ["y"], name="relu")]), tmp_path / "good.onnx")
    assert main(["check", str(good)]) == 0
    assert "passes TensorRT 8.6, 10, 11" in capsys.readouterr().out


def test_check_runs_without_torch(tmp_path):
    path = um.save(um.onnx_segnet_maxunpool((1, 3, 8, 8), False), tmp_path / "m.onnx")
    code = ("import sys, importlib.abc\n"
            "class Block(importlib.abc.MetaPathFinder):\n"
            "    def find_spec(self, name, path, target=None):\n"
            "        if name == 'torch' or name.startswith('torch.'):\n"
            "            raise ImportError('torch is blocked')\n"
            "sys.meta_path.insert(0, Block())\n"
            "from segnet.cli import main\n"
            f"sys.exit(main(['check', {str(path)!r}, '--json']))\n")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert result.returncode == 1, result.stderr
    assert json.loads(result.stdout)["failing_versions"] == ["8.6", "10", "11"]


class _FakeParserError:
    """What TensorRT 10's IParserError offers: desc(), node(), node_name(), node_operator()."""

    def __init__(self, desc: str, node: int, name: str, op: str) -> None:
        self._desc, self._node, self._name, self._op = desc, node, name, op

    def desc(self) -> str:
        return self._desc

    def node(self) -> int:
        return self._node

    def node_name(self) -> str:
        return self._name

    def node_operator(self) -> str:
        return self._op


def _fake_tensorrt(version: str, errors_list):
    import types

    trt = types.ModuleType("tensorrt")
    trt.__version__ = version

    class Logger:
        WARNING = 2

        def __init__(self, severity: int) -> None:
            self.severity = severity

    class Builder:
        def __init__(self, logger) -> None:
            self.logger = logger

        def create_network(self, flags: int):
            assert flags == 0  # no EXPLICIT_BATCH flag on this fake (as in TensorRT 11)
            return object()

    class OnnxParser:
        def __init__(self, network, logger) -> None:
            self.num_errors = len(errors_list)

        def parse_from_file(self, path: str) -> bool:
            return not errors_list

        def get_error(self, index: int):
            return errors_list[index]

    trt.Logger, trt.Builder, trt.OnnxParser = Logger, Builder, OnnxParser
    return trt


def test_real_parser_errors_are_reported_by_node(tmp_path, monkeypatch):
    path = um.save(tiny_model([helper.make_node("Relu", ["x"], ["y"], name="relu")]), tmp_path / "m.onnx")
    failure = _FakeParserError("Assertion failed: unsupported thing", 0, "relu", "Relu")
    monkeypatch.setitem(sys.modules, "tensorrt", _fake_tensorrt("10.3.0", [failure]))
    report = check_onnx(path)
    assert report.parser["version"] == "10.3.0" and report.parser["ok"] is False
    assert report.parser["errors"] == [{"message": "Assertion failed: unsupported thing", "node_index": 0,
                                        "node_name": "relu", "node_operator": "Relu"}]
    assert report.failing_versions() == ["10"]
    parsed = [i for i in errors(report) if i.node == "relu"]
    assert len(parsed) == 1 and parsed[0].op == "Relu" and "TensorRT 10.3.0 parser" in parsed[0].message

    monkeypatch.setitem(sys.modules, "tensorrt", _fake_tensorrt("11.1.0", []))
    report = check_onnx(path)
    assert report.ok and report.parser["ok"] is True


def test_dynamic_batch_dynamo_export_is_rewritten_exactly(tmp_path):
    torch = pytest.importorskip("torch")
    pytest.importorskip("onnx_graphsurgeon")
    from segnet.export.rewrite_unpool import rewrite_unpool

    src, out = tmp_path / "dyn.onnx", tmp_path / "dyn.trt.onnx"
    batch = torch.export.Dim("batch", min=1, max=8)
    torch.onnx.export(um.segnet_like(), (torch.randn(2, 3, 16, 24),), str(src), dynamo=True, opset_version=17,
                      input_names=["input"], dynamic_shapes=({0: batch},), verbose=False)
    um.save(onnx.load(str(src)), src)
    rewrite_unpool(src, out)
    report = check_onnx(out, run_parser=False)
    assert report.ok and any(i.severity == "info" and "dynamic" in i.message for i in report.issues)
    x = um.tied_input((3, 3, 16, 24), seed=5)
    assert np.array_equal(um.run_ort(src, {"input": x}), um.run_ort(out, {"input": x}))
