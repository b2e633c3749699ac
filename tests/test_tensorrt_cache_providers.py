"""Engine cache (build on first use, reuse after) and ONNX Runtime GPU provider lists."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from fakes import Script, Tensor, install, tiny_onnx

from segnet.errors import MissingDependencyError, SegnetError
from segnet.export.tensorrt_build import build_engine
from segnet.nvidia import engine_cache
from segnet.nvidia.build_options import BuildOptions
from segnet.runtime.backends import open_backend
from segnet.runtime.backends.tensorrt import TensorRTBackend
from segnet.runtime.engine_verify import compare_outputs, verify_engine
from segnet.runtime.ort_providers import providers_for
from segnet.spec import Artifact, ModelSpec, read_sidecar, write_sidecar


def test_engine_built_once_then_reused(monkeypatch, tmp_path):
    trt, _ = install(monkeypatch, "10.3", name=b"Orin")
    model = tiny_onnx(tmp_path / "model.onnx")
    messages: list[str] = []
    first = engine_cache.cached_engine(model, BuildOptions(fp16=True), log=messages.append)
    assert first.parent == tmp_path and first.name.startswith("model.fp16.trt10.3.0.26.orin.")
    assert any("first run only" in m for m in messages)
    second = engine_cache.cached_engine(model, BuildOptions(fp16=True), log=messages.append)
    assert second == first and len(trt.called("Builder.build_serialized_network")) == 1
    engine_cache.cached_engine(model, BuildOptions(), log=messages.append)  # other precision: other engine
    assert len(trt.called("Builder.build_serialized_network")) == 2
    tiny_onnx(model, node_name="retrained")  # changed model -> new hash -> rebuild
    engine_cache.cached_engine(model, BuildOptions(fp16=True), log=messages.append)
    assert len(trt.called("Builder.build_serialized_network")) == 3


@pytest.mark.parametrize("name", ["model", "lite_w0.25"])
def test_cached_engine_shares_its_models_sidecar(monkeypatch, tmp_path, name):
    """The cached engine's entry goes into the model's <stem>.json, beside the ONNX's: read_sidecar of the
    engine finds the model's spec and the engine's own entry, and no second sidecar is written."""
    install(monkeypatch, "10.3", name=b"Orin")
    model = tiny_onnx(tmp_path / f"{name}.onnx")
    spec = ModelSpec(arch="segnet_lite", num_classes=3, input_size=(4, 6))  # what tiny_onnx's metadata carries
    write_sidecar(model, spec, Artifact(file=model.name, format="onnx"))  # as `segnet export` leaves it
    engine = engine_cache.cached_engine(model, BuildOptions(fp16=True), log=lambda m: None)
    assert engine.name.startswith(f"{name}.fp16.trt10.3.0.26.orin.")
    assert sorted(p.name for p in tmp_path.glob("*.json")) == [f"{name}.json"]
    found_spec, artifact = read_sidecar(engine)
    assert found_spec == spec
    assert artifact.file == engine.name and artifact.format == "engine" and artifact.precision == "fp16"
    assert artifact.details["onnx_file"] == model.name
    assert read_sidecar(model)[1].format == "onnx"  # the model's own entry is kept


def test_read_only_model_folder_uses_user_cache(monkeypatch, tmp_path):
    install(monkeypatch, "10.3")
    model = tiny_onnx(tmp_path / "model.onnx")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    monkeypatch.setattr(engine_cache, "_writable", lambda folder: False)  # root ignores chmod, so simulate it
    engine = engine_cache.cached_engine(model, log=lambda m: None)
    assert tmp_path / "xdg" / "segnet" / "engines" in engine.parents and engine.is_file()  # is_relative_to: 3.9


def test_open_backend_builds_and_runs_onnx_with_tensorrt(monkeypatch, tmp_path):
    install(monkeypatch, "10.13")
    model = tiny_onnx(tmp_path / "model.onnx")
    with open_backend(model, backend="tensorrt") as backend:
        x = np.ones((1, 3, 4, 6), np.float32)
        np.testing.assert_allclose(backend.infer({"input": x})["logits"], 2 * x)


def test_providers_for_each_device():
    gpu = ["TensorrtExecutionProvider", "CUDAExecutionProvider", "CPUExecutionProvider"]
    assert providers_for("cpu", available=gpu) == [("CPUExecutionProvider", {})]
    assert [p for p, _ in providers_for("cuda", available=gpu)] == gpu[1:]
    trt = providers_for("tensorrt", available=gpu, fp16=True, cache_dir="/tmp/segnet-test-ort-trt")
    assert [p for p, _ in trt] == gpu
    options = trt[0][1]
    assert options["trt_fp16_enable"] is True and options["trt_engine_cache_enable"] is True
    assert options["trt_engine_cache_path"] == "/tmp/segnet-test-ort-trt" and options["trt_timing_cache_enable"]


def test_providers_missing_gpu_build_is_explained():
    with pytest.raises(MissingDependencyError, match="onnxruntime-gpu"):
        providers_for("cuda", available=["CPUExecutionProvider"])
    with pytest.raises(SegnetError, match="unknown device"):
        providers_for("npu", available=["CPUExecutionProvider"])


def test_compare_outputs_reports_diff_and_agreement():
    ref = np.zeros((1, 3, 2, 2), np.float32)
    ref[:, 1] = 1.0
    got = ref.copy()
    got[0, 2, 0, 0] = 2.0  # one pixel's argmax flips, max diff 2
    result = compare_outputs({"logits": ref, "labels": ref.argmax(1)}, {"logits": got, "labels": got.argmax(1)})
    assert result["logits"] == {"max_abs_diff": 2.0, "agreement": 0.75}
    assert result["labels"] == {"agreement": 0.75}
    with pytest.raises(SegnetError, match="shape"):
        compare_outputs({"logits": ref}, {"logits": ref[:, :2]})


@pytest.mark.parametrize(("compute", "ok"), [
    (lambda inputs, wanted: {"logits": inputs["input"]}, True),  # same as ONNX Runtime's Identity
    (lambda inputs, wanted: {"logits": -inputs["input"]}, False),  # argmax flips
])
def test_verify_engine_against_onnxruntime(monkeypatch, tmp_path, compute, ok):
    pytest.importorskip("onnxruntime")
    install(monkeypatch, "10.3", Script(compute=compute))
    model = tiny_onnx(tmp_path / "model.onnx")
    engine = build_engine(model, tmp_path / "model.engine", log=lambda m: None)
    report = verify_engine(engine, model, num_random=3)
    assert report["ok"] is ok and len(report["results"]) == 3
    assert report["summary"].startswith("PASS" if ok else "FAIL")
    assert (report["max_abs_diff"] == 0.0) is ok


def test_verify_with_real_images(monkeypatch, tmp_path, camvid_root):
    pytest.importorskip("onnxruntime")
    install(monkeypatch, "10.3", Script(compute=lambda inputs, wanted: {"logits": inputs["input"]}))
    model = tiny_onnx(tmp_path / "model.onnx")
    engine = build_engine(model, tmp_path / "model.engine", log=lambda m: None)
    report = verify_engine(engine, model, data_root=camvid_root, num_images=2, num_random=0)
    kinds = [r["input"] for r in report["results"]]
    assert kinds == ["image", "image"] and report["ok"]


def test_backend_context_manager_releases(monkeypatch, tmp_path):
    _, cudart = install(monkeypatch, "10.3")
    engine = build_engine(tiny_onnx(tmp_path / "m.onnx"), tmp_path / "m.engine", log=lambda m: None)
    backend = TensorRTBackend(Path(engine))
    with backend:
        assert backend.is_active
    assert not backend.is_active and cudart.live() == {"allocations": 0}


def _overlay_onnx(path: Path, size: tuple[int, int]) -> Path:
    """A frame-path model by onnx.helper: overlay = the frame, with its FramePath in the metadata."""
    import json

    import onnx
    from onnx import TensorProto, helper

    from segnet.spec import ARTIFACT_KEY, SPEC_KEY, Artifact, FramePath, ModelSpec

    graph = helper.make_graph([helper.make_node("Identity", ["frame"], ["overlay"])], "overlay",
                              [helper.make_tensor_value_info("frame", TensorProto.UINT8, [1, *size, 3]),
                               helper.make_tensor_value_info("alpha", TensorProto.FLOAT, [3])],
                              [helper.make_tensor_value_info("overlay", TensorProto.UINT8, [1, *size, 3])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=9)
    frame = FramePath(size=size, outputs=["overlay"]).to_dict()
    artifact = Artifact(file=path.name, format="onnx", input_name="frame", input_layout="NHWC", input_dtype="uint8",
                        embedded_preprocess=True, output_names=["overlay"], frame=frame)
    spec = ModelSpec(arch="segnet_lite", num_classes=3, input_size=(4, 6))
    for key, value in ((SPEC_KEY, spec.to_json()), (ARTIFACT_KEY, json.dumps(artifact.to_dict()))):
        entry = model.metadata_props.add()
        entry.key, entry.value = key, value
    onnx.save(model, str(path))
    return path


@pytest.mark.parametrize(("shift", "ok"), [(0, True), (1, True), (3, False)])
def test_verify_frame_engine_feeds_frames_and_compares_overlays_by_grey_level(monkeypatch, tmp_path, shift, ok):
    pytest.importorskip("onnxruntime")
    seen = []

    def compute(inputs, wanted):
        seen.append((inputs["frame"].shape, float(inputs["alpha"].min()), float(inputs["alpha"].max())))
        return {"overlay": np.clip(inputs["frame"].astype(np.int16) + shift, 0, 255).astype(np.uint8)}

    size = (6, 10)
    install(monkeypatch, "10.3", Script(inputs=[Tensor("frame", (1, *size, 3), "UINT8"), Tensor("alpha", (3,))],
                                         outputs=[Tensor("overlay", (1, *size, 3), "UINT8")], compute=compute))
    model = _overlay_onnx(tmp_path / "cam.onnx", size)
    engine = build_engine(model, tmp_path / "cam.engine", log=lambda m: None)
    report = verify_engine(engine, model, num_random=2)
    assert report["ok"] is ok and report["max_abs_diff"] == float(shift)
    assert all(shape == (1, *size, 3) and 0 <= lo <= hi <= 1 for shape, lo, hi in seen)
