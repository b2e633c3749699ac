"""CUDA from Python through NVIDIA's cuda-python (`cuda.bindings.runtime`, older `cuda.cudart`).

Every call goes through `call(name, *args)`, which checks the returned error code and raises a
CudaError naming the call, the error and what to do; nothing else in the project calls cudart directly.
Also here: device facts (name, memory, compute capability, integrated memory as on Jetson), pinned and
device buffers, streams and events. torch-free; cuda-python is imported on first use.
"""

from __future__ import annotations

import ctypes
from dataclasses import dataclass
from types import ModuleType
from typing import Any

import numpy as np

from segnet.errors import MissingDependencyError, SegnetError
from segnet.lazy import require

# Errors that mean "no usable GPU here" rather than a bug: reported as a missing dependency.
_NO_GPU_ERRORS = ("cudaErrorInsufficientDriver", "cudaErrorNoDevice", "cudaErrorInitializationError",
                  "cudaErrorCompatNotSupportedOnDevice", "cudaErrorSystemDriverMismatch")


class CudaError(SegnetError):
    """A CUDA runtime call failed; the message names the call and the CUDA error."""


def import_cudart() -> ModuleType:
    """The CUDA runtime module of cuda-python (12.x/13.x `cuda.bindings.runtime`, 11.x `cuda.cudart`)."""
    return require(("cuda.bindings.runtime", "cuda.cudart"), "TensorRT inference and CUDA buffers")


def _error_name(cudart: ModuleType, err: Any) -> str:
    try:
        _, name = cudart.cudaGetErrorName(err)
        return name.decode() if isinstance(name, bytes) else str(name)
    except Exception:  # noqa: BLE001 - the name is only decoration for the message
        return str(err)


def check(result: Any, name: str, cudart: ModuleType | None = None) -> Any:
    """Unpack a cuda-python result `(err, *values)`: raise CudaError unless err is cudaSuccess, else
    return None, the one value or the tuple of values."""
    cudart = cudart or import_cudart()
    err, values = (result[0], result[1:]) if isinstance(result, tuple) else (result, ())
    if int(err) != int(cudart.cudaError_t.cudaSuccess):
        label = _error_name(cudart, err)
        if label in _NO_GPU_ERRORS:
            raise _no_gpu(f"{name} failed with {label} ({int(err)})")
        raise CudaError(f"CUDA call {name} failed with {label} ({int(err)})")
    if not values:
        return None
    return values[0] if len(values) == 1 else values


def _no_gpu(detail: str) -> MissingDependencyError:
    return MissingDependencyError(
        f"no usable NVIDIA GPU: {detail}; check the NVIDIA driver "
        "(nvidia-smi, or on Jetson the JetPack install) and run `segnet doctor`")


def call(name: str, *args: Any) -> Any:
    """Call cudart function `name` with `args` and return its checked result (see `check`)."""
    cudart = import_cudart()
    try:
        result = getattr(cudart, name)(*args)
    except RuntimeError as exc:  # cuda-python < 12.6 (all Python 3.8 has) raises when libcuda cannot be loaded
        raise _no_gpu(f"{name} failed: {exc}") from exc
    return check(result, name, cudart)


@dataclass(frozen=True)
class DeviceInfo:
    """What the builder and the backend need to know about one GPU."""

    index: int
    name: str
    total_memory: int  # bytes
    compute_capability: str  # "8.7" on Orin
    integrated: bool  # shares memory with the CPU (Jetson): zero-copy mapped buffers pay off
    can_map_host_memory: bool
    multiprocessors: int


def device_count() -> int:
    return int(call("cudaGetDeviceCount"))


def device_info(index: int = 0) -> DeviceInfo:
    """Facts about GPU `index` from cudaGetDeviceProperties."""
    prop = call("cudaGetDeviceProperties", index)
    name = prop.name.decode(errors="replace") if isinstance(prop.name, bytes) else str(prop.name)
    return DeviceInfo(index=index, name=name.rstrip("\x00").strip(), total_memory=int(prop.totalGlobalMem),
                      compute_capability=f"{prop.major}.{prop.minor}", integrated=bool(prop.integrated),
                      can_map_host_memory=bool(prop.canMapHostMemory),
                      multiprocessors=int(prop.multiProcessorCount))


