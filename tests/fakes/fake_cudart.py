"""A fake `cuda.bindings.runtime` that records calls, checks them and really moves the bytes.

Only functions the real cuda-python module has are offered, each checked against the real function's
parameter count (from its docstring signature). Memory is real (ctypes buffers), so data copied host ->
"device" -> host can be checked; copies are checked against allocation bounds and kinds (host/device),
frees against double frees; streams capture into graphs that replay on launch. Errors can be injected.
"""

from __future__ import annotations

import ctypes
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

try:
    from cuda.bindings import runtime as _real
except ImportError:  # cuda-python before 12.6 (the newest on Python 3.8): the module's old name
    from cuda import cudart as _real

Success = _real.cudaError_t.cudaSuccess


@dataclass
class Allocation:
    kind: str  # "device" | "pinned" | "mapped"
    nbytes: int
    buffer: Any


@dataclass
class Handle:
    """A stream / event / graph handle: int() gives the raw value TensorRT takes."""

    kind: str
    ident: int
    time: float | None = None
    ops: list[Callable[[], None]] = field(default_factory=list)
    alive: bool = True

    def __int__(self) -> int:
        return self.ident


def _arity(name: str) -> int:
    doc = (getattr(_real, name).__doc__ or "").strip().splitlines()[0]
    inner = re.search(r"\((.*)\)", doc)
    params = inner.group(1).strip() if inner else ""
    return 0 if not params else len(params.split(","))


