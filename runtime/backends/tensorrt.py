"""Native TensorRT backend: runs a serialized engine with cuda-python (no torch, no pycuda).

Two buffer sets, each with its own stream, pinned host memory (mapped zero-copy on integrated GPUs such as
Jetson's) and device memory, so the copy-in of frame n+1 overlaps the compute of frame n: `infer_async`
returns a PendingInference at once, `infer` waits. The one execution context is shared; each set's
stream waits on the other set's compute event before enqueueing, so compute never overlaps itself.
Times per inference (h2d / compute / d2h, ms) come from CUDA events. Optional CUDA graphs, cached per
buffer set by tensor shapes and addresses.

`allocate` hands out pinned (zero-copy: GPU-mapped) host arrays: as inputs the GPU reads them directly
(zero-copy) or copies straight from them; as `outputs` it writes into them. Until `result()`, the caller
must leave such arrays alone; they are freed by `deactivate`.
"""

from __future__ import annotations

import collections
import contextlib
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from segnet.errors import SegnetError
from segnet.nvidia import cuda_utils, trt_utils
from segnet.nvidia.trt_utils import trt
from segnet.runtime.backends.base import Backend, Pending, TensorInfo
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

    def __init__(self, bindings: list[Binding], zero_copy: bool, graph_cache_size: int = 8) -> None:
        self.zero_copy = zero_copy
        self.stream: cuda_utils.Stream | None = None
        self.events: dict[str, cuda_utils.Event] = {}
        self.host: dict[str, cuda_utils.PinnedBuffer] = {}
        self.device: dict[str, cuda_utils.DeviceBuffer] = {}
        self.shapes: dict[str, tuple[int, ...]] = {}
        self.filled: dict[str, np.ndarray] = {}  # caller's outputs the GPU (or its d2h copy) writes into
        self.copy_into: dict[str, np.ndarray] = {}  # caller's outputs filled from the host buffers on collect
        self.pending = False
        self.launched = False
        # instantiated CUDA graphs by (shapes, tensor addresses), least recently used first
        self.graphs: collections.OrderedDict[tuple[Any, ...], tuple[Any, Any]] = collections.OrderedDict()
        self.graph_cache_size = max(1, graph_cache_size)
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

    def graph_for(self, key: tuple[Any, ...]) -> Any:
        """The instantiated graph captured for `key` (now the most recently used), or None."""
        found = self.graphs.get(key)
        if found is None:
            return None
        self.graphs.move_to_end(key)
        return found[1]

    def add_graph(self, key: tuple[Any, ...], graph: Any, graph_exec: Any) -> None:
        """Cache a captured graph; beyond `graph_cache_size`, destroy the least recently used."""
        self.graphs[key] = (graph, graph_exec)
        while len(self.graphs) > self.graph_cache_size:
            _, (old_graph, old_exec) = self.graphs.popitem(last=False)
            _destroy_graph(old_graph, old_exec)

    def drop_graphs(self) -> None:
        graphs, self.graphs = list(self.graphs.values()), collections.OrderedDict()
        for graph, graph_exec in graphs:
            _destroy_graph(graph, graph_exec)

    def free(self) -> None:
        if self.stream is not None:
            self.stream.synchronize()
        self.drop_graphs()
        for pinned in self.host.values():
            pinned.free()
        for device in self.device.values():
            device.free()
        for event in self.events.values():
            event.destroy()
        if self.stream is not None:
            self.stream.destroy()
        self.host, self.device, self.events, self.stream = {}, {}, {}, None
        self.filled, self.copy_into = {}, {}


def _destroy_graph(graph: Any, graph_exec: Any) -> None:
    if graph_exec is not None:
        cuda_utils.call("cudaGraphExecDestroy", graph_exec)
    if graph is not None:
        cuda_utils.call("cudaGraphDestroy", graph)


