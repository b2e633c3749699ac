"""The real-hardware tier (`make test-gpu`; docs/gpu-tests.md): the project's CUDA helpers, the TensorRT
backend's buffer sets, FP32/FP16 engines against ONNX Runtime, and AMP training with resume, all on a real
NVIDIA GPU. Without one the whole module is skipped in one line; without TensorRT the engine tests skip with
the reason. Nothing is downloaded: data is generated, models are built here. Budget: well under 10 minutes.
"""

from __future__ import annotations

import numpy as np
import pytest
from gpu_tier import gpu_unavailable, module_unavailable, tensorrt_unavailable

pytestmark = pytest.mark.gpu

if gpu_unavailable():
    pytest.skip(gpu_unavailable(), allow_module_level=True)

# (imported after the skip: they need cuda-python)
from segnet.nvidia import cuda_utils
from segnet.runtime.backends.tensorrt import Binding, BufferSet

NBYTES = 1 << 20  # 1 MiB per buffer: big enough to be a real DMA, small enough for any GPU


@pytest.fixture(scope="module", autouse=True)
def device():
    cuda_utils.call("cudaSetDevice", 0)
    info = cuda_utils.device_info(0)
    yield info
    cuda_utils.call("cudaDeviceSynchronize")


def random_bytes(seed: int, n: int = NBYTES) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, n, dtype=np.uint8)


def kind(name: str):  # type: ignore[no-untyped-def]
    return getattr(cuda_utils.import_cudart().cudaMemcpyKind, name)


def release(*resources) -> None:  # type: ignore[no-untyped-def]
    """Free buffers, destroy streams and events (the helpers' two spellings)."""
    for resource in resources:
        if hasattr(resource, "free"):
            resource.free()
        else:
            resource.destroy()


# ---- cuda-python helpers (runtime/cuda_utils.py) -----------------------------------------------------------
def test_device_facts(device):
    assert cuda_utils.device_count() >= 1
    assert device.name and device.total_memory > 2**28 and device.multiprocessors > 0
    assert int(device.compute_capability.split(".")[0]) >= 5
    driver, runtime = cuda_utils.driver_and_runtime_versions()
    assert float(driver) >= float(runtime) > 0  # a driver older than the runtime fails every call


def test_pinned_to_device_and_back_on_a_stream_with_events():
    host_in, host_out = cuda_utils.PinnedBuffer(NBYTES), cuda_utils.PinnedBuffer(NBYTES)
    first, second = cuda_utils.DeviceBuffer(NBYTES), cuda_utils.DeviceBuffer(NBYTES)
    stream, start, end = cuda_utils.Stream(), cuda_utils.Event(), cuda_utils.Event()
    try:
        data = random_bytes(0)
        host_in.array((NBYTES,), np.uint8)[:] = data
        host_out.array((NBYTES,), np.uint8)[:] = 0
        start.record(stream)
        cuda_utils.copy_async(first.ptr, host_in.host_ptr, NBYTES, "h2d", stream)
        cuda_utils.call("cudaMemcpyAsync", second.ptr, first.ptr, NBYTES, kind("cudaMemcpyDeviceToDevice"),
                        stream.stream)
        cuda_utils.copy_async(host_out.host_ptr, second.ptr, NBYTES, "d2h", stream)
        end.record(stream)
        end.synchronize()
        assert np.array_equal(host_out.array((NBYTES,), np.uint8), data)
        assert end.elapsed_ms(start) >= 0.0
        # a device-side write (memset) comes back too: the bytes really went through the GPU
        cuda_utils.call("cudaMemsetAsync", second.ptr, 0x5A, NBYTES, stream.stream)
        cuda_utils.copy_async(host_out.host_ptr, second.ptr, NBYTES, "d2h", stream)
        stream.synchronize()
        assert (host_out.array((NBYTES,), np.uint8) == 0x5A).all()
    finally:
        release(host_in, host_out, first, second, stream, start, end)


