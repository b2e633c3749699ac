"""The TensorRT backend through strict fakes: real bytes move through fake pinned/device memory."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from fakes import Script, Tensor, install, tiny_onnx

from segnet.errors import MissingDependencyError, SegnetError
from segnet.export.tensorrt_build import build_engine
from segnet.nvidia.build_options import BuildOptions
from segnet.nvidia.cuda_utils import CudaError
from segnet.runtime.backends.base import Pending
from segnet.runtime.backends.tensorrt import TensorRTBackend
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


# -- streaming buffers: allocate(), infer(feed, outputs), CUDA graphs cached by tensor addresses --------------
def _since(cudart, start: int, name: str) -> list[tuple]:
    return [args for call, args in cudart.calls[start:] if call == name]


def _copies(cudart, start: int, kind: str) -> list[tuple]:
    """cudaMemcpyAsync calls since `start` of one kind ("h2d" or "d2h"): (dst, src, count, kind, stream)."""
    kinds = cudart.cudaMemcpyKind
    wanted = kinds.cudaMemcpyHostToDevice if kind == "h2d" else kinds.cudaMemcpyDeviceToHost
    return [args for args in _since(cudart, start, "cudaMemcpyAsync") if args[3] == wanted]


def _bound(trt, name: str) -> int:
    """The address the last set_tensor_address gave tensor `name`."""
    return int([args for args in trt.called("IExecutionContext.set_tensor_address") if args[0] == name][-1][1])


def _own(backend, slot: int, name: str) -> np.ndarray:
    """The bytes of buffer set `slot`'s own pinned buffer for `name` (white box: did anything copy into it?)."""
    pinned = backend._sets[slot].host[name]
    return pinned.array((pinned.nbytes,), np.uint8)


def test_allocate_needs_an_active_backend(monkeypatch, tmp_path):
    engine, _, _ = _engine(monkeypatch, tmp_path)
    backend = TensorRTBackend(engine)
    assert backend.max_in_flight == 2
    with pytest.raises(SegnetError, match=r"allocate.*call activate\(\)"):
        backend.allocate((1, 3, 4, 6), np.float32)


def test_allocated_input_on_zero_copy_is_bound_in_place(monkeypatch, tmp_path):
    engine, trt, cudart = _engine(monkeypatch, tmp_path, integrated=True)
    with TensorRTBackend(engine) as backend:
        frame = backend.allocate((1, 3, 4, 6), np.float32)
        assert cudart.allocations[frame.ctypes.data].kind == "mapped"
        frame[...] = _frame(3)
        start = len(cudart.calls)
        out = backend.infer({"input": frame})
        np.testing.assert_allclose(out["logits"], 2 * _frame(3), rtol=1e-6)
        assert _bound(trt, "input") == frame.ctypes.data  # the GPU reads the caller's mapped memory
        assert "cudaMemcpyAsync" not in cudart.names()
        assert not _own(backend, 0, "input").any(), "no host copy into the set's own buffer"
        # a view inside a larger allocation (a ring of capture buffers) is recognised too
        ring = backend.allocate((2, 1, 3, 4, 6), np.float32)
        ring[1] = _frame(4)
        np.testing.assert_allclose(backend.infer({"input": ring[1]})["logits"], 2 * _frame(4), rtol=1e-6)
        assert _bound(trt, "input") == ring.ctypes.data + ring[0].nbytes
        assert not _own(backend, 1, "input").any()
        assert not _since(cudart, start, "cudaMemcpyAsync")


def test_allocated_input_on_discrete_gpu_is_copied_once_from_its_pinned_memory(monkeypatch, tmp_path):
    engine, trt, cudart = _engine(monkeypatch, tmp_path)
    with TensorRTBackend(engine) as backend:
        frame = backend.allocate((1, 3, 4, 6), np.float32)
        assert cudart.allocations[frame.ctypes.data].kind == "pinned"
        frame[...] = _frame(5)
        start = len(cudart.calls)
        out = backend.infer({"input": frame})
        np.testing.assert_allclose(out["logits"], 2 * _frame(5), rtol=1e-6)
        h2d = _copies(cudart, start, "h2d")
        assert len(h2d) == 1 and int(h2d[0][1]) == frame.ctypes.data and h2d[0][2] == frame.nbytes
        assert int(h2d[0][0]) == _bound(trt, "input") == backend._sets[0].device["input"].ptr
        assert not _own(backend, 0, "input").any(), "no host copy into the set's own pinned buffer"
        # a plain array still goes through the set's pinned buffer
        start = len(cudart.calls)
        backend.infer({"input": _frame(6)})
        assert int(_copies(cudart, start, "h2d")[0][1]) == backend._sets[1].host["input"].host_ptr


