"""Triton backend: the model runs on a Triton Inference Server, reached over gRPC (KServe v2).

`TritonBackend("segnet", url="grpc://127.0.0.1:8001")` reads the model's tensors and its segnet spec from
the server's model config (segnet.triton_spec), so a `Segmenter(name, backend="triton", url=...)` resolves
it as it would the local file: a model from `segnet serve` is a frame path (frames in, class maps out), a
repository model from `segnet deploy triton` the network itself. Up to `max_in_flight` requests overlap
(the pipeline sends frame n+1 while frame n is on the wire). Times per call: "round_trip" (the client's
wall time), "server" (the server's compute for the batch, where the model reports it as "server_ms") and
"transport" (round trip less server compute: transfer, (de)serialisation and queueing). A server that goes
away is retried for `retry_s` seconds (counted in `reconnects`), then a SegnetError says so.
tritonclient is imported on activation only.
"""

from __future__ import annotations

import threading
import time
from typing import Any

import numpy as np

from segnet import triton_spec
from segnet.errors import SegnetError
from segnet.lazy import require
from segnet.runtime.backends.base import Backend, Pending, TensorInfo

TYPES = {"TYPE_UINT8": np.uint8, "TYPE_INT8": np.int8, "TYPE_INT32": np.int32, "TYPE_INT64": np.int64,
         "TYPE_FP16": np.float16, "TYPE_FP32": np.float32, "TYPE_FP64": np.float64, "TYPE_BOOL": np.bool_}
SERVER_MS = "server_ms"
SCHEME = "grpc://"


def grpc_address(url: str) -> str:
    """grpc://HOST:PORT -> HOST:PORT; SegnetError for anything else."""
    rest = url[len(SCHEME):] if url.startswith(SCHEME) else ""
    host, _, port = rest.rpartition(":")
    if not host or not port.isdigit() or "/" in rest:
        raise SegnetError(f"--url {url!r}: expected grpc://HOST:PORT (Triton's gRPC endpoint, e.g. "
                          "grpc://127.0.0.1:8001)")
    return rest


class _Request(Pending):
    """A request in flight: `result()` waits for the server's answer (retrying while it is unavailable)."""

    def __init__(self, backend: TritonBackend, feed: dict[str, np.ndarray],
                 outputs: dict[str, np.ndarray] | None) -> None:
        super().__init__({})
        self.backend, self.feed, self.out = backend, feed, outputs
        self.done = threading.Event()
        self.response: Any = None
        self.error: Any = None
        self.start = time.perf_counter()
        backend._send(self)

    def callback(self, result: Any, error: Any) -> None:
        self.response, self.error = result, error
        self.done.set()

    def result(self) -> dict[str, np.ndarray]:
        self.done.wait()
        return self.backend._finish(self)