class PendingInference(Pending):
    """An inference in flight on one buffer set; `result()` waits for it and returns its outputs."""

    def __init__(self, backend: TensorRTBackend, slot: int) -> None:
        # not Pending.__init__: the outputs are known only once collected
        self._backend, self._slot = backend, slot
        self._collected: dict[str, np.ndarray] | None = None

    def result(self) -> dict[str, np.ndarray]:
        if self._collected is None:
            self._collected = self._backend._collect(self._slot)
        return self._collected


class TensorRTBackend(Backend):
    """Runs a TensorRT plan (`.engine`) built by `segnet build` (or trtexec) on GPU `device_index`."""

    name = "tensorrt"
    max_in_flight = 2  # the two buffer sets
    graph_cache_size = 8  # CUDA graphs kept per buffer set (cuda_graph=True), by shapes and tensor addresses

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
        self._allocated: dict[int, cuda_utils.PinnedBuffer] = {}  # allocate()'s buffers by host pointer
        self._next = 0
        self._engine: trt.ICudaEngine | None = None
        self._context: trt.IExecutionContext | None = None
        self._runtime: trt.Runtime | None = None
        self._logger: Any = None

    # -- life cycle -------------------------------------------------------------------------------
    def _activate_impl(self) -> None:
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
                self._sets.append(BufferSet(self._bindings, self.zero_copy, self.graph_cache_size))
        except BaseException:
            with contextlib.suppress(SegnetError):
                self._deactivate_impl()
            raise

    def _deactivate_impl(self) -> None:
        for buffers in self._sets:
            buffers.free()  # waits for its stream, so nothing uses the allocated buffers any more
        self._sets = []
        allocated, self._allocated = list(self._allocated.values()), {}
        for pinned in allocated:
            pinned.free()
        self._context = self._engine = self._runtime = None
        if self._logger is not None:
            self._logger.close()
        self._logger = None

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
        inputs = {b.name: b for b in self._bindings if b.is_input}  # names already checked by Backend
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

    def _check_outputs(self, outputs: dict[str, np.ndarray],
                       shapes: dict[str, tuple[int, ...]]) -> dict[str, np.ndarray]:
        """Validate the caller's output arrays (known names, this inference's shapes, exact dtypes, writable)."""
        known = {b.name: b for b in self._bindings if not b.is_input}
        unknown = sorted(set(outputs) - set(known))
        if unknown:
            raise SegnetError(f"{self.engine_path.name}: no output tensor {unknown[0]!r}; outputs are {sorted(known)}")
        for name, array in outputs.items():
            expected, dtype = shapes[name], known[name].dtype
            if not isinstance(array, np.ndarray) or tuple(array.shape) != expected or array.dtype != dtype:
                got = (f"shape {tuple(array.shape)} {array.dtype}" if isinstance(array, np.ndarray)
                       else type(array).__name__)
                raise SegnetError(f"output {name!r} of {self.engine_path.name}: expected an array of shape "
                                  f"{expected} {dtype}, got {got}")
            if not array.flags.writeable:
                raise SegnetError(f"output {name!r} of {self.engine_path.name}: the given array is read-only")
        return outputs

    # -- streaming buffers ------------------------------------------------------------------------
    def allocate(self, shape: tuple[int, ...], dtype: np.dtype) -> np.ndarray:
        """A new array in pinned host memory (GPU-mapped when zero-copy) that `infer` reads or fills without a
        host copy: the GPU uses it directly (zero-copy) or copies straight to/from it. Valid until deactivate."""
        if self._context is None or not self._sets:
            raise SegnetError("TensorRTBackend.allocate: its buffers are pinned for this GPU; call activate() "
                              "(or use the backend in a with-block) first")
        shape = tuple(int(d) for d in shape)
        if any(d < 0 for d in shape):
            raise SegnetError(f"TensorRTBackend.allocate: negative dimension in shape {shape}")
        dtype = np.dtype(dtype)
        pinned = cuda_utils.PinnedBuffer(int(np.prod(shape, dtype=np.int64)) * dtype.itemsize, mapped=self.zero_copy)
        self._allocated[pinned.host_ptr] = pinned
        return pinned.array(shape, dtype)

    def _pinned(self, array: np.ndarray) -> tuple[int, int | None] | None:
        """(host pointer, mapped device pointer or None) of `array` when it lies, C-contiguous, in memory from
        `allocate`; None for any other array."""
        if not self._allocated or not array.flags.c_contiguous:
            return None
        ptr, nbytes = int(array.ctypes.data), int(array.nbytes)
        for base, pinned in self._allocated.items():
            if base <= ptr and ptr + nbytes <= base + pinned.nbytes:
                device = None if pinned.device_ptr is None else pinned.device_ptr + (ptr - base)
                return ptr, device
        return None

    # -- inference --------------------------------------------------------------------------------
    def _label(self) -> str:
        return self.engine_path.name

    def _infer_impl(self, feed: dict[str, np.ndarray],
                    outputs: dict[str, np.ndarray] | None) -> dict[str, np.ndarray]:
        return self._infer_async_impl(feed, outputs).result()

    def _infer_async_impl(self, feed: dict[str, np.ndarray],
                          outputs: dict[str, np.ndarray] | None) -> PendingInference:
        """Start an inference on the next buffer set and return at once; at most two are in flight. Arrays
        from `allocate` (inputs, or `outputs`) are used in place; other `outputs` are filled on result()."""
        context = self.context
        slot = self._next
        buffers, other = self._sets[slot], self._sets[1 - slot]
        if buffers.pending:
            raise SegnetError("two inferences are already in flight: call result() on the older one first")
        arrays, shapes = self._prepare(feed)
        targets = self._check_outputs(outputs or {}, shapes)
        zero_copy = buffers.zero_copy
        addresses = {b.name: buffers.device_ptr(b.name) for b in self._bindings}
        h2d: list[tuple[int, int, int]] = []  # (dst, src, nbytes)
        for name, array in arrays.items():
            pinned = self._pinned(array)
            if pinned is None:  # any other array: through this set's pinned buffer
                buffers.host_array(name, array.shape, array.dtype)[...] = array
                if not zero_copy:
                    h2d.append((addresses[name], buffers.host[name].host_ptr, array.nbytes))
            elif zero_copy and pinned[1] is not None:
                addresses[name] = pinned[1]  # the GPU reads the caller's mapped memory
            else:
                h2d.append((addresses[name], pinned[0], array.nbytes))  # straight from the caller's pinned memory
        d2h: list[tuple[int, int, int]] = []
        filled, copy_into = {}, {}
        for binding in (b for b in self._bindings if not b.is_input):
            name = binding.name
            nbytes = int(np.prod(shapes[name], dtype=np.int64)) * binding.dtype.itemsize
            target = targets.get(name)
            pinned = self._pinned(target) if target is not None else None
            if target is not None and pinned is not None:
                filled[name] = target
                if zero_copy and pinned[1] is not None:
                    addresses[name] = pinned[1]  # the engine writes into the caller's mapped memory
                else:
                    d2h.append((pinned[0], addresses[name], nbytes))
                continue
            if target is not None:
                copy_into[name] = target
            if not zero_copy:
                d2h.append((buffers.host[name].host_ptr, addresses[name], nbytes))
        stream, events = buffers.cuda_stream, buffers.events
        events["start"].record(stream)
        for dst, src, nbytes in h2d:
            cuda_utils.copy_async(dst, src, nbytes, "h2d", stream)
        events["h2d"].record(stream)
        if other.launched:
            stream.wait(other.events["compute"])  # the execution context is free once the other set computed
        events["compute_start"].record(stream)
        for name, address in addresses.items():
            if not context.set_tensor_address(name, address):
                raise SegnetError(f"TensorRT rejected the address of tensor {name!r}")
        self._enqueue(buffers, shapes, addresses)
        events["compute"].record(stream)
        for dst, src, nbytes in d2h:
            cuda_utils.copy_async(dst, src, nbytes, "d2h", stream)
        events["end"].record(stream)
        buffers.shapes, buffers.filled, buffers.copy_into = shapes, filled, copy_into
        buffers.pending = buffers.launched = True
        self._next = 1 - slot
        return PendingInference(self, slot)

    def _execute(self, stream_handle: int) -> None:
        if not self.context.execute_async_v3(stream_handle):
            raise SegnetError(f"TensorRT inference failed: {self._logger.tail() or 'execute_async_v3 returned False'}")

    def _enqueue(self, buffers: BufferSet, shapes: dict[str, tuple[int, ...]], addresses: dict[str, int]) -> None:
        """Run the engine on the set's stream: directly, or by a CUDA graph captured for these shapes and
        tensor addresses (both are baked into a graph); the set keeps a few, so a ring of buffers replays."""
        if not self.cuda_graph:
            self._execute(buffers.cuda_stream.handle)
            return
        key = (tuple(sorted(shapes.items())), tuple(sorted(addresses.items())))
        graph_exec = buffers.graph_for(key)
        if graph_exec is None:
            self._execute(buffers.cuda_stream.handle)  # this frame; also TensorRT's deferred setup before capture
            buffers.add_graph(key, *self._capture(buffers))
            return
        cuda_utils.call("cudaGraphLaunch", graph_exec, buffers.cuda_stream.stream)

    def _capture(self, buffers: BufferSet) -> tuple[Any, Any]:
        """Capture one execution on the set's stream; returns (graph, instantiated graph)."""
        cudart = cuda_utils.import_cudart()
        stream = buffers.cuda_stream
        cuda_utils.call("cudaStreamBeginCapture", stream.stream, cudart.cudaStreamCaptureMode.cudaStreamCaptureModeGlobal)
        try:
            self._execute(stream.handle)
        except BaseException:
            with contextlib.suppress(SegnetError):  # end the capture; keep the execution's error
                _destroy_graph(cuda_utils.call("cudaStreamEndCapture", stream.stream), None)
            raise
        graph = cuda_utils.call("cudaStreamEndCapture", stream.stream)
        try:
            # ...WithFlags: the same signature from CUDA 11.4 (JetPack 5) to 13, unlike cudaGraphInstantiate
            return graph, cuda_utils.call("cudaGraphInstantiateWithFlags", graph, 0)
        except BaseException:
            with contextlib.suppress(SegnetError):
                _destroy_graph(graph, None)
            raise

    def _collect(self, slot: int) -> dict[str, np.ndarray]:
        """Wait for the inference on buffer set `slot`, record its timing and return its outputs: the caller's
        arrays where given (filled by the GPU, or here from the set's host buffers), else copies."""
        buffers = self._sets[slot]
        if not buffers.pending:
            raise SegnetError("this inference's result was already collected")
        events = buffers.events
        events["end"].synchronize()
        buffers.pending = False
        self.last_timing = {"h2d": events["h2d"].elapsed_ms(events["start"]),
                            "compute": events["compute"].elapsed_ms(events["compute_start"]),
                            "d2h": events["end"].elapsed_ms(events["compute"])}
        results: dict[str, np.ndarray] = {}
        for b in (b for b in self._bindings if not b.is_input):
            if b.name in buffers.filled:
                results[b.name] = buffers.filled[b.name]
                continue
            host = buffers.host_array(b.name, buffers.shapes[b.name], b.dtype)
            if b.name in buffers.copy_into:
                results[b.name] = buffers.copy_into[b.name]
                np.copyto(results[b.name], host)
            else:
                results[b.name] = host.copy()
        buffers.filled, buffers.copy_into = {}, {}
        return results