def test_mapped_host_memory_is_written_by_the_gpu(device):
    if not device.can_map_host_memory:
        pytest.skip(f"{device.name} cannot map host memory")
    mapped, stream = cuda_utils.PinnedBuffer(NBYTES, mapped=True), cuda_utils.Stream()
    try:
        assert mapped.device_ptr
        view = mapped.array((NBYTES,), np.uint8)
        view[:] = 0
        cuda_utils.call("cudaMemsetAsync", mapped.device_ptr, 0x33, NBYTES // 2, stream.stream)
        stream.synchronize()
        assert (view[:NBYTES // 2] == 0x33).all() and (view[NBYTES // 2:] == 0).all()
    finally:
        release(mapped, stream)
    assert mapped.host_ptr == 0


def test_a_second_stream_waits_for_an_event_of_the_first():
    host_in, host_out = cuda_utils.PinnedBuffer(NBYTES), cuda_utils.PinnedBuffer(NBYTES)
    buffer = cuda_utils.DeviceBuffer(NBYTES)
    upload, download, uploaded = cuda_utils.Stream(), cuda_utils.Stream(), cuda_utils.Event()
    try:
        data = random_bytes(1)
        for _ in range(3):  # repeated, so an ordering bug has chances to show
            host_in.array((NBYTES,), np.uint8)[:] = data
            cuda_utils.copy_async(buffer.ptr, host_in.host_ptr, NBYTES, "h2d", upload)
            uploaded.record(upload)
            download.wait(uploaded)
            cuda_utils.copy_async(host_out.host_ptr, buffer.ptr, NBYTES, "d2h", download)
            download.synchronize()
            assert np.array_equal(host_out.array((NBYTES,), np.uint8), data)
            data = data[::-1].copy()
    finally:
        release(host_in, host_out, buffer, upload, download, uploaded)


def test_a_cuda_graph_of_copies_replays_on_new_data():
    cudart = cuda_utils.import_cudart()
    host_in, host_out = cuda_utils.PinnedBuffer(NBYTES), cuda_utils.PinnedBuffer(NBYTES)
    buffer, stream = cuda_utils.DeviceBuffer(NBYTES), cuda_utils.Stream()
    graph = graph_exec = None
    try:
        cuda_utils.call("cudaStreamBeginCapture", stream.stream,
                        cudart.cudaStreamCaptureMode.cudaStreamCaptureModeGlobal)
        cuda_utils.copy_async(buffer.ptr, host_in.host_ptr, NBYTES, "h2d", stream)
        cuda_utils.copy_async(host_out.host_ptr, buffer.ptr, NBYTES, "d2h", stream)
        graph = cuda_utils.call("cudaStreamEndCapture", stream.stream)
        graph_exec = cuda_utils.call("cudaGraphInstantiateWithFlags", graph, 0)
        for seed in (2, 3):  # the graph holds the addresses, not the data
            data = random_bytes(seed)
            host_in.array((NBYTES,), np.uint8)[:] = data
            cuda_utils.call("cudaGraphLaunch", graph_exec, stream.stream)
            stream.synchronize()
            assert np.array_equal(host_out.array((NBYTES,), np.uint8), data)
    finally:
        if graph_exec is not None:
            cuda_utils.call("cudaGraphExecDestroy", graph_exec)
        if graph is not None:
            cuda_utils.call("cudaGraphDestroy", graph)
        release(host_in, host_out, buffer, stream)


def test_a_bad_call_is_a_cuda_error_naming_it():
    count = cuda_utils.device_count()  # one past the last device: a clean, non-sticky error
    with pytest.raises(cuda_utils.CudaError, match=r"CUDA call cudaSetDevice failed with cudaErrorInvalidDevice"):
        cuda_utils.call("cudaSetDevice", count)
    cuda_utils.call("cudaGetLastError")  # clear it for the next tests
    cuda_utils.call("cudaSetDevice", 0)


# ---- the TensorRT backend's buffer sets (runtime/backends/tensorrt.py), no engine needed ----------------
BINDINGS = [Binding("input", True, (1, 3, 32, 48), (1, 3, 32, 48), np.dtype(np.float32)),
            Binding("labels", False, (1, 32, 48), (1, 32, 48), np.dtype(np.int32))]


@pytest.mark.parametrize("zero_copy", [False, True], ids=["device-buffers", "zero-copy"])
def test_buffer_sets_move_data_on_their_stream(device, zero_copy):
    if zero_copy and not device.can_map_host_memory:
        pytest.skip(f"{device.name} cannot map host memory")
    buffers = BufferSet(BINDINGS, zero_copy=zero_copy, graph_cache_size=1)
    try:
        frame = np.random.default_rng(4).standard_normal((1, 3, 32, 48)).astype(np.float32)
        buffers.host_array("input", (1, 3, 32, 48), np.float32)[:] = frame
        stream = buffers.cuda_stream
        if not zero_copy:
            cuda_utils.copy_async(buffers.device_ptr("input"), buffers.host["input"].host_ptr, frame.nbytes, "h2d", stream)
        # what an engine would do: write the output where the set says the GPU sees it
        cuda_utils.call("cudaMemsetAsync", buffers.device_ptr("labels"), 0, 32 * 48 * 4, stream.stream)
        cuda_utils.call("cudaMemcpyAsync", buffers.device_ptr("labels"), buffers.device_ptr("input"), 32 * 48 * 4,
                        kind("cudaMemcpyDefault"), stream.stream)
        if not zero_copy:
            cuda_utils.copy_async(buffers.host["labels"].host_ptr, buffers.device_ptr("labels"), 32 * 48 * 4, "d2h",
                                  stream)
        stream.synchronize()
        labels = buffers.host_array("labels", (1, 32, 48), np.int32)
        assert np.array_equal(labels.view(np.float32).ravel(), frame.ravel()[:32 * 48])
        # graphs captured on the set's stream are cached and evicted (destroyed) past graph_cache_size
        cudart = cuda_utils.import_cudart()
        for key in ("a", "b"):
            cuda_utils.call("cudaStreamBeginCapture", stream.stream, cudart.cudaStreamCaptureMode.cudaStreamCaptureModeGlobal)
            cuda_utils.call("cudaMemsetAsync", buffers.device_ptr("labels"), 0, 16, stream.stream)
            graph = cuda_utils.call("cudaStreamEndCapture", stream.stream)
            buffers.add_graph((key,), graph, cuda_utils.call("cudaGraphInstantiateWithFlags", graph, 0))
        assert buffers.graph_for(("a",)) is None and buffers.graph_for(("b",)) is not None
        cuda_utils.call("cudaGraphLaunch", buffers.graph_for(("b",)), stream.stream)
        stream.synchronize()
    finally:
        buffers.free()
    assert buffers.stream is None and not buffers.host and not buffers.device and not buffers.graphs


# ---- TensorRT engines from a tiny exported SegNet vs ONNX Runtime ------------------------------------------
@pytest.fixture(scope="module")
def tensorrt_ready():
    """Skips the engine tests (before any export work) where TensorRT cannot be imported, saying why."""
    reason = tensorrt_unavailable()
    if reason:
        pytest.skip(reason)


@pytest.fixture(scope="module")
def tiny_onnx(tensorrt_ready, tmp_path_factory):
    """A segnet_lite (width 1/8, 5 classes, 64x96) with non-trivial BatchNorm statistics, exported here."""
    for name, why in (("torch", "to export the model"), ("onnx", "export extra"), ("onnxruntime", "the reference")):
        reason = module_unavailable(name, why)
        if reason:
            pytest.skip(reason)
    import torch

    from segnet.export.onnx_export import export_model
    from segnet.models import create_model
    from segnet.spec import ModelSpec

    torch.manual_seed(0)
    model = create_model("segnet_lite", 5, in_channels=3, width=0.125).eval()
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, torch.nn.BatchNorm2d):
                module.running_mean.uniform_(-0.5, 0.5)
                module.running_var.uniform_(0.5, 2.0)
    spec = ModelSpec(arch="segnet_lite", num_classes=5, in_channels=3, arch_args=model.arch_args, input_size=(64, 96))
    return export_model(model, spec, tmp_path_factory.mktemp("gpu_export") / "model.onnx", check_rewrite=False)


@pytest.fixture(scope="module")
def reference(tiny_onnx):
    """Four synthetic road scenes normalised as the runtime feeds them, and ONNX Runtime's logits (CPU) on
    them: what every engine is compared with."""
    from segnet.data.synthetic import render_scene
    from segnet.export import inputs, verify
    from segnet.spec import read_sidecar

    spec = read_sidecar(tiny_onnx)[0]  # type: ignore[index]
    bgr = np.stack([render_scene(np.random.default_rng(i), (64, 96))[0][..., ::-1] for i in range(4)])
    batch = inputs.normalize(np.ascontiguousarray(bgr), spec)
    run = verify.ort_runner(str(tiny_onnx))
    return batch, np.concatenate([run(batch[i:i + 1])["logits"] for i in range(len(batch))])


# FP32 engines may use TF32 on Ampere and later (10-bit mantissa): tolerances are relative to the logits' range
TOLERANCE = {"fp32": 1e-2, "fp16": 3e-2}


@pytest.mark.parametrize("precision", ["fp32", "fp16"])
def test_engine_matches_onnxruntime(tiny_onnx, reference, tmp_path, precision):
    from segnet.export.tensorrt_build import build_engine
    from segnet.nvidia.build_options import BuildOptions
    from segnet.runtime.backends.tensorrt import TensorRTBackend

    engine = build_engine(tiny_onnx, tmp_path / f"model.{precision}.engine", BuildOptions(fp16=precision == "fp16"),
                          log=lambda message: None)
    batch, expected = reference
    scale = float(np.abs(expected).max())
    tolerance = TOLERANCE[precision] * scale
    for cuda_graph in (False, True):
        with TensorRTBackend(engine, cuda_graph=cuda_graph) as backend:
            name = backend.inputs[0].name
            got = np.concatenate([backend.infer({name: batch[i:i + 1]})["logits"] for i in range(len(batch))])
            pending = [backend.infer_async({name: batch[i:i + 1]}) for i in range(2)]  # two in flight
            in_flight = np.concatenate([p.result()["logits"] for p in pending])
        assert got.shape == expected.shape and np.array_equal(in_flight, got[:2])
        assert float(np.abs(got - expected).max()) <= tolerance, (precision, cuda_graph)
        # class maps: equal wherever the reference's top two classes are further apart than the tolerance
        top2 = np.sort(expected, axis=1)[:, -2:]
        decided = (top2[:, 1] - top2[:, 0]) > 2 * tolerance
        assert np.array_equal(got.argmax(1)[decided], expected.argmax(1)[decided])
        assert (got.argmax(1) == expected.argmax(1)).mean() >= 0.99


# ---- training on CUDA with --amp, and resume ---------------------------------------------------------------
@pytest.fixture(scope="module")
def tiny_data(tmp_path_factory):
    reason = module_unavailable("torch", "training")
    if reason:
        pytest.skip(reason)
    import torch

    if not torch.cuda.is_available():
        pytest.skip(f"this torch ({torch.__version__}) has no CUDA: install a CUDA build of PyTorch")
    from segnet.data.synthetic import generate_dataset

    root = tmp_path_factory.mktemp("gpu_synth")
    generate_dataset(root, 16, 4, 0, size=(64, 96), seed=5)
    return root


def test_train_with_amp_on_cuda_and_resume(tiny_data, tmp_path):
    """`segnet train --device cuda --amp`: 2 epochs straight vs 1 epoch then `--resume` to 2."""
    import torch

    from segnet.cli import main
    from segnet.train.checkpoint import load_checkpoint

    common = ["--data", str(tiny_data), "--imgsz", "64", "96", "--width", "0.25", "--batch", "4", "--workers", "0",
              "--device", "cuda", "--amp", "--lr", "0.01"]
    assert main(["train", *common, "--epochs", "2", "--out", str(tmp_path / "straight")]) == 0
    assert main(["train", *common, "--epochs", "1", "--out", str(tmp_path / "resumed")]) == 0
    first = load_checkpoint(tmp_path / "resumed" / "last.pt")
    assert first["config"]["amp"] and first["scaler"] is not None, "AMP's GradScaler state is saved"
    assert main(["train", "--resume", str(tmp_path / "resumed" / "last.pt"), "--epochs", "2"]) == 0
    a, b = load_checkpoint(tmp_path / "straight" / "last.pt"), load_checkpoint(tmp_path / "resumed" / "last.pt")
    assert a["epoch"] == b["epoch"] == 2 and [h["epoch"] for h in b["metrics"]["history"]] == [1, 2]
    assert a["scaler"]["scale"] == b["scaler"]["scale"]
    assert all(np.isfinite(h["train_loss"]) for h in b["metrics"]["history"])
    for name, tensor in a["model"].items():  # cuDNN kernels are not bit-deterministic: close, not equal
        assert torch.allclose(tensor.float(), b["model"][name].float(), rtol=1e-2, atol=1e-3), name
    assert all(t.dtype == torch.float32 for t in a["model"].values() if t.is_floating_point())  # AMP: fp32 weights