class TritonBackend(Backend):
    """One model on one Triton server. timeout_s: per request; retry_s: how long an unavailable server is
    retried before the error."""

    name = "triton"
    remote = True

    def __init__(self, model_name: str | Any, url: str = "", timeout_s: float = 30.0, retry_s: float = 10.0,
                 max_in_flight: int = 2, model_version: str = "") -> None:
        super().__init__()
        self.model_name = str(model_name)
        self.url = url
        self.address = grpc_address(url)
        self.timeout_s, self.retry_s = float(timeout_s), float(retry_s)
        self.max_in_flight = max(1, int(max_in_flight))
        self.model_version = model_version
        self.client: Any = None
        self.metadata: dict[str, str] = {}
        self._inputs: list[TensorInfo] = []
        self._outputs: list[TensorInfo] = []
        self.reconnects = 0

    # -- life cycle ---------------------------------------------------------------------------------
    def _activate_impl(self) -> None:
        grpc = require("tritonclient.grpc", "the Triton backend (pip install 'tritonclient[grpc]')")
        self._grpc = grpc
        self.client = grpc.InferenceServerClient(self.address)
        try:
            live = self.client.is_server_live()
        except Exception as exc:  # noqa: BLE001 (InferenceServerException and gRPC errors)
            self._close_client()
            raise SegnetError(f"{self.url}: no Triton server answers ({_first_line(exc)}); start one with "
                              "`segnet serve MODEL` or check --url") from None
        if not live:
            self._close_client()
            raise SegnetError(f"{self.url}: the Triton server is not live yet; try again")
        try:
            ready = self.client.is_model_ready(self.model_name, self.model_version)
            config = self.client.get_model_config(self.model_name, self.model_version, as_json=True)["config"] \
                if ready else None
        except Exception as exc:  # noqa: BLE001
            self._close_client()
            raise SegnetError(f"{self.url}: cannot read model {self.model_name!r} ({_first_line(exc)})") from None
        if config is None:
            self._close_client()
            raise SegnetError(f"{self.url}: the server has no model {self.model_name!r} ready; check the model "
                              "name (`segnet serve --name`, or the repository folder's name)")
        batched = int(config.get("max_batch_size", 0)) > 0
        self._inputs = [_tensor(t, batched) for t in config.get("input", [])]
        self._outputs = [_tensor(t, batched) for t in config.get("output", [])]
        self.metadata = triton_spec.metadata(config.get("parameters", {}))

    def _deactivate_impl(self) -> None:
        self._close_client()

    def _close_client(self) -> None:
        if self.client is not None:
            self.client.close()
        self.client = None

    def _label(self) -> str:
        return f"{self.model_name} at {self.url}"

    # -- inference ----------------------------------------------------------------------------------
    def _infer_impl(self, feed: dict[str, np.ndarray],
                    outputs: dict[str, np.ndarray] | None) -> dict[str, np.ndarray]:
        return _Request(self, feed, outputs).result()

    def _infer_async_impl(self, feed: dict[str, np.ndarray],
                          outputs: dict[str, np.ndarray] | None) -> Pending:
        return _Request(self, feed, outputs)

    def _send(self, request: _Request) -> None:
        grpc = self._grpc
        inputs = []
        for name, array in request.feed.items():
            array = np.ascontiguousarray(array)
            entry = grpc.InferInput(name, list(array.shape), _triton_type(array.dtype))
            entry.set_data_from_numpy(array)
            inputs.append(entry)
        names = [o.name for o in self._outputs]
        wanted = [n for n in names if request.out is None or n in request.out or n == SERVER_MS]
        request.done.clear()
        request.start = time.perf_counter()
        try:
            self.client.async_infer(self.model_name, inputs, request.callback, model_version=self.model_version,
                                    outputs=[grpc.InferRequestedOutput(n) for n in wanted],
                                    client_timeout=self.timeout_s)
        except Exception as exc:  # noqa: BLE001 (a refusal before sending: answered like the server's)
            request.callback(None, exc)

    def _finish(self, request: _Request) -> dict[str, np.ndarray]:
        deadline = time.perf_counter() + self.retry_s
        while request.error is not None and _unavailable(request.error) and time.perf_counter() < deadline:
            time.sleep(0.25)  # the server went away: retry the same request until it is back or time is up
            self.reconnects += 1
            request.error = None
            self._send(request)
            request.done.wait()
        if request.error is not None:
            error = request.error
            if "UNAVAILABLE" in str(getattr(error, "status", lambda: "")()):
                raise SegnetError(f"{self.url}: the Triton server went away ({_first_line(error)}) and was not back "
                                  f"within {self.retry_s:g} s; restart `segnet serve` and the run") from None
            raise SegnetError(f"{self._label()}: the server refused the request ({_first_line(error)})") from None
        round_trip = (time.perf_counter() - request.start) * 1000.0
        response = request.response
        results: dict[str, np.ndarray] = {}
        for info in self._outputs:
            if info.name == SERVER_MS or (request.out is not None and info.name not in request.out):
                continue
            value = response.as_numpy(info.name)
            target = request.out.get(info.name) if request.out else None
            if target is not None and target.shape == value.shape:
                np.copyto(target, value, casting="unsafe")
                value = target
            results[info.name] = value
        timing = {"round_trip": round_trip, "compute": round_trip}
        if any(o.name == SERVER_MS for o in self._outputs):
            server = float(np.max(response.as_numpy(SERVER_MS)))
            timing.update(compute=server, server=server, transport=max(0.0, round_trip - server))
        self.last_timing = timing
        return results

    # -- tensors ------------------------------------------------------------------------------------
    @property
    def inputs(self) -> list[TensorInfo]:
        return list(self._inputs)

    @property
    def outputs(self) -> list[TensorInfo]:
        return [o for o in self._outputs if o.name != SERVER_MS]


def _tensor(entry: dict[str, Any], batched: bool) -> TensorInfo:
    dims = tuple(None if int(d) < 0 else int(d) for d in entry.get("dims", []))
    dtype = np.dtype(TYPES.get(entry.get("data_type", ""), np.float32))
    return TensorInfo(entry["name"], ((None,) + dims) if batched else dims, dtype)


def _triton_type(dtype: np.dtype) -> str:
    for name, value in TYPES.items():
        if np.dtype(value) == dtype:
            return name[len("TYPE_"):]
    raise SegnetError(f"Triton has no tensor type for {dtype}")


def _unavailable(error: Any) -> bool:
    """The server is down, or up again without the model loaded yet (its name was checked on activation)."""
    status = str(getattr(error, "status", lambda: "")() or "")
    return "UNAVAILABLE" in status or "NOT_FOUND" in status


def _first_line(error: Any) -> str:
    message = error.message() if hasattr(error, "message") and callable(error.message) else str(error)
    lines = str(message).strip().splitlines()
    return lines[0] if lines else type(error).__name__