def test_outputs_into_allocated_arrays_on_zero_copy_need_no_copy(monkeypatch, tmp_path):
    engine, trt, cudart = _engine(monkeypatch, tmp_path, integrated=True)
    with TensorRTBackend(engine) as backend:
        out = backend.allocate((1, 3, 4, 6), np.float32)
        result = backend.infer({"input": _frame(7)}, {"logits": out})
        assert result["logits"] is out
        np.testing.assert_allclose(out, 2 * _frame(7), rtol=1e-6)  # the engine wrote straight into it
        assert _bound(trt, "logits") == out.ctypes.data
        assert not _own(backend, 0, "logits").any()
        assert "cudaMemcpyAsync" not in cudart.names()


def test_outputs_into_allocated_arrays_on_discrete_gpu_are_copied_straight_into_them(monkeypatch, tmp_path):
    engine, trt, cudart = _engine(monkeypatch, tmp_path)
    with TensorRTBackend(engine) as backend:
        frame, out = backend.allocate((1, 3, 4, 6), np.float32), backend.allocate((1, 3, 4, 6), np.float32)
        frame[...] = _frame(8)
        start = len(cudart.calls)
        result = backend.infer({"input": frame}, {"logits": out})
        assert result["logits"] is out
        np.testing.assert_allclose(out, 2 * _frame(8), rtol=1e-6)
        d2h = _copies(cudart, start, "d2h")
        assert len(d2h) == 1 and int(d2h[0][0]) == out.ctypes.data and d2h[0][2] == out.nbytes
        assert int(d2h[0][1]) == _bound(trt, "logits") == backend._sets[0].device["logits"].ptr
        assert not _own(backend, 0, "logits").any()
        assert set(backend.last_timing) == {"h2d", "compute", "d2h"}


@pytest.mark.parametrize("integrated", [False, True])
def test_outputs_into_plain_arrays_are_filled_and_returned(monkeypatch, tmp_path, integrated):
    engine, _, _ = _engine(monkeypatch, tmp_path, integrated=integrated)
    with TensorRTBackend(engine) as backend:
        out = np.full((1, 3, 4, 6), np.nan, np.float32)
        result = backend.infer({"input": _frame(9)}, {"logits": out})
        assert result["logits"] is out
        np.testing.assert_allclose(out, 2 * _frame(9), rtol=1e-6)
        fresh = backend.infer({"input": _frame(10)})["logits"]  # without outputs: a copy, as before
        assert fresh is not out and not np.shares_memory(fresh, _own(backend, 1, "logits"))
        np.testing.assert_allclose(out, 2 * _frame(9), rtol=1e-6)  # the caller's array is left alone


def test_wrong_output_arrays_are_refused_by_name(monkeypatch, tmp_path):
    engine, _, _ = _engine(monkeypatch, tmp_path)
    with TensorRTBackend(engine) as backend:
        x = _frame(11)
        with pytest.raises(SegnetError, match=r"output 'logits'.*expected an array of shape \(1, 3, 4, 6\) "
                                              r"float32, got shape \(1, 3, 4, 5\) float32"):
            backend.infer({"input": x}, {"logits": np.empty((1, 3, 4, 5), np.float32)})
        with pytest.raises(SegnetError, match=r"output 'logits'.*float32, got shape \(1, 3, 4, 6\) float64"):
            backend.infer({"input": x}, {"logits": np.empty((1, 3, 4, 6), np.float64)})
        with pytest.raises(SegnetError, match=r"no output tensor 'labels'; outputs are \['logits'\]"):
            backend.infer({"input": x}, {"labels": np.empty((1, 3, 4, 6), np.float32)})
        frozen = np.empty((1, 3, 4, 6), np.float32)
        frozen.flags.writeable = False
        with pytest.raises(SegnetError, match="read-only"):
            backend.infer({"input": x}, {"logits": frozen})
        np.testing.assert_allclose(backend.infer({"input": x})["logits"], 2 * x, rtol=1e-6)  # nothing left pending


