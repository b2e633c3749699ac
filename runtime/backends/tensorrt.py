"""Native TensorRT backend: runs a serialized engine with cuda-python (no torch, no pycuda).

Two buffer sets, each with its own stream, pinned host memory (mapped zero-copy on integrated GPUs such as
Jetson's) and device memory, so the copy-in of frame n+1 overlaps the compute of frame n: `infer_async`
returns a PendingInference at once, `infer` waits. The one execution context is shared; each set's
stream waits on the other set's compute event before enqueueing, so compute never overlaps itself.
Times per inference (h2d / compute / d2h, ms) come from CUDA events. Optional CUDA graph per buffer set.
"""

from __future__ import annotations

import contextlib
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from segnet.runtime import cuda_utils, trt_utils
from segnet.runtime.backends.base import Backend, TensorInfo
from segnet.runtime.trt_utils import trt

from segnet.errors import SegnetError
from segnet.spec import read_sidecar

_EVENTS = ("start", "h2d", "compute_start", "compute", "end")


@dataclass(frozen=True)
class Binding:
    """One engine I/O tensor: engine shape (-1 = dynamic), allocation (max) shape and numpy dtype."""

    name: str
    is_input: bool
    shape: tuple[int, ...]
    max_shape: tuple[int, ...]
    dtype: np.dtype

    @property
    def max_bytes(self) -> int:
        return int(np.prod(self.max_shape, dtype=np.int64)) * self.dtype.itemsize


class BufferSet:
    """Memory, stream and timing events for one in-flight inference."""

    def __init__(self, bindings: list[Binding], zero_copy: bool) -> None:
        self.zero_copy = zero_copy
        self.stream: cuda_utils.Stream | None = None
        self.events: dict[str, cuda_utils.Event] = {}
        self.host: dict[str, cuda_utils.PinnedBuffer] = {}
        self.device: dict[str, cuda_utils.DeviceBuffer] = {}
        self.shapes: dict[str, tuple[int, ...]] = {}
        self.pending = False
        self.launched = False
        self.graph: Any = None
        self.graph_exec: Any = None
        self.graph_key: tuple[Any, ...] | None = None
        try:
            self.stream = cuda_utils.Stream()
            for event in _EVENTS:
                self.events[event] = cuda_utils.Event()
            for b in bindings:
                self.host[b.name] = cuda_utils.PinnedBuffer(b.max_bytes, mapped=zero_copy)
                if not zero_copy:
                    self.device[b.name] = cuda_utils.DeviceBuffer(b.max_bytes)
        except BaseException:
            with contextlib.suppress(SegnetError):  # keep the allocation error, not a follow-up one
                self.free()
            raise

    @property
    def cuda_stream(self) -> cuda_utils.Stream:
        assert self.stream is not None, "buffer set already freed"
        return self.stream

    def device_ptr(self, name: str) -> int:
        """Where the GPU sees tensor `name`: the mapped host buffer (zero-copy) or the device buffer."""
        if self.zero_copy:
            return int(self.host[name].device_ptr or 0)
        return self.device[name].ptr

    def host_array(self, name: str, shape: tuple[int, ...], dtype: np.dtype) -> np.ndarray:
        return self.host[name].array(shape, dtype)

    def drop_graph(self) -> None:
        if self.graph_exec is not None:
            cuda_utils.call("cudaGraphExecDestroy", self.graph_exec)
        if self.graph is not None:
            cuda_utils.call("cudaGraphDestroy", self.graph)
        self.graph = self.graph_exec = self.graph_key = None

    def free(self) -> None:
        if self.stream is not None:
            self.stream.synchronize()
        self.drop_graph()
        for pinned in self.host.values():
            pinned.free()
        for device in self.device.values():
            device.free()
        for event in self.events.values():
            event.destroy()
        if self.stream is not None:
            self.stream.destroy()
        self.host, self.device, self.events, self.stream = {}, {}, {}, None


class PendingInference:
    """An inference in flight on one buffer set; `result()` waits for it and returns its outputs."""

    def __init__(self, backend: TensorRTBackend, slot: int) -> None:
        self._backend, self._slot = backend, slot
        self._outputs: dict[str, np.ndarray] | None = None

    def result(self) -> dict[str, np.ndarray]:
        if self._outputs is None:
            self._outputs = self._backend._collect(self._slot)
        return self._outputs