class FakeCudart:
    """Drop-in for cuda.bindings.runtime in sys.modules. `fail[name] = cudaError_t.X` makes that call fail."""

    cudaError_t = _real.cudaError_t
    cudaMemcpyKind = _real.cudaMemcpyKind
    cudaStreamCaptureMode = _real.cudaStreamCaptureMode
    cudaHostAllocMapped = _real.cudaHostAllocMapped

    def __init__(self, integrated: bool = False, name: bytes = b"NVIDIA Jetson AGX Orin", major: int = 8,
                 minor: int = 7, devices: int = 1) -> None:
        self.integrated, self.name, self.major, self.minor, self.devices = integrated, name, major, minor, devices
        self.calls: list[tuple[str, tuple[Any, ...]]] = []
        self.fail: dict[str, Any] = {}
        self.allocations: dict[int, Allocation] = {}
        self.handles: dict[int, Handle] = {}
        self.capturing: dict[int, Handle] = {}
        self.clock = 0.0
        self._next = 0x1000

    # -- bookkeeping used by the fake TensorRT ---------------------------------------------------------
    def names(self) -> list[str]:
        return [call[0] for call in self.calls]

    def region(self, address: int, nbytes: int, device: bool) -> Allocation:
        """The allocation holding [address, address+nbytes); device=True also demands GPU-visible memory."""
        for base, alloc in self.allocations.items():
            if base <= address and address + nbytes <= base + alloc.nbytes:
                if device and alloc.kind == "pinned":
                    raise AssertionError(f"0x{address:x} is pinned host memory, not GPU-visible")
                if not device and alloc.kind == "device":
                    raise AssertionError(f"0x{address:x} is device memory, not host memory")
                return alloc
        raise AssertionError(f"[0x{address:x}, +{nbytes}) is outside every live allocation")

    def run_or_capture(self, stream: int, op: Callable[[], None]) -> None:
        """Run `op` now, or add it to the graph being captured on `stream`."""
        if int(stream) in self.capturing:
            self.capturing[int(stream)].ops.append(op)
        else:
            op()

    def live(self) -> dict[str, int]:
        """Counts of what is still allocated/alive (all zero after a clean shutdown)."""
        alive = [h.kind for h in self.handles.values() if h.alive]
        return {"allocations": len(self.allocations), **{k: alive.count(k) for k in set(alive)}}

    # -- plumbing --------------------------------------------------------------------------------------
    def _api(self, name: str, args: tuple[Any, ...]) -> Any:
        expected = _arity(name)
        if len(args) != expected:
            raise TypeError(f"{name} takes {expected} arguments in cuda-python, got {len(args)}: {args}")
        self.calls.append((name, args))
        return self.fail.get(name)

    def _handle(self, kind: str) -> Handle:
        self._next += 0x10
        handle = Handle(kind, self._next)
        self.handles[handle.ident] = handle
        return handle

    def _live(self, handle: Any, kind: str) -> Handle | None:
        found = self.handles.get(int(handle)) if handle is not None else None
        return found if found is not None and found.kind == kind and found.alive else None

    def _alloc(self, nbytes: int, kind: str) -> int:
        buffer = (ctypes.c_ubyte * nbytes)()
        address = ctypes.addressof(buffer)
        self.allocations[address] = Allocation(kind, nbytes, buffer)
        return address

    # -- the cuda-python API subset ------------------------------------------------------------------
    def cudaGetErrorName(self, error: Any) -> Any:
        return _real.cudaGetErrorName(error)

    def cudaGetDeviceCount(self) -> Any:
        return self._api("cudaGetDeviceCount", ()) or Success, self.devices

    def cudaSetDevice(self, device: int) -> Any:
        err = self._api("cudaSetDevice", (device,))
        return (err or (Success if device < self.devices else self.cudaError_t.cudaErrorInvalidDevice),)

    def cudaGetDeviceProperties(self, device: int) -> Any:
        err = self._api("cudaGetDeviceProperties", (device,))
        prop = _real.cudaDeviceProp()
        prop.name, prop.major, prop.minor = self.name.ljust(256, b"\0"), self.major, self.minor
        prop.integrated, prop.canMapHostMemory = int(self.integrated), 1
        prop.totalGlobalMem, prop.multiProcessorCount = 8 << 30, 16
        return err or Success, prop

    def cudaDriverGetVersion(self) -> Any:
        return self._api("cudaDriverGetVersion", ()) or Success, 12060

    def cudaRuntimeGetVersion(self) -> Any:
        return self._api("cudaRuntimeGetVersion", ()) or Success, 12060

    def cudaMalloc(self, size: int) -> Any:
        err = self._api("cudaMalloc", (size,))
        return (err, None) if err else (Success, self._alloc(size, "device"))

    def cudaMallocHost(self, size: int) -> Any:
        err = self._api("cudaMallocHost", (size,))
        return (err, None) if err else (Success, self._alloc(size, "pinned"))

    def cudaHostAlloc(self, size: int, flags: int) -> Any:
        err = self._api("cudaHostAlloc", (size, flags))
        kind = "mapped" if int(flags) & int(self.cudaHostAllocMapped) else "pinned"
        return (err, None) if err else (Success, self._alloc(size, kind))

    def cudaHostGetDevicePointer(self, host: int, flags: int) -> Any:
        err = self._api("cudaHostGetDevicePointer", (host, flags))
        alloc = self.allocations.get(int(host))
        if err or alloc is None or alloc.kind != "mapped":
            return err or self.cudaError_t.cudaErrorInvalidValue, None
        return Success, int(host)  # unified memory (Jetson): the same address

    def _free(self, name: str, ptr: int, kinds: tuple[str, ...]) -> Any:
        err = self._api(name, (ptr,))
        alloc = self.allocations.get(int(ptr))
        if err or alloc is None or alloc.kind not in kinds:
            return (err or self.cudaError_t.cudaErrorInvalidValue,)
        del self.allocations[int(ptr)]
        return (Success,)

    def cudaFree(self, ptr: int) -> Any:
        return self._free("cudaFree", ptr, ("device",))

    def cudaFreeHost(self, ptr: int) -> Any:
        return self._free("cudaFreeHost", ptr, ("pinned", "mapped"))

    def cudaMemcpyAsync(self, dst: int, src: int, count: int, kind: Any, stream: Any) -> Any:
        err = self._api("cudaMemcpyAsync", (dst, src, count, kind, stream))
        if err:
            return (err,)
        if self._live(stream, "stream") is None:
            return (self.cudaError_t.cudaErrorInvalidResourceHandle,)
        kinds = self.cudaMemcpyKind
        directions = {kinds.cudaMemcpyHostToDevice: (False, True), kinds.cudaMemcpyDeviceToHost: (True, False),
                      kinds.cudaMemcpyDeviceToDevice: (True, True)}
        if kind == kinds.cudaMemcpyDefault:  # unified addressing: any two live allocations
            for address in (int(src), int(dst)):
                self.region(address, count, device=not self._is_host(address))
        elif kind in directions:
            from_device, to_device = directions[kind]
            self.region(int(src), count, device=from_device)
            self.region(int(dst), count, device=to_device)
        else:
            return (self.cudaError_t.cudaErrorInvalidMemcpyDirection,)
        self.run_or_capture(int(stream), lambda: ctypes.memmove(int(dst), int(src), int(count)))
        return (Success,)

    def _is_host(self, address: int) -> bool:
        return any(base <= address < base + a.nbytes and a.kind == "pinned" for base, a in self.allocations.items())

    def cudaMemsetAsync(self, ptr: int, value: int, count: int, stream: Any) -> Any:
        err = self._api("cudaMemsetAsync", (ptr, value, count, stream))
        if err:
            return (err,)
        if self._live(stream, "stream") is None:
            return (self.cudaError_t.cudaErrorInvalidResourceHandle,)
        self.region(int(ptr), count, device=True)
        self.run_or_capture(int(stream), lambda: ctypes.memset(int(ptr), int(value), int(count)))
        return (Success,)

    def cudaDeviceSynchronize(self) -> Any:
        return (self._api("cudaDeviceSynchronize", ()) or Success,)

    def cudaGetLastError(self) -> Any:
        return (self._api("cudaGetLastError", ()) or Success,)

    def cudaStreamCreate(self) -> Any:
        err = self._api("cudaStreamCreate", ())
        return (err, None) if err else (Success, self._handle("stream"))

    def cudaStreamDestroy(self, stream: Any) -> Any:
        return self._destroy("cudaStreamDestroy", stream, "stream")

    def cudaStreamSynchronize(self, stream: Any) -> Any:
        err = self._api("cudaStreamSynchronize", (stream,))
        return (err or (Success if self._live(stream, "stream") else self.cudaError_t.cudaErrorInvalidResourceHandle),)

    def cudaStreamWaitEvent(self, stream: Any, event: Any, flags: int) -> Any:
        err = self._api("cudaStreamWaitEvent", (stream, event, flags))
        ok = self._live(stream, "stream") and self._live(event, "event")
        return (err or (Success if ok else self.cudaError_t.cudaErrorInvalidResourceHandle),)

    def cudaEventCreate(self) -> Any:
        err = self._api("cudaEventCreate", ())
        return (err, None) if err else (Success, self._handle("event"))

    def cudaEventDestroy(self, event: Any) -> Any:
        return self._destroy("cudaEventDestroy", event, "event")

    def cudaEventRecord(self, event: Any, stream: Any) -> Any:
        err = self._api("cudaEventRecord", (event, stream))
        handle = self._live(event, "event")
        if err or handle is None or self._live(stream, "stream") is None:
            return (err or self.cudaError_t.cudaErrorInvalidResourceHandle,)
        self.clock += 0.25
        handle.time = self.clock
        return (Success,)

    def cudaEventSynchronize(self, event: Any) -> Any:
        err = self._api("cudaEventSynchronize", (event,))
        return (err or (Success if self._live(event, "event") else self.cudaError_t.cudaErrorInvalidResourceHandle),)

    def cudaEventElapsedTime(self, start: Any, end: Any) -> Any:
        err = self._api("cudaEventElapsedTime", (start, end))
        first, last = self._live(start, "event"), self._live(end, "event")
        if err or first is None or last is None or first.time is None or last.time is None:
            return err or self.cudaError_t.cudaErrorInvalidResourceHandle, None
        return Success, last.time - first.time

    def cudaStreamBeginCapture(self, stream: Any, mode: Any) -> Any:
        err = self._api("cudaStreamBeginCapture", (stream, mode))
        if err or self._live(stream, "stream") is None or int(stream) in self.capturing:
            return (err or self.cudaError_t.cudaErrorIllegalState,)
        self.capturing[int(stream)] = self._handle("graph")
        return (Success,)

    def cudaStreamEndCapture(self, stream: Any) -> Any:
        err = self._api("cudaStreamEndCapture", (stream,))
        graph = self.capturing.pop(int(stream), None)
        return (err or self.cudaError_t.cudaErrorIllegalState, None) if err or graph is None else (Success, graph)

    def cudaGraphInstantiateWithFlags(self, graph: Any, flags: int) -> Any:
        err = self._api("cudaGraphInstantiateWithFlags", (graph, flags))
        source = self._live(graph, "graph")
        if err or source is None:
            return err or self.cudaError_t.cudaErrorInvalidValue, None
        executable = self._handle("graph_exec")
        executable.ops = list(source.ops)
        return Success, executable

    def cudaGraphLaunch(self, graph_exec: Any, stream: Any) -> Any:
        err = self._api("cudaGraphLaunch", (graph_exec, stream))
        executable = self._live(graph_exec, "graph_exec")
        if err or executable is None or self._live(stream, "stream") is None:
            return (err or self.cudaError_t.cudaErrorInvalidResourceHandle,)
        for op in executable.ops:
            op()
        return (Success,)

    def cudaGraphExecDestroy(self, graph_exec: Any) -> Any:
        return self._destroy("cudaGraphExecDestroy", graph_exec, "graph_exec")

    def cudaGraphDestroy(self, graph: Any) -> Any:
        return self._destroy("cudaGraphDestroy", graph, "graph")

    def _destroy(self, name: str, handle: Any, kind: str) -> Any:
        err = self._api(name, (handle,))
        found = self._live(handle, kind)
        if err or found is None:
            return (err or self.cudaError_t.cudaErrorInvalidResourceHandle,)
        found.alive = False
        return (Success,)
