"""The engine builder, driven through strict TensorRT / cuda-python fakes generated from the stubs."""

from __future__ import annotations

import json
import sys
import types
from pathlib import Path

import pytest
from fakes import Layer, Script, Tensor, install, tiny_onnx

from segnet.errors import MissingDependencyError, SegnetError
from segnet.export.tensorrt_build import build_engine
from segnet.nvidia.build_options import BuildOptions
from segnet.spec import FramePath, read_sidecar


@pytest.fixture
def onnx_file(tmp_path: Path) -> Path:
    return tiny_onnx(tmp_path / "model.onnx")


@pytest.fixture
def qdq_file(tmp_path: Path) -> Path:
    return tiny_onnx(tmp_path / "model.int8.onnx", qdq=True)


def _network_flags(trt) -> set[str]:
    (flags,) = trt.called("Builder.create_network")[0]
    return trt.network_flag_names(flags)


def _builder_flags(trt) -> set[str]:
    return {args[0].name for args in trt.called("IBuilderConfig.set_flag")}


@pytest.mark.parametrize(("version", "options", "qdq", "network", "flags"), [
    ("8.6", {}, False, {"EXPLICIT_BATCH"}, set()),
    ("8.6", {"fp16": True}, False, {"EXPLICIT_BATCH"}, {"FP16"}),
    ("8.6", {"int8": True}, True, {"EXPLICIT_BATCH"}, {"INT8"}),
    ("10.3", {}, False, set(), set()),
    ("10.3", {"fp16": True}, False, set(), {"FP16"}),
    ("10.3", {"int8": True}, True, {"STRONGLY_TYPED"}, set()),
    ("10.3", {"int8": True, "fp16": True}, True, set(), {"INT8", "FP16"}),
    ("10.13", {"fp16": True}, False, set(), {"FP16"}),
    ("11", {}, False, set(), set()),
    ("11", {"int8": True}, True, set(), set()),
])
def test_network_and_precision_flags_per_version(monkeypatch, tmp_path, version, options, qdq, network, flags):
    trt, _ = install(monkeypatch, version)
    model = tiny_onnx(tmp_path / "model.onnx", qdq=qdq)
    engine = build_engine(model, tmp_path / "model.engine", BuildOptions(**options), log=lambda m: None)
    assert engine.read_bytes() == trt.script.plan
    assert _network_flags(trt) == network
    assert _builder_flags(trt) == flags
    # the bits passed are computed from this version's enum values (11.x renumbered them)
    (bits,) = trt.called("Builder.create_network")[0]
    expected = sum(1 << int(getattr(trt.module.NetworkDefinitionCreationFlag, n)) for n in network)
    assert bits == expected


def test_fp16_on_tensorrt_11_converts_the_onnx_first(monkeypatch, tmp_path, onnx_file):
    trt, _ = install(monkeypatch, "11")
    converted = []

    def convert_fp16(onnx_in, onnx_out):
        converted.append(Path(onnx_in))
        Path(onnx_out).write_bytes(Path(onnx_in).read_bytes())

    monkeypatch.setitem(sys.modules, "segnet.export.fp16", types.SimpleNamespace(convert_fp16=convert_fp16))
    build_engine(onnx_file, tmp_path / "m.engine", BuildOptions(fp16=True), log=lambda m: None)
    assert converted == [onnx_file]
    (parsed,) = trt.called("OnnxParser.parse_from_file")[0]
    assert parsed.endswith(".fp16.onnx") and parsed != str(onnx_file)
    assert _builder_flags(trt) == set()  # BuilderFlag.FP16 does not exist on 11.x
    assert not Path(parsed).exists()  # the temporary conversion is cleaned up


def test_int8_without_qdq_nodes_explains_how_to_get_them(monkeypatch, tmp_path, onnx_file):
    install(monkeypatch, "10.3")
    with pytest.raises(SegnetError, match="segnet export .*--int8"):
        build_engine(onnx_file, tmp_path / "m.engine", BuildOptions(int8=True))


@pytest.mark.parametrize("version", ["8.6", "10.13"])
def test_parse_errors_name_the_onnx_node(monkeypatch, tmp_path, version):
    error = {"desc": "MaxPool: indices output is not supported", "node": 0, "node_name": "pool1",
             "node_operator": "MaxPool"}
    install(monkeypatch, version, Script(parse_errors=[error]))
    model = tiny_onnx(tmp_path / "model.onnx", node_name="pool1_from_onnx")
    with pytest.raises(SegnetError) as info:
        build_engine(model, tmp_path / "m.engine")
    message = str(info.value)
    assert "indices output is not supported" in message and "segnet check" in message
    # 10.x reports the node's name itself; 8.6 only its index, which is looked up in the ONNX graph
    assert ("'pool1' (MaxPool)" in message) if version == "10.13" else ("'pool1_from_onnx'" in message)
    assert not (tmp_path / "m.engine").exists()


