"""The Triton Inference Server behind `segnet serve`: NVIDIA's PyTriton (it bundles the tritonserver binary)
hosting Segmenters (ONNX Runtime on a CPU, TensorRT where present), on KServe v2 HTTP and gRPC.

Two interfaces. "frames" (default): a frame path (segnet.spec.FramePath), input "frame" (uint8 N x H x W x 3
BGR, any size), outputs "labels" (uint8 N x H x W, the class map at the frame's size); requests with frames
of one size are segmented in one `predict_batch`. "network": the model's own tensors, as a `segnet deploy
triton` repository exposes them (clients resize, normalise and arg-max). Both add "server_ms" (float32
N x 1, the server's compute time for the batch the request was in). Triton's dynamic batcher gathers
requests from all clients. The model config's parameters carry the spec (segnet.triton_spec), so clients
need nothing but the model name.

Needs PyTriton, which runs under Python 3.12 or newer here (see docs/serving.md); `segnet serve` starts
this module in the server's virtual environment. Torch-free.
"""

from __future__ import annotations

import json
import os
import sys
import sysconfig
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from segnet import triton_spec
from segnet.artifacts import model_format
from segnet.errors import SegnetError
from segnet.lazy import require
from segnet.runtime.segmenter import Segmenter
from segnet.spec import ARTIFACT_KEY, Artifact, FramePath, read_sidecar

FRAME, LABELS, SERVER_MS = "frame", "labels", "server_ms"
INTERFACES = ("frames", "network")
PYTRITON_VERSION = "0.7.0"  # the version whose model-config hook (`_with_parameters`) this module uses
# PyTriton protects these endpoints with a random token by default; statistics stay open (read-only) so
# clients and tests can see the batch sizes Triton formed
PROTECTED = ["shared-memory", "model-repository", "trace", "logging"]


@dataclass
class ServeOptions:
    """What `segnet serve` asks for."""

    name: str = "segnet"
    host: str = "127.0.0.1"
    grpc_port: int = 8001
    http_port: int = 8000
    max_batch_size: int = 8
    queue_delay_us: int = 2000
    preferred: Sequence[int] | None = None
    instances: int = 1
    backend: str = "auto"
    device: str = "cpu"
    threads: int | None = None
    interface: str = "frames"


def served_artifact(name: str, model: Path, segmenter: Segmenter) -> Artifact:
    """How clients see the served model: a frame path, BGR frames of any size in, the class map out."""
    frame = FramePath(channels="bgr", size=None, outputs=[LABELS], labels_size="frame")
    return Artifact(file=name, format="triton", input_name=FRAME, input_layout="NHWC", input_dtype="uint8",
                    embedded_preprocess=True, output_names=[LABELS, SERVER_MS], batch=None, frame=frame.to_dict(),
                    details={"served_by": "segnet serve", "model": model.name, "backend": segmenter.backend.name})


class FrameServer:
    """Triton's infer callable for one model instance: a list of requests in, one response per request."""

    def __init__(self, segmenter: Segmenter) -> None:
        self.segmenter = segmenter

    def __call__(self, requests: Sequence[Any]) -> list[dict[str, np.ndarray]]:
        groups: dict[tuple[int, ...], list[int]] = {}
        for index, request in enumerate(requests):
            groups.setdefault(tuple(request[FRAME].shape[1:]), []).append(index)
        responses: list[dict[str, np.ndarray]] = [{} for _ in requests]
        for indices in groups.values():
            frames = [frame for i in indices for frame in requests[i][FRAME]]
            start = time.perf_counter()
            maps = self.segmenter.predict_batch(frames)
            elapsed = np.float32((time.perf_counter() - start) * 1000.0)
            offset = 0
            for i in indices:
                count = len(requests[i][FRAME])
                responses[i] = {LABELS: np.stack(maps[offset:offset + count]),
                                SERVER_MS: np.full((count, 1), elapsed, np.float32)}
                offset += count
        return responses


class NetworkServer:
    """Triton's infer callable serving a backend's own tensors: the requests' inputs concatenated along the
    batch axis (when the model has one) and run as one inference."""

    def __init__(self, segmenter: Segmenter, batched: bool) -> None:
        self.backend, self.batched = segmenter.backend, batched

    def __call__(self, requests: Sequence[Any]) -> list[dict[str, np.ndarray]]:
        groups = [list(range(len(requests)))] if self.batched else [[i] for i in range(len(requests))]
        responses: list[dict[str, np.ndarray]] = [{} for _ in requests]
        names = [t.name for t in self.backend.inputs]
        for indices in groups:
            feed = {name: np.concatenate([requests[i][name] for i in indices]) for name in names}
            start = time.perf_counter()
            outputs = self.backend.infer(feed)
            elapsed = np.float32((time.perf_counter() - start) * 1000.0)
            offset = 0
            for i in indices:
                count = len(requests[i][names[0]]) if self.batched else 1
                responses[i] = {name: value[offset:offset + count] if self.batched else value
                                for name, value in outputs.items()}
                responses[i][SERVER_MS] = np.full((count, 1) if self.batched else (1,), elapsed, np.float32)
                offset += count
        return responses


def network_artifact(model: Path, segmenter: Segmenter) -> Artifact:
    """The served model's own artifact (sidecar, else the metadata its backend read, else from its tensors)."""
    found = read_sidecar(model)
    if found and found[1] is not None:
        return found[1]
    metadata = getattr(segmenter.backend, "metadata", {}) or {}
    if ARTIFACT_KEY in metadata:
        return Artifact.from_dict(json.loads(metadata[ARTIFACT_KEY]))
    io = segmenter.io
    return Artifact(file=model.name, format=str(model_format(model)), input_name=io.input_name,
                    input_layout="NHWC" if io.embedded_preprocess else "NCHW", input_dtype=io.input_dtype.name,
                    embedded_preprocess=io.embedded_preprocess, output_names=list(io.output_names), batch=io.batch)


