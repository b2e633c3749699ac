"""The TensorRT backend through strict fakes: real bytes move through fake pinned/device memory."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from fakes import Script, Tensor, install, tiny_onnx
from segnet.export.engine_options import BuildOptions
from segnet.export.tensorrt_build import build_engine
from segnet.runtime.backends.tensorrt import TensorRTBackend
from segnet.runtime.cuda_utils import CudaError

from segnet.errors import MissingDependencyError, SegnetError
from segnet.spec import read_sidecar, write_sidecar


def _engine(monkeypatch, tmp_path: Path, version: str = "10.3", script: Script | None = None, **cudart):
    """Build an engine with the fakes (so the sidecar is the builder's own) and return (path, trt, cudart)."""
    trt, fake_cudart = install(monkeypatch, version, script, **cudart)
    onnx = tiny_onnx(tmp_path / "model.onnx")
    options = BuildOptions(dynamic_batch=(1, 2, 4)) if script and script.inputs[0].shape[0] < 0 else BuildOptions()
    if options.dynamic_batch:
        onnx = tiny_onnx(tmp_path / "model.onnx", shape=("N", 3, 4, 6))
    engine = build_engine(onnx, tmp_path / "model.engine", options, log=lambda m: None)
    return engine, trt, fake_cudart


def _frame(seed: int = 0, shape=(1, 3, 4, 6)) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal(shape).astype(np.float32)


@pytest.mark.parametrize("version", ["8.6", "10.3", "10.13", "11"])
def test_infer_round_trip_on_every_version(monkeypatch, tmp_path, version):
    engine, _, cudart = _engine(monkeypatch, tmp_path, version)
    with TensorRTBackend(engine) as backend:
        x = _frame()
        out = backend.infer({"input": x})
        np.testing.assert_allclose(out["logits"], 2 * x, rtol=1e-6)
        assert set(backend.last_timing) == {"h2d", "compute", "d2h"}
        assert backend.device_memory_bytes == 1 << 20  # device_memory_size(_v2) found on this version
        assert [i.name for i in backend.inputs] == ["input"] and backend.outputs[0].shape == (1, 3, 4, 6)
    assert cudart.live() == {"allocations": 0}, "deactivate must free every buffer, stream and event"


def test_buffers_sized_from_shapes_and_dtypes(monkeypatch, tmp_path):
    script = Script(inputs=[Tensor("input", (1, 4, 6, 3), "UINT8")], outputs=[Tensor("labels", (1, 4, 6), "INT32")],
                    compute=lambda inputs, wanted: {"labels": inputs["input"].sum(axis=3, dtype=np.int32)})
    engine, _, cudart = _engine(monkeypatch, tmp_path, script=script)
    with TensorRTBackend(engine) as backend:
        frame = np.arange(72, dtype=np.uint8).reshape(1, 4, 6, 3)
        labels = backend.infer({"input": frame})["labels"]
        assert labels.dtype == np.int32 and labels.shape == (1, 4, 6)
        np.testing.assert_array_equal(labels, frame.sum(axis=3))
        malloc = sorted(args[0] for name, args in cudart.calls if name == "cudaMalloc")
        pinned = sorted(args[0] for name, args in cudart.calls if name == "cudaMallocHost")
        assert malloc == pinned == [72, 72, 96, 96]  # uint8 1x4x6x3 and int32 1x4x6, two buffer sets
        with pytest.raises(SegnetError, match="takes uint8 data"):
            backend.infer({"input": frame.astype(np.float32)})
        with pytest.raises(SegnetError, match="takes shape"):
            backend.infer({"input": np.zeros((1, 4, 6, 4), np.uint8)})
        with pytest.raises(SegnetError, match="expected inputs"):
            backend.infer({"image": frame})


def test_zero_copy_on_integrated_gpu(monkeypatch, tmp_path):
    engine, _, cudart = _engine(monkeypatch, tmp_path, integrated=True)
    with TensorRTBackend(engine) as backend:
        assert backend.zero_copy
        x = _frame(3)
        np.testing.assert_allclose(backend.infer({"input": x})["logits"], 2 * x, rtol=1e-6)
    names = cudart.names()
    assert "cudaHostAlloc" in names and "cudaHostGetDevicePointer" in names
    assert "cudaMalloc" not in names and "cudaMemcpyAsync" not in names  # the GPU reads host memory directly
    assert cudart.live() == {"allocations": 0}


def test_double_buffering_overlaps_copy_in_with_compute(monkeypatch, tmp_path):
    engine, _, cudart = _engine(monkeypatch, tmp_path)
    with TensorRTBackend(engine) as backend:
        start = len(cudart.calls)
        first = backend.infer_async({"input": _frame(1)})
        middle = len(cudart.calls)
        second = backend.infer_async({"input": _frame(2)})
        calls = cudart.calls[middle:]
        with pytest.raises(SegnetError, match="already in flight"):
            backend.infer_async({"input": _frame(3)})
        np.testing.assert_allclose(second.result()["logits"], 2 * _frame(2), rtol=1e-6)
        np.testing.assert_allclose(first.result()["logits"], 2 * _frame(1), rtol=1e-6)
        assert first.result() is first.result()  # collected once, then cached
    first_calls = [name for name, _ in cudart.calls[start:middle]]
    assert "cudaStreamWaitEvent" not in first_calls  # nothing to wait for yet
    names = [name for name, _ in calls]
    copy_in = names.index("cudaMemcpyAsync")
    wait = names.index("cudaStreamWaitEvent")
    assert copy_in < wait, "frame 2's copy-in must be queued before it waits for frame 1's compute"
    # frame 2 runs on the second set's stream and waits for the event recorded after frame 1's compute
    stream_b, event = calls[wait][1][:2]
    assert int(calls[copy_in][1][4]) == int(stream_b)
    first_records = [args for name, args in cudart.calls[start:middle] if name == "cudaEventRecord"]
    assert int(event) == int(first_records[3][0])  # start, h2d, compute_start, compute -> the 4th event
    assert int(first_records[3][1]) != int(stream_b)


def test_cuda_graph_is_captured_once_per_buffer_set_and_replayed(monkeypatch, tmp_path):
    engine, trt, cudart = _engine(monkeypatch, tmp_path)
    with TensorRTBackend(engine, cuda_graph=True) as backend:
        for i in range(5):
            x = _frame(10 + i)
            np.testing.assert_allclose(backend.infer({"input": x})["logits"], 2 * x, rtol=1e-6)
    names = cudart.names()
    assert names.count("cudaStreamBeginCapture") == 2 and names.count("cudaGraphInstantiateWithFlags") == 2
    assert names.count("cudaGraphLaunch") == 3  # frames 3-5 replay the graphs of their buffer set
    assert len(trt.called("IExecutionContext.execute_async_v3")) == 4  # 2 direct + 2 captured
    assert cudart.live() == {"allocations": 0}


def test_dynamic_batch_engine(monkeypatch, tmp_path):
    script = Script(inputs=[Tensor("input", (-1, 3, 4, 6), profile=((1, 3, 4, 6), (2, 3, 4, 6), (4, 3, 4, 6)))],
                    outputs=[Tensor("logits", (-1, 3, 4, 6))])
    engine, trt, cudart = _engine(monkeypatch, tmp_path, script=script)
    with TensorRTBackend(engine) as backend:
        assert backend.inputs[0].shape == (None, 3, 4, 6)
        x = _frame(5, (3, 3, 4, 6))
        out = backend.infer({"input": x})["logits"]
        np.testing.assert_allclose(out, 2 * x, rtol=1e-6)
        assert ("input", (3, 3, 4, 6)) in [(n, tuple(s)) for n, s in trt.called("IExecutionContext.set_input_shape")]
        with pytest.raises(SegnetError, match="takes shape"):
            backend.infer({"input": _frame(0, (5, 3, 4, 6))})
    sizes = sorted(args[0] for name, args in cudart.calls if name == "cudaMalloc")
    assert sizes == [4 * 72 * 4] * 4  # sized for the profile's maximum batch of 4


def test_engine_from_other_tensorrt_version_is_refused_with_a_rebuild_hint(monkeypatch, tmp_path):
    engine, _, _ = _engine(monkeypatch, tmp_path, "10.3")
    install(monkeypatch, "10.13")  # the device now has another TensorRT
    with pytest.raises(SegnetError) as info:
        TensorRTBackend(engine).activate()
    message = str(info.value)
    assert "built with TensorRT 10.3.0.26" in message and "this is TensorRT 10.13.0.35" in message
    assert f"segnet build {engine.parent / 'model.onnx'}" in message


def test_engine_for_other_gpu_is_refused(monkeypatch, tmp_path):
    engine, _, _ = _engine(monkeypatch, tmp_path, "10.3", name=b"Orin", major=8, minor=7)
    trt, _ = install(monkeypatch, "10.3", name=b"Xavier", major=7, minor=2)
    with pytest.raises(SegnetError, match=r"for Orin \(compute 8.7\).*on Xavier \(compute 7.2\)"):
        TensorRTBackend(engine).activate()
    assert not trt.called("Runtime.deserialize_cuda_engine")


def test_undeserializable_engine_explains(monkeypatch, tmp_path):
    engine, _, _ = _engine(monkeypatch, tmp_path, "10.3")
    spec, artifact = read_sidecar(engine)
    artifact.details = {}  # e.g. a plan from trtexec without our facts
    write_sidecar(engine, spec, artifact)
    install(monkeypatch, "10.3", Script(deserialize_fails=True))
    with pytest.raises(SegnetError, match="cannot load this engine.*rebuild on this device"):
        TensorRTBackend(engine).activate()


def test_cuda_errors_name_the_call(monkeypatch, tmp_path):
    engine, _, cudart = _engine(monkeypatch, tmp_path)
    cudart.fail["cudaMalloc"] = cudart.cudaError_t.cudaErrorMemoryAllocation
    with pytest.raises(CudaError, match=r"cudaMalloc failed with cudaErrorMemoryAllocation \(2\)"):
        TensorRTBackend(engine).activate()
    assert cudart.live() == {"allocations": 0}, "a failed activate releases what it had allocated"
    cudart.fail = {"cudaSetDevice": cudart.cudaError_t.cudaErrorInsufficientDriver}
    with pytest.raises(MissingDependencyError, match="no usable NVIDIA GPU: cudaSetDevice"):
        TensorRTBackend(engine).activate()


def test_missing_engine_file(monkeypatch, tmp_path):
    install(monkeypatch)
    with pytest.raises(SegnetError, match="engine file not found"):
        TensorRTBackend(tmp_path / "none.engine").activate()