def test_failed_build_reports_the_log_and_leaves_no_file(monkeypatch, tmp_path, onnx_file):
    install(monkeypatch, "10.3", Script(build_fails=True))
    with pytest.raises(SegnetError, match="Network validation failed"):
        build_engine(onnx_file, tmp_path / "out" / "m.engine", BuildOptions(verbose=True))
    assert not (tmp_path / "out" / "m.engine").exists()
    assert not [p for p in (tmp_path / "out").glob("*") if p.suffix == ".engine" or ".tmp" in p.name]
    assert "Network validation failed" in (tmp_path / "out" / "m.build.log").read_text()


def test_builder_without_gpu_is_a_missing_dependency(monkeypatch, tmp_path, onnx_file):
    install(monkeypatch, "10.3", Script(builder_fails=True))
    with pytest.raises(MissingDependencyError, match="no usable NVIDIA GPU"):
        build_engine(onnx_file, tmp_path / "m.engine")


def test_workspace_opt_level_and_dla(monkeypatch, tmp_path, onnx_file):
    trt, _ = install(monkeypatch, "10.3", Script(num_dla_cores=2))
    options = BuildOptions(fp16=True, workspace_mib=256, opt_level=5, dla_core=1, gpu_fallback=True)
    build_engine(onnx_file, tmp_path / "m.engine", options, log=lambda m: None)
    pool, size = trt.called("IBuilderConfig.set_memory_pool_limit")[0]
    assert pool == trt.module.MemoryPoolType.WORKSPACE and size == 256 << 20
    assert trt.called("IBuilderConfig.builder_optimization_level=") == [(5,)]
    assert trt.called("IBuilderConfig.default_device_type=") == [(trt.module.DeviceType.DLA,)]
    assert trt.called("IBuilderConfig.DLA_core=") == [(1,)]
    assert _builder_flags(trt) == {"FP16", "GPU_FALLBACK"}


def test_dla_on_a_device_without_dla(monkeypatch, tmp_path, onnx_file):
    install(monkeypatch, "10.3", Script(num_dla_cores=0))
    with pytest.raises(SegnetError, match="no DLA cores"):
        build_engine(onnx_file, tmp_path / "m.engine", BuildOptions(fp16=True, dla_core=0))


def test_dynamic_batch_profile(monkeypatch, tmp_path):
    script = Script(inputs=[Tensor("input", (-1, 3, 4, 6))], outputs=[Tensor("logits", (-1, 3, 4, 6))])
    trt, _ = install(monkeypatch, "10.3", script)
    model = tiny_onnx(tmp_path / "model.onnx", shape=("N", 3, 4, 6))
    engine = build_engine(model, tmp_path / "m.engine", BuildOptions(dynamic_batch=(1, 4, 8)), log=lambda m: None)
    ((name, *shapes),) = trt.called("IOptimizationProfile.set_shape")
    assert name == "input" and [tuple(s) for s in shapes] == [(1, 3, 4, 6), (4, 3, 4, 6), (8, 3, 4, 6)]
    assert len(trt.called("IBuilderConfig.add_optimization_profile")) == 1
    assert read_sidecar(engine)[1].batch is None


def test_dynamic_frame_size_profile(monkeypatch, tmp_path):
    """A frame-path model with a dynamic frame size gets a profile from its export's range, opt from
    --frame-opt (default the max); the fixed-size alpha input gets none."""
    frame = FramePath(min_size=(240, 320), max_size=(1080, 1920), outputs=["overlay"]).to_dict()
    script = Script(inputs=[Tensor("frame", (1, -1, -1, 3), "UINT8"), Tensor("alpha", (3,))],
                    outputs=[Tensor("overlay", (1, -1, -1, 3), "UINT8")])
    model = tiny_onnx(tmp_path / "model.onnx", shape=(1, "height", "width", 3), frame=frame)
    for options, opt in ((BuildOptions(), (1, 1080, 1920, 3)), (BuildOptions(frame_opt=(720, 1280)), (1, 720, 1280, 3))):
        trt, _ = install(monkeypatch, "10.3", script)
        engine = build_engine(model, tmp_path / "m.engine", options, log=lambda m: None)
        ((name, *shapes),) = trt.called("IOptimizationProfile.set_shape")
        assert name == "frame" and [tuple(s) for s in shapes] == [(1, 240, 320, 3), opt, (1, 1080, 1920, 3)]
        assert read_sidecar(engine)[1].frame == frame and read_sidecar(engine)[1].batch == 1
    install(monkeypatch, "10.3", script)
    with pytest.raises(SegnetError, match="outside the model's frame sizes"):
        build_engine(model, tmp_path / "m.engine", BuildOptions(frame_opt=(2000, 1280)))
    install(monkeypatch, "10.3", Script(inputs=[Tensor("input", (1, 3, -1, -1))]))
    with pytest.raises(SegnetError, match="dynamic height/width"):
        build_engine(tiny_onnx(tmp_path / "plain.onnx"), tmp_path / "m.engine")