def test_cuda_graphs_are_cached_per_tensor_addresses(monkeypatch, tmp_path):
    engine, trt, cudart = _engine(monkeypatch, tmp_path, integrated=True)
    with TensorRTBackend(engine, cuda_graph=True) as backend:
        ring = [backend.allocate((1, 3, 4, 6), np.float32) for _ in range(4)]  # each set sees two of them
        for i in range(8):
            ring[i % 4][...] = _frame(20 + i)
            np.testing.assert_allclose(backend.infer({"input": ring[i % 4]})["logits"], 2 * _frame(20 + i), rtol=1e-6)
        names = cudart.names()
        assert names.count("cudaStreamBeginCapture") == 4 and names.count("cudaGraphInstantiateWithFlags") == 4
        assert names.count("cudaGraphLaunch") == 4  # frames 5-8 replay without recapture
        assert len(trt.called("IExecutionContext.execute_async_v3")) == 8  # 4 direct + 4 captured
        assert "cudaGraphDestroy" not in names
    assert cudart.names().count("cudaGraphDestroy") == cudart.names().count("cudaGraphExecDestroy") == 4
    assert cudart.live() == {"allocations": 0}, "deactivate destroys every cached graph"


def test_cuda_graph_cache_evicts_and_destroys_the_least_recently_used(monkeypatch, tmp_path):
    engine, _, cudart = _engine(monkeypatch, tmp_path, integrated=True)
    backend = TensorRTBackend(engine, cuda_graph=True)
    backend.graph_cache_size = 2
    with backend:
        ring = [backend.allocate((1, 3, 4, 6), np.float32) for _ in range(6)]
        # set 0 sees ring 0, 2, 0 (a replay, so 0 is now the newest), 4; set 1 sees 1, 3, 1, 5
        for i, k in enumerate([0, 1, 2, 3, 0, 1, 4, 5]):
            ring[k][...] = _frame(30 + i)
            np.testing.assert_allclose(backend.infer({"input": ring[k]})["logits"], 2 * _frame(30 + i), rtol=1e-6)
        captured = [int(args[0]) for args in _since(cudart, 0, "cudaGraphInstantiateWithFlags")]
        assert len(captured) == 6 and cudart.names().count("cudaGraphLaunch") == 2
        destroyed = [int(args[0]) for args in _since(cudart, 0, "cudaGraphDestroy")]
        assert destroyed == captured[2:4], "ring 2's and 3's graphs were the least recently used"
        assert cudart.names().count("cudaGraphExecDestroy") == 2
        start = len(cudart.calls)
        backend.infer({"input": ring[0]})  # set 0: still cached
        assert not _since(cudart, start, "cudaStreamBeginCapture")
        backend.infer({"input": ring[3]})  # set 1: evicted, so captured anew, evicting ring 1's graph
        assert len(_since(cudart, start, "cudaStreamBeginCapture")) == 1
        assert [int(a[0]) for a in _since(cudart, start, "cudaGraphDestroy")] == [captured[1]]
    assert cudart.live() == {"allocations": 0}


@pytest.mark.parametrize("integrated", [False, True])
def test_deactivate_frees_allocated_buffers(monkeypatch, tmp_path, integrated):
    engine, _, cudart = _engine(monkeypatch, tmp_path, integrated=integrated)
    with TensorRTBackend(engine) as backend:
        arrays = [backend.allocate((1, 3, 4, 6), np.float32), backend.allocate((2, 5), np.uint8)]
        pointers = [a.ctypes.data for a in arrays]
        assert arrays[1].shape == (2, 5) and arrays[1].dtype == np.uint8
        start = len(cudart.calls)
    freed = [int(args[0]) for args in _since(cudart, start, "cudaFreeHost")]
    assert set(pointers) <= set(freed)
    assert cudart.live() == {"allocations": 0}