def _network_tensors(segmenter: Segmenter) -> tuple[bool, list[tuple[str, np.dtype, tuple[int, ...]]],
                                                    list[tuple[str, np.dtype, tuple[int, ...]]]]:
    """(batched, inputs, outputs) for PyTriton: dims without the batch axis when every tensor has a dynamic one."""
    backend = segmenter.backend
    tensors = [*backend.inputs, *backend.outputs]
    batched = all(len(t.shape) >= 1 and t.shape[0] is None for t in tensors)

    def dims(shape: tuple[int | None, ...]) -> tuple[int, ...]:
        return tuple(-1 if d is None or d < 0 else int(d) for d in (shape[1:] if batched else shape))

    return (batched, [(t.name, t.dtype, dims(t.shape)) for t in backend.inputs],
            [(t.name, t.dtype, dims(t.shape)) for t in backend.outputs])


def _libpython_on_path() -> None:
    """PyTriton's Python backend stub links libpython of this interpreter: put its folder on the loader path
    (pyenv and other non-system Pythons keep it outside the system library folders)."""
    libdir = sysconfig.get_config_var("LIBDIR")
    if libdir and Path(libdir).is_dir():
        paths = [p for p in os.environ.get("LD_LIBRARY_PATH", "").split(os.pathsep) if p]
        if libdir not in paths:
            os.environ["LD_LIBRARY_PATH"] = os.pathsep.join([libdir, *paths])


def _with_parameters(triton: Any, name: str, values: dict[str, str]) -> None:
    """Add `values` to the parameters of the config PyTriton generates for model `name` (PyTriton's
    ModelConfig has no parameters of its own; this uses its model manager, as in PyTriton 0.7.0)."""
    try:
        model = triton._model_manager._models[(name, 1)]
        model._get_triton_model_config().backend_parameters.update(values)
    except (AttributeError, KeyError) as exc:
        raise SegnetError(f"this PyTriton is not {PYTRITON_VERSION}, whose model config segnet extends ({exc}); "
                          f"install nvidia-pytriton=={PYTRITON_VERSION} in the server environment") from None


def serve(model: str | Path, options: ServeOptions, ready: Callable[[str], None] = print) -> None:
    """Serve `model` until SIGINT/SIGTERM; `ready` gets one line saying where, once the server is starting."""
    if sys.version_info < (3, 12):
        raise SegnetError(f"PyTriton's server stub fails under Python {sys.version_info[0]}.{sys.version_info[1]} "
                          "here: run `make serve-venv` and serve from .venv-serve (Python 3.12+)")
    require("pytriton", "the Triton server (segnet serve)")
    from pytriton.model_config import DynamicBatcher, ModelConfig, Tensor
    from pytriton.triton import Triton, TritonConfig, TritonSecurityConfig

    model = Path(model)
    if options.interface not in INTERFACES:
        raise SegnetError(f"interface must be one of {', '.join(INTERFACES)}, got {options.interface!r}")
    segmenters = [Segmenter(model, backend=options.backend, device=options.device, threads=options.threads,
                            log=None) for _ in range(options.instances)]
    try:
        _libpython_on_path()
        config = TritonConfig(http_address=options.host, http_port=options.http_port, grpc_address=options.host,
                              grpc_port=options.grpc_port, allow_metrics=False, log_verbose=0)
        preferred = sorted(set(options.preferred)) if options.preferred else None
        batcher = DynamicBatcher(max_queue_delay_microseconds=options.queue_delay_us, preferred_batch_size=preferred)
        triton = Triton(config=config, security_config=TritonSecurityConfig(restricted_endpoints=PROTECTED))
        if options.interface == "frames":
            functions: list[Any] = [FrameServer(s) for s in segmenters]
            inputs = [Tensor(name=FRAME, dtype=np.uint8, shape=(-1, -1, 3))]
            outputs = [Tensor(name=LABELS, dtype=np.uint8, shape=(-1, -1)),
                       Tensor(name=SERVER_MS, dtype=np.float32, shape=(1,))]
            batched, artifact = True, served_artifact(options.name, model, segmenters[0])
        else:
            batched, ins, outs = _network_tensors(segmenters[0])
            functions = [NetworkServer(s, batched) for s in segmenters]
            inputs = [Tensor(name=name, dtype=dtype, shape=shape) for name, dtype, shape in ins]
            outputs = [*(Tensor(name=name, dtype=dtype, shape=shape) for name, dtype, shape in outs),
                       Tensor(name=SERVER_MS, dtype=np.float32, shape=(1,))]
            artifact = network_artifact(model, segmenters[0])
        config = ModelConfig(batching=batched, max_batch_size=options.max_batch_size if batched else 0,
                             batcher=batcher)
        try:  # bound before the server runs, so the parameters are in the config it loads
            triton.bind(model_name=options.name, infer_func=functions, inputs=inputs, outputs=outputs, config=config)
            _with_parameters(triton, options.name, triton_spec.parameters(segmenters[0].spec, artifact))
            ready(f"serving {model} ({options.interface}) as {options.name!r} ({segmenters[0].backend.name}, {options.instances} "
                  f"instance(s), dynamic batching up to {options.max_batch_size}, queue delay "
                  f"{options.queue_delay_us} us) at grpc://{options.host}:{options.grpc_port} and "
                  f"http://{options.host}:{options.http_port} (KServe v2); Ctrl+C stops")
            triton.serve()
        finally:
            triton.stop()
    finally:
        for segmenter in segmenters:
            segmenter.close()