def version_string(version: int) -> str:
    """CUDA's integer version (12060) as text ("12.6")."""
    return f"{version // 1000}.{(version % 1000) // 10}"


def driver_and_runtime_versions() -> tuple[str, str]:
    return version_string(int(call("cudaDriverGetVersion"))), version_string(int(call("cudaRuntimeGetVersion")))


def host_array(ptr: int, shape: tuple[int, ...], dtype: np.dtype) -> np.ndarray:
    """A numpy view over `ptr` (pinned host memory): writing to it writes the pinned buffer."""
    dtype = np.dtype(dtype)
    nbytes = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    raw = (ctypes.c_ubyte * max(nbytes, 1)).from_address(int(ptr))
    return np.ctypeslib.as_array(raw)[:nbytes].view(dtype).reshape(shape)


class PinnedBuffer:
    """Page-locked host memory of `nbytes`. With `mapped`, the GPU reads and writes it directly
    (zero-copy, worth it on Jetson's shared memory) through `device_ptr`; else `device_ptr` is None."""

    def __init__(self, nbytes: int, mapped: bool = False) -> None:
        self.nbytes = max(int(nbytes), 1)
        self.mapped = mapped
        if mapped:
            cudart = import_cudart()
            self.host_ptr = int(call("cudaHostAlloc", self.nbytes, cudart.cudaHostAllocMapped))
            self.device_ptr: int | None = int(call("cudaHostGetDevicePointer", self.host_ptr, 0))
        else:
            self.host_ptr = int(call("cudaMallocHost", self.nbytes))
            self.device_ptr = None

    def array(self, shape: tuple[int, ...], dtype: np.dtype) -> np.ndarray:
        return host_array(self.host_ptr, shape, dtype)

    def free(self) -> None:
        if self.host_ptr:
            ptr, self.host_ptr = self.host_ptr, 0
            call("cudaFreeHost", ptr)


class DeviceBuffer:
    """`nbytes` of GPU memory (cudaMalloc)."""

    def __init__(self, nbytes: int) -> None:
        self.nbytes = max(int(nbytes), 1)
        self.ptr = int(call("cudaMalloc", self.nbytes))

    def free(self) -> None:
        if self.ptr:
            ptr, self.ptr = self.ptr, 0
            call("cudaFree", ptr)


class Stream:
    """A CUDA stream; `handle` is the integer TensorRT's execute_async_v3 takes."""

    def __init__(self) -> None:
        self.stream = call("cudaStreamCreate")
        self.handle = int(self.stream)

    def synchronize(self) -> None:
        call("cudaStreamSynchronize", self.stream)

    def wait(self, event: Event) -> None:
        """Make later work on this stream wait for `event` (recorded on any stream)."""
        call("cudaStreamWaitEvent", self.stream, event.event, 0)

    def destroy(self) -> None:
        if self.stream is not None:
            stream, self.stream = self.stream, None
            call("cudaStreamDestroy", stream)


class Event:
    """A CUDA event, for ordering between streams and for timing (`elapsed_ms`)."""

    def __init__(self) -> None:
        self.event = call("cudaEventCreate")

    def record(self, stream: Stream) -> None:
        call("cudaEventRecord", self.event, stream.stream)

    def synchronize(self) -> None:
        call("cudaEventSynchronize", self.event)

    def elapsed_ms(self, start: Event) -> float:
        """Milliseconds from `start` to this event (both recorded and completed)."""
        return float(call("cudaEventElapsedTime", start.event, self.event))

    def destroy(self) -> None:
        if self.event is not None:
            event, self.event = self.event, None
            call("cudaEventDestroy", event)


def copy_async(dst: int, src: int, nbytes: int, kind: str, stream: Stream) -> None:
    """cudaMemcpyAsync of `nbytes`; kind is "h2d" or "d2h"."""
    kinds = import_cudart().cudaMemcpyKind
    value = kinds.cudaMemcpyHostToDevice if kind == "h2d" else kinds.cudaMemcpyDeviceToHost
    call("cudaMemcpyAsync", dst, src, nbytes, value, stream.stream)
