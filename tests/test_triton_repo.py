"""`segnet deploy triton`: model repositories whose config.pbtxt Triton's own schema (model_config_pb2) parses."""

from __future__ import annotations

import json

import pytest

pytest.importorskip("tritonclient.grpc.model_config_pb2", reason="tritonclient[grpc] is not installed")

from google.protobuf import text_format
from tritonclient.grpc import model_config_pb2 as mc

from segnet.benchmarks.tiny_onnx import build_tiny_onnx, tiny_spec
from segnet.cli import main
from segnet.errors import SegnetError
from segnet.export import triton_repo
from segnet.spec import Artifact, ModelSpec, write_sidecar


def parse(folder):
    config = mc.ModelConfig()
    text_format.Parse((folder / "config.pbtxt").read_text(), config)
    return config


def test_dynamic_batch_onnx_gets_batching_dims_without_batch_and_the_spec(tmp_path):
    model = build_tiny_onnx(tmp_path / "road.onnx", embed_preprocess=True, outputs=("labels", "logits"), batch=None)
    assert main(["deploy", "triton", str(model), "--repo", str(tmp_path / "repo"), "--kind", "cpu",
                 "--max-batch", "16", "--preferred", "4,8", "--queue-delay-us", "3000", "--instances", "2"]) == 0
    folder = tmp_path / "repo" / "road"
    assert (folder / "1" / "model.onnx").read_bytes() == model.read_bytes()
    config = parse(folder)
    assert config.name == "road" and config.platform == "onnxruntime_onnx" and config.max_batch_size == 16
    assert [(t.name, mc.DataType.Name(t.data_type), list(t.dims)) for t in config.input] == [
        ("input", "TYPE_UINT8", [32, 48, 3])]
    assert {t.name: (mc.DataType.Name(t.data_type), list(t.dims)) for t in config.output} == {
        "labels": ("TYPE_UINT8", [32, 48]), "logits": ("TYPE_FP32", [4, 32, 48])}
    assert list(config.dynamic_batching.preferred_batch_size) == [4, 8]
    assert config.dynamic_batching.max_queue_delay_microseconds == 3000
    assert [(g.kind, g.count) for g in config.instance_group] == [(mc.ModelInstanceGroup.KIND_CPU, 2)]
    spec = ModelSpec.from_json(config.parameters["segnet.spec"].string_value)
    assert spec == tiny_spec()
    assert json.loads(config.parameters["segnet.class_names"].string_value) == spec.class_names
    assert json.loads(config.parameters["segnet.palette"].string_value) == [list(c) for c in spec.palette]
    assert Artifact.from_dict(json.loads(config.parameters["segnet.artifact"].string_value)).embedded_preprocess


def test_fixed_batch_model_is_not_batched_and_keeps_its_full_shape(tmp_path):
    model = build_tiny_onnx(tmp_path / "fixed.onnx", outputs=("logits",))
    folder = triton_repo.write_repository(model, tmp_path / "repo")
    config = parse(folder)
    assert config.max_batch_size == 0 and not config.HasField("dynamic_batching")
    assert list(config.input[0].dims) == [1, 3, 32, 48]
    assert config.instance_group[0].kind == mc.ModelInstanceGroup.KIND_GPU


def test_engine_becomes_a_tensorrt_plan_with_the_tensors_of_its_onnx(tmp_path):
    onnx_path = build_tiny_onnx(tmp_path / "m.onnx", outputs=("logits",), batch=None, sidecar=True)
    engine = tmp_path / "m.fp16.engine"
    engine.write_bytes(b"plan bytes: copied as they are, Triton's TensorRT backend reads them")
    write_sidecar(engine, tiny_spec(), Artifact(file=engine.name, format="engine", precision="fp16", batch=None))
    folder = triton_repo.write_repository(engine, tmp_path / "repo", name="m-fp16")
    config = parse(folder)
    assert config.platform == "tensorrt_plan" and (folder / "1" / "model.plan").read_bytes() == engine.read_bytes()
    assert config.max_batch_size == 8 and list(config.input[0].dims) == [3, 32, 48]
    with pytest.raises(SegnetError, match="GPU only"):
        triton_repo.write_repository(engine, tmp_path / "repo", name="cpu", kind="cpu")
    (onnx_path).unlink()
    with pytest.raises(SegnetError, match="pass --onnx"):
        triton_repo.write_repository(engine, tmp_path / "repo", name="other")


def test_check_config_applies_triton_rules(tmp_path):
    model = build_tiny_onnx(tmp_path / "m.onnx", outputs=("logits",), batch=None)
    folder = triton_repo.write_repository(model, tmp_path / "repo")
    text = (folder / "config.pbtxt").read_text()
    inputs, outputs, _ = triton_repo.onnx_tensors(model)
    triton_repo.check_config(text, "config.pbtxt", inputs, outputs)
    with pytest.raises(SegnetError, match="not a valid Triton model configuration"):
        triton_repo.check_config(text.replace("max_batch_size", "max_batch"), "config.pbtxt")
    with pytest.raises(SegnetError, match="dynamic_batching needs max_batch_size > 0"):
        triton_repo.check_config(text.replace("max_batch_size: 8", "max_batch_size: 0"), "config.pbtxt")
    with pytest.raises(SegnetError, match="preferred_batch_size"):
        triton_repo.check_config(text.replace("max_batch_size: 8", "max_batch_size: 2"), "config.pbtxt")
    with pytest.raises(SegnetError, match="differ from the model"):
        triton_repo.check_config(text.replace("dims: 4", "dims: 5"), "config.pbtxt", inputs, outputs)
    config = parse(folder)
    del config.parameters["segnet.spec"]
    with pytest.raises(SegnetError, match="parameter 'segnet.spec' missing"):
        triton_repo.check_config(text_format.MessageToString(config), "config.pbtxt")


def test_bad_requests_are_one_line_errors_and_nothing_is_overwritten(tmp_path, capsys):
    model = build_tiny_onnx(tmp_path / "m.onnx", outputs=("logits",))
    repo = tmp_path / "repo"
    assert main(["deploy", "triton", str(model), "--repo", str(repo)]) == 0
    before = (repo / "m" / "config.pbtxt").read_text()
    capsys.readouterr()
    assert main(["deploy", "triton", str(model), "--repo", str(repo)]) == 2
    assert "exists: choose another --name" in capsys.readouterr().err
    assert (repo / "m" / "config.pbtxt").read_text() == before
    assert main(["deploy", "triton", str(tmp_path / "missing.onnx"), "--repo", str(repo)]) == 2
    assert "model file not found" in capsys.readouterr().err
    foreign = build_tiny_onnx(tmp_path / "foreign.onnx", outputs=("logits",), metadata=False)
    assert main(["deploy", "triton", str(foreign), "--repo", str(repo)]) == 2
    err = capsys.readouterr().err
    assert "no segnet spec" in err and len(err.strip().splitlines()) == 1
    assert main(["deploy", "triton", str(model), "--repo", str(repo), "--name", "x", "--preferred", "a"]) == 2
    assert "--preferred" in capsys.readouterr().err
    assert sorted(p.name for p in repo.iterdir()) == ["m"]  # no half-written folders