@pytest.mark.parametrize("integrated", [False, True])
def test_two_in_flight_with_outputs(monkeypatch, tmp_path, integrated):
    engine, _, cudart = _engine(monkeypatch, tmp_path, integrated=integrated)
    with TensorRTBackend(engine) as backend:
        frames = [backend.allocate((1, 3, 4, 6), np.float32) for _ in range(2)]
        outs = [backend.allocate((1, 3, 4, 6), np.float32), np.empty((1, 3, 4, 6), np.float32)]
        for i, frame in enumerate(frames):
            frame[...] = _frame(40 + i)
        first = backend.infer_async({"input": frames[0]}, {"logits": outs[0]})
        second = backend.infer_async({"input": frames[1]}, {"logits": outs[1]})
        assert isinstance(first, Pending)
        with pytest.raises(SegnetError, match="already in flight"):
            backend.infer_async({"input": frames[0]}, {"logits": outs[0]})
        assert second.result()["logits"] is outs[1]
        assert first.result()["logits"] is outs[0] and first.result() is first.result()
        for i, out in enumerate(outs):
            np.testing.assert_allclose(out, 2 * _frame(40 + i), rtol=1e-6)
        assert "cudaStreamWaitEvent" in cudart.names()  # the second set still waited for the first's compute


def _frame_engine(monkeypatch, tmp_path: Path, **cudart):
    """A frame-path engine (uint8 frame + alpha in; overlay = frame // 2, labels = blue % 3 out) via the fakes."""
    from segnet.spec import FramePath

    def compute(inputs, wanted):
        frame = inputs["frame"]
        return {"overlay": frame // 2, "labels": (frame[..., 0] % 3).astype(np.uint8)}

    size = (8, 12)
    script = Script(inputs=[Tensor("frame", (1, *size, 3), "UINT8"), Tensor("alpha", (3,))],
                    outputs=[Tensor("overlay", (1, *size, 3), "UINT8"), Tensor("labels", (1, *size), "UINT8")],
                    compute=compute)
    trt, fake_cudart = install(monkeypatch, "10.3", script, **cudart)
    frame = FramePath(size=size, outputs=["overlay", "labels"]).to_dict()
    onnx = tiny_onnx(tmp_path / "cam.onnx", shape=(1, *size, 3), frame=frame)
    return build_engine(onnx, tmp_path / "cam.engine", BuildOptions(), log=lambda m: None), trt, fake_cudart


@pytest.mark.parametrize("integrated", [True, False])
def test_frame_engine_pipeline_captures_into_backend_memory_two_in_flight(monkeypatch, tmp_path, integrated):
    """The streaming pipeline on a frame-path engine: slots live in pinned (Jetson: GPU-mapped) memory, the
    frame goes to the GPU without a host copy, two frames are in flight, the sinks get the engine's overlay."""
    import cv2
    from runtime_helpers import write_video

    from segnet.runtime.pipeline import Pipeline
    from segnet.runtime.segmenter import Segmenter
    from segnet.runtime.sinks import Sink
    from segnet.runtime.sources import open_source

    engine, _, cudart = _frame_engine(monkeypatch, tmp_path, integrated=integrated)
    video = write_video(tmp_path / "in.avi", frames=10, height=8, width=12)
    got: list[tuple[np.ndarray, np.ndarray]] = []

    class Keep(Sink):
        def write(self, frame):
            got.append((frame.image.copy(), frame.class_map.copy()))

    with Segmenter(engine, log=None) as seg, open_source(str(video)) as source:
        assert seg.backend.max_in_flight == 2 and seg.frame_path.outputs == ["overlay", "labels"]
        slot = seg.new_slot((8, 12, 3))
        kinds = {cudart.allocations[a.ctypes.data].kind for a in (slot.feed, *slot.outputs.values())}
        assert kinds == {"mapped" if integrated else "pinned"}
        start = len(cudart.calls)
        pipeline = Pipeline(seg, source, [Keep("keep")], alpha=0.5, status_stream=None)
        assert pipeline.in_flight == 2
        assert pipeline.run().frames_out == 10
        h2d = _copies(cudart, start, "h2d")
        frame_bytes = 8 * 12 * 3
        feeds = {s.feed.ctypes.data for s in pipeline.slots.free}  # every slot is back in the pool
        frame_copies = [args for args in h2d if args[2] == frame_bytes]
        if integrated:
            assert not frame_copies, "zero-copy: the GPU reads the captured frame where it lies"
        else:
            assert len(frame_copies) == 10, "one DMA per frame"
            assert {args[1] for args in frame_copies} <= feeds, "straight from the slot the frame was decoded into"
    capture = cv2.VideoCapture(str(video))
    for image, labels in got:
        _, frame = capture.read()
        assert np.array_equal(image, frame // 2) and np.array_equal(labels, frame[..., 0] % 3)
    assert cudart.live() == {"allocations": 0}