def test_dynamic_batch_mismatches(monkeypatch, tmp_path, onnx_file):
    install(monkeypatch, "10.3", Script(inputs=[Tensor("input", (-1, 3, 4, 6))]))
    with pytest.raises(SegnetError, match="--dynamic-batch MIN OPT MAX"):
        build_engine(onnx_file, tmp_path / "m.engine")
    install(monkeypatch, "10.3")
    with pytest.raises(SegnetError, match="fixed batch of 1"):
        build_engine(onnx_file, tmp_path / "m.engine", BuildOptions(dynamic_batch=(1, 2, 4)))


def test_timing_cache_is_read_and_written_back(monkeypatch, tmp_path, onnx_file):
    cache = tmp_path / "trt.cache"
    trt, _ = install(monkeypatch, "10.13")
    build_engine(onnx_file, tmp_path / "a.engine", BuildOptions(timing_cache=cache), log=lambda m: None)
    assert trt.called("IBuilderConfig.create_timing_cache") == [(b"",)]
    assert cache.read_bytes() == b"+timings"
    trt, _ = install(monkeypatch, "10.13")
    build_engine(onnx_file, tmp_path / "b.engine", BuildOptions(timing_cache=cache), log=lambda m: None)
    assert trt.called("IBuilderConfig.create_timing_cache") == [(b"+timings",)]
    assert trt.called("IBuilderConfig.set_timing_cache")[0][1] is False
    assert cache.read_bytes() == b"+timings+timings"


def test_sidecar_records_engine_facts(monkeypatch, tmp_path, onnx_file):
    install(monkeypatch, "10.3", name=b"Orin", major=8, minor=7)
    engine = build_engine(onnx_file, tmp_path / "model.fp16.engine", BuildOptions(fp16=True), log=lambda m: None)
    spec, artifact = read_sidecar(engine)
    assert spec.arch == "segnet_lite" and spec.input_size == (4, 6)
    assert artifact.format == "engine" and artifact.precision == "fp16" and artifact.batch == 1
    assert artifact.input_name == "input" and artifact.output_names == ["logits"]
    details = artifact.details
    assert details["tensorrt_version"] == "10.3.0.26"
    assert (details["gpu_name"], details["compute_capability"]) == ("Orin", "8.7")
    assert details["build_options"]["fp16"] is True and details["onnx_file"] == "model.onnx"
    import hashlib

    assert details["onnx_sha256"] == hashlib.sha256(onnx_file.read_bytes()).hexdigest()
    assert json.loads((tmp_path / "model.json").read_text())["artifacts"]["model.fp16.engine"]["format"] == "engine"


@pytest.mark.parametrize("precision", [[], ["--fp16"]])
def test_models_whose_names_differ_after_a_dot_get_their_own_engine_and_sidecar(monkeypatch, tmp_path, capsys,
                                                                                  precision):
    """`segnet build lite_w0.25.onnx` and `segnet build lite_w0.5.onnx`: neither overwrites the other's files."""
    from segnet.cli import main

    install(monkeypatch, "10.3")
    tag = ".fp16" if precision else ""
    for name in ("lite_w0.25", "lite_w0.5"):
        model = tiny_onnx(tmp_path / f"{name}.onnx")
        assert main(["build", str(model), "--verbose", *precision]) == 0
        assert f"wrote {tmp_path / f'{name}{tag}.engine'}" in capsys.readouterr().out
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        f"{name}{ext}" for name in ("lite_w0.25", "lite_w0.5")
        for ext in (".onnx", f"{tag}.engine", ".json", ".build.log"))
    for name in ("lite_w0.25", "lite_w0.5"):
        engine = tmp_path / f"{name}{tag}.engine"
        _, artifact = read_sidecar(engine)
        assert artifact.file == engine.name and artifact.details["onnx_file"] == f"{name}.onnx"
        assert set(json.loads((tmp_path / f"{name}.json").read_text())["artifacts"]) == {engine.name}