class TensorRTBackend(Backend):
    """Runs a TensorRT plan (`.engine`) built by `segnet build` (or trtexec) on GPU `device_index`."""

    name = "tensorrt"

    def __init__(self, engine_path: str | Path, cuda_graph: bool = False, device_index: int = 0,
                 zero_copy: bool | None = None, check_compatibility: bool = True) -> None:
        super().__init__()
        self.engine_path = Path(engine_path)
        self.cuda_graph = cuda_graph
        self.device_index = device_index
        self.zero_copy_request = zero_copy
        self.check_compatibility = check_compatibility
        self.zero_copy = False
        self.device_memory_bytes = 0
        self.device: cuda_utils.DeviceInfo | None = None
        self._bindings: list[Binding] = []
        self._sets: list[BufferSet] = []
        self._next = 0
        self._engine: trt.ICudaEngine | None = None
        self._context: trt.IExecutionContext | None = None
        self._runtime: trt.Runtime | None = None
        self._logger: Any = None

    # -- life cycle -------------------------------------------------------------------------------
    def activate(self) -> None:
        if self._context is not None:
            return
        trt_utils.import_tensorrt("running TensorRT engines")
        if not self.engine_path.is_file():
            raise SegnetError(f"{self.engine_path}: engine file not found; build one with `segnet build MODEL.onnx`")
        built = self._built_for()
        if self.check_compatibility:
            self._check_version(built)
        cuda_utils.call("cudaSetDevice", self.device_index)
        self.device = cuda_utils.device_info(self.device_index)
        if self.check_compatibility:
            self._check_gpu(built, self.device)
        self._logger = trt_utils.make_logger()
        runtime = trt.Runtime(self._logger)
        engine = runtime.deserialize_cuda_engine(self.engine_path.read_bytes())
        if engine is None:
            raise SegnetError(f"{self.engine_path}: TensorRT {trt_utils.version()} cannot load this engine "
                              f"({self._logger.tail() or 'no details'}); an engine runs only on the TensorRT version "
                              f"and GPU it was built with: {self._rebuild_hint(built)}")
        v2 = hasattr(engine, "device_memory_size_v2")  # TensorRT 10.1+; 11.x has only this one
        self.device_memory_bytes = int(engine.device_memory_size_v2 if v2 else engine.device_memory_size)
        context = engine.create_execution_context()
        if context is None:
            raise SegnetError(f"{self.engine_path}: TensorRT could not create an execution context "
                              f"({self._logger.tail() or 'out of GPU memory?'})")
        self._runtime, self._engine, self._context = runtime, engine, context
        self._bindings = self._read_bindings()
        self.zero_copy = (self.device.integrated and self.device.can_map_host_memory
                          if self.zero_copy_request is None else self.zero_copy_request)
        self._next = 0
        try:
            for _ in range(2):
                self._sets.append(BufferSet(self._bindings, self.zero_copy))
        except BaseException:
            with contextlib.suppress(SegnetError):
                self.deactivate()
            raise
        self.is_active = True

    def deactivate(self) -> None:
        for buffers in self._sets:
            buffers.free()
        self._sets = []
        self._context = self._engine = self._runtime = None
        if self._logger is not None:
            self._logger.close()
        self._logger = None
        self.is_active = False

    @property
    def context(self) -> trt.IExecutionContext:
        """The execution context (after activate)."""
        if self._context is None:
            raise SegnetError("TensorRTBackend: call activate() (or use it in a with-block) first")
        return self._context

    @property
    def engine(self) -> trt.ICudaEngine:
        """The deserialized engine (after activate)."""
        if self._engine is None:
            raise SegnetError("TensorRTBackend: call activate() (or use it in a with-block) first")
        return self._engine

    # -- compatibility ----------------------------------------------------------------------------
    def _built_for(self) -> dict[str, Any]:
        found = read_sidecar(self.engine_path)
        if found is None or found[1] is None:
            return {}
        return dict(found[1].details)

    def _rebuild_hint(self, built: dict[str, Any]) -> str:
        onnx = built.get("onnx_file") or "MODEL.onnx"
        return f"rebuild on this device with `segnet build {self.engine_path.parent / onnx} -o {self.engine_path}`"

    def _mismatch(self, built: dict[str, Any], here_gpu: str) -> SegnetError:
        return SegnetError(
            f"{self.engine_path}: built with TensorRT {built.get('tensorrt_version')} for "
            f"{built.get('gpu_name')} (compute {built.get('compute_capability')}); this is TensorRT "
            f"{trt_utils.version()} on {here_gpu}: {self._rebuild_hint(built)}")

    def _check_version(self, built: dict[str, Any]) -> None:
        version = built.get("tensorrt_version")
        if version and not trt_utils.same_release(str(version), trt_utils.version()):
            raise self._mismatch(built, "this GPU")

    def _check_gpu(self, built: dict[str, Any], device: cuda_utils.DeviceInfo) -> None:
        here = f"{device.name} (compute {device.compute_capability})"
        cc = built.get("compute_capability")
        if cc and str(cc) != device.compute_capability:
            raise self._mismatch(built, here)
        if built.get("gpu_name") and built["gpu_name"] != device.name:
            print(f"segnet: warning: {self.engine_path.name} was built on {built['gpu_name']}, running on "
                  f"{device.name} (same compute capability); rebuild if it fails or runs slowly", file=sys.stderr)

    # -- tensors ----------------------------------------------------------------------------------
    def _read_bindings(self) -> list[Binding]:
        """I/O tensors; dynamic inputs sized at the first profile's maximum, outputs at the shapes that gives."""
        engine, context = self.engine, self.context
        names = [engine.get_tensor_name(i) for i in range(engine.num_io_tensors)]
        is_input = {n: engine.get_tensor_mode(n) == trt.TensorIOMode.INPUT for n in names}
        shapes = {n: trt_utils.shape_of(engine.get_tensor_shape(n)) for n in names}
        max_shapes: dict[str, tuple[int, ...]] = {}
        for name in (n for n in names if is_input[n]):
            max_shapes[name] = shapes[name]
            if any(d < 0 for d in shapes[name]):
                max_shapes[name] = trt_utils.shape_of(engine.get_tensor_profile_shape(name, 0)[2])
                context.set_input_shape(name, trt_utils.dims_of(max_shapes[name]))
        for name in (n for n in names if not is_input[n]):
            max_shapes[name] = trt_utils.shape_of(context.get_tensor_shape(name))
            if any(d < 0 for d in max_shapes[name]):
                raise SegnetError(f"{self.engine_path}: output {name!r} has a data-dependent shape "
                                  f"{max_shapes[name]}, which this backend does not support")
        return [Binding(n, is_input[n], shapes[n], max_shapes[n], np.dtype(trt.nptype(engine.get_tensor_dtype(n))))
                for n in names]

    @property
    def inputs(self) -> list[TensorInfo]:
        return [TensorInfo(b.name, tuple(d if d >= 0 else None for d in b.shape), b.dtype)
                for b in self._bindings if b.is_input]

    @property
    def outputs(self) -> list[TensorInfo]:
        return [TensorInfo(b.name, tuple(d if d >= 0 else None for d in b.shape), b.dtype)
                for b in self._bindings if not b.is_input]

    def _prepare(self, feed: dict[str, np.ndarray]) -> tuple[dict[str, np.ndarray], dict[str, tuple[int, ...]]]:
        """Validate the feed (names, dtypes, shapes), set dynamic input shapes; return arrays and all shapes."""
        context = self.context
        inputs = {b.name: b for b in self._bindings if b.is_input}
        unknown, missing = set(feed) - set(inputs), set(inputs) - set(feed)
        if unknown or missing:
            raise SegnetError(f"{self.engine_path.name}: expected inputs {sorted(inputs)}, got {sorted(feed)}")
        arrays, shapes = {}, {}
        for name, binding in inputs.items():
            array = np.asarray(feed[name])
            if array.dtype.kind != binding.dtype.kind:
                raise SegnetError(f"input {name!r} takes {binding.dtype} data, got {array.dtype}")
            array = np.ascontiguousarray(array, dtype=binding.dtype)
            fits = len(array.shape) == len(binding.shape) and all(
                (e < 0 and 1 <= a <= m) or a == e for a, e, m in zip(array.shape, binding.shape, binding.max_shape))
            if not fits:
                raise SegnetError(f"input {name!r} of {self.engine_path.name} takes shape {binding.shape} "
                                  f"(-1 up to {binding.max_shape}), got {array.shape}")
            changed = any(d < 0 for d in binding.shape) and trt_utils.shape_of(context.get_tensor_shape(name)) != array.shape
            if changed and not context.set_input_shape(name, trt_utils.dims_of(array.shape)):
                raise SegnetError(f"TensorRT rejected input shape {array.shape} for {name!r}")
            arrays[name], shapes[name] = array, tuple(array.shape)
        for binding in self._bindings:
            if not binding.is_input:
                shapes[binding.name] = trt_utils.shape_of(context.get_tensor_shape(binding.name))
        return arrays, shapes

    # -- inference --------------------------------------------------------------------------------
    def infer(self, feed: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        return self.infer_async(feed).result()

    def infer_async(self, feed: dict[str, np.ndarray]) -> PendingInference:
        """Start an inference on the next buffer set and return at once; at most two are in flight."""
        context = self.context
        slot = self._next
        buffers, other = self._sets[slot], self._sets[1 - slot]
        if buffers.pending:
            raise SegnetError("two inferences are already in flight: call result() on the older one first")
        arrays, shapes = self._prepare(feed)
        for name, array in arrays.items():
            buffers.host_array(name, array.shape, array.dtype)[...] = array
        stream, events = buffers.cuda_stream, buffers.events
        events["start"].record(stream)
        if not buffers.zero_copy:
            for name, array in arrays.items():
                cuda_utils.copy_async(buffers.device_ptr(name), buffers.host[name].host_ptr, array.nbytes, "h2d", stream)
        events["h2d"].record(stream)
        if other.launched:
            stream.wait(other.events["compute"])  # the execution context is free once the other set computed
        events["compute_start"].record(stream)
        for binding in self._bindings:
            if not context.set_tensor_address(binding.name, buffers.device_ptr(binding.name)):
                raise SegnetError(f"TensorRT rejected the address of tensor {binding.name!r}")
        self._enqueue(buffers, shapes)
        events["compute"].record(stream)
        if not buffers.zero_copy:
            for binding in (b for b in self._bindings if not b.is_input):
                nbytes = int(np.prod(shapes[binding.name], dtype=np.int64)) * binding.dtype.itemsize
                cuda_utils.copy_async(buffers.host[binding.name].host_ptr, buffers.device_ptr(binding.name),
                                      nbytes, "d2h", stream)
        events["end"].record(stream)
        buffers.shapes, buffers.pending, buffers.launched = shapes, True, True
        self._next = 1 - slot
        return PendingInference(self, slot)

    def _execute(self, stream_handle: int) -> None:
        if not self.context.execute_async_v3(stream_handle):
            raise SegnetError(f"TensorRT inference failed: {self._logger.tail() or 'execute_async_v3 returned False'}")

    def _enqueue(self, buffers: BufferSet, shapes: dict[str, tuple[int, ...]]) -> None:
        """Run the engine on the set's stream: directly, or by a CUDA graph captured for these shapes."""
        if not self.cuda_graph:
            self._execute(buffers.cuda_stream.handle)
            return
        key = tuple(sorted(shapes.items()))
        if buffers.graph_key != key:
            self._execute(buffers.cuda_stream.handle)  # this frame; also TensorRT's deferred setup before capture
            buffers.drop_graph()
            self._capture(buffers)
            buffers.graph_key = key
            return
        cuda_utils.call("cudaGraphLaunch", buffers.graph_exec, buffers.cuda_stream.stream)

    def _capture(self, buffers: BufferSet) -> None:
        cudart = cuda_utils.import_cudart()
        stream = buffers.cuda_stream
        cuda_utils.call("cudaStreamBeginCapture", stream.stream, cudart.cudaStreamCaptureMode.cudaStreamCaptureModeGlobal)
        try:
            self._execute(stream.handle)
        finally:
            buffers.graph = cuda_utils.call("cudaStreamEndCapture", stream.stream)
        # ...WithFlags: the same signature from CUDA 11.4 (JetPack 5) to 13, unlike cudaGraphInstantiate
        buffers.graph_exec = cuda_utils.call("cudaGraphInstantiateWithFlags", buffers.graph, 0)

    def _collect(self, slot: int) -> dict[str, np.ndarray]:
        """Wait for the inference on buffer set `slot`; copy its outputs out and record its timing."""
        buffers = self._sets[slot]
        if not buffers.pending:
            raise SegnetError("this inference's result was already collected")
        events = buffers.events
        events["end"].synchronize()
        buffers.pending = False
        self.last_timing = {"h2d": events["h2d"].elapsed_ms(events["start"]),
                            "compute": events["compute"].elapsed_ms(events["compute_start"]),
                            "d2h": events["end"].elapsed_ms(events["compute"])}
        return {b.name: buffers.host_array(b.name, buffers.shapes[b.name], b.dtype).copy()
                for b in self._bindings if not b.is_input}
