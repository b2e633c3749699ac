"""Engine cache (build on first use, reuse after) and ONNX Runtime GPU provider lists."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from fakes import Script, install, tiny_onnx
from segnet.export.engine_options import BuildOptions
from segnet.export.tensorrt_build import build_engine
from segnet.export.trt_verify import compare_outputs, verify_engine
from segnet.runtime import engine_cache
from segnet.runtime.backends import open_backend
from segnet.runtime.backends.tensorrt import TensorRTBackend
from segnet.runtime.ort_providers import providers_for

from segnet.errors import MissingDependencyError, SegnetError


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