def test_missing_onnx_file(monkeypatch, tmp_path):
    install(monkeypatch)
    with pytest.raises(SegnetError, match="not found"):
        build_engine(tmp_path / "nope.onnx")


def test_fake_rejects_api_the_stubs_lack(monkeypatch):
    """The fakes are strict: what TensorRT does not declare cannot be used by accident."""
    trt, _ = install(monkeypatch, "11")
    with pytest.raises(AttributeError):
        _ = trt.module.BuilderFlag.FP16
    with pytest.raises(AttributeError):
        _ = trt.module.NetworkDefinitionCreationFlag.EXPLICIT_BATCH
    builder = trt.module.Builder(object())
    with pytest.raises(TypeError, match="does not match the stubs"):
        builder.create_network(flags=0, strongly_typed=True)
    with pytest.raises(AttributeError, match="cannot be set"):
        builder.create_builder_config().max_workspace_size = 1 << 20  # removed in TensorRT 10


def switch_network() -> list[Layer]:
    """One max-pool switch as the ONNX parser lays it out: ReLU -> 4 phase Slices -> Max tree -> Equal per phase
    -> boolean tie-break; the pooled maximum feeds the next conv, the switch (cast) the unpooling Mul."""
    phases = [Layer(f"phase{k}", "SLICE", ["relu"], [(f"p{k}", "FLOAT")]) for k in range(4)]
    equals = [Layer(f"eq{k}", "ELEMENTWISE", [f"p{k}", "max"], [(f"e{k}", "BOOL")]) for k in range(4)]
    return [Layer("relu", "ACTIVATION", ["conv"], [("relu", "FLOAT")]), *phases,
            Layer("max01", "ELEMENTWISE", ["p0", "p1"], [("m01", "FLOAT")]),
            Layer("max23", "ELEMENTWISE", ["p2", "p3"], [("m23", "FLOAT")]),
            Layer("max", "ELEMENTWISE", ["m01", "m23"], [("max", "FLOAT")]), *equals,
            Layer("first", "ELEMENTWISE", ["e0", "e1"], [("first", "BOOL")]),
            Layer("cast", "IDENTITY", ["first"], [("switch", "FLOAT")]),
            Layer("next_conv", "CONVOLUTION", ["max"], [("next", "FLOAT")]),
            Layer("unpool", "ELEMENTWISE", ["next", "switch"], [("unpooled", "FLOAT")])]


@pytest.mark.parametrize(("version", "options", "qdq", "pinned"), [
    ("8.6", {"fp16": True}, False, True),
    ("10.13", {"fp16": True}, False, True),
    ("10.3", {"int8": True, "fp16": True}, True, True),
    ("10.3", {"int8": True}, True, False),  # strongly typed: the graph's types are kept as they are
    ("8.6", {}, False, False),  # FP32: nothing to pin
    ("11", {"fp16": True}, False, False),  # 11.x: an FP16 ONNX, strongly typed
])
def test_switch_layers_stay_fp32_in_weakly_typed_fp16_builds(monkeypatch, tmp_path, version, options, qdq, pinned):
    trt, _ = install(monkeypatch, version, Script(layers=switch_network()))
    monkeypatch.setitem(sys.modules, "segnet.export.fp16", types.SimpleNamespace(
        convert_fp16=lambda onnx_in, onnx_out: Path(onnx_out).write_bytes(Path(onnx_in).read_bytes())))
    model = tiny_onnx(tmp_path / "model.onnx", qdq=qdq)
    engine = build_engine(model, tmp_path / "model.engine", BuildOptions(**options), log=lambda m: None)
    fp32 = {layer.name for layer in trt.layers_made if vars(layer).get("precision") == trt.module.DataType.FLOAT}
    expected = {"phase0", "phase1", "phase2", "phase3", "max01", "max23", "max", "eq0", "eq1", "eq2", "eq3"}
    assert fp32 == (expected if pinned else set())
    # the float outputs among them are pinned too (7: the phases and the maxima), never the boolean ones
    outputs = trt.called("ILayer.set_output_type")
    assert len(outputs) == (7 if pinned else 0) and all(dtype == trt.module.DataType.FLOAT for _, dtype in outputs)
    assert ("PREFER_PRECISION_CONSTRAINTS" in _builder_flags(trt)) == pinned
    assert read_sidecar(engine)[1].details["fp32_switch_layers"] == (len(expected) if pinned else 0)
