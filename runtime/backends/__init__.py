"""Inference backends with one life cycle (activate / infer / deactivate), Polygraphy-style.

`open_backend` picks one from the file and the request: .engine -> TensorRT, .onnx -> ONNX Runtime (or a
cached TensorRT engine built from it with backend="tensorrt"); backend="triton" names a model on a Triton
server (url="grpc://HOST:PORT"). TensorRT and Triton modules are imported only then.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from segnet.artifacts import model_format
from segnet.errors import SegnetError
from segnet.runtime.backends.base import Backend, TensorInfo

BACKENDS = ("auto", "onnxruntime", "tensorrt", "triton")
DEVICES = ("cpu", "cuda", "tensorrt")
_ORT_ONLY = ("threads", "optimization", "spinning")  # ONNX Runtime options the TensorRT backend ignores

__all__ = ["BACKENDS", "DEVICES", "Backend", "TensorInfo", "open_backend"]


def open_backend(model_path: str | Path, backend: str = "auto", device: str = "cpu", **options: Any) -> Backend:
    """Create (not yet activate) the backend for `model_path`. options go to the backend's constructor
    (onnxruntime: threads, optimization; tensorrt: its own; build_options: for building an engine from ONNX)."""
    path = Path(model_path)
    if backend not in BACKENDS:
        raise SegnetError(f"unknown backend {backend!r}: use one of {', '.join(BACKENDS)}")
    if backend == "triton":  # model_path is the model's name on the server
        return _triton(str(model_path), options)
    if device not in DEVICES:
        raise SegnetError(f"unknown device {device!r}: use one of {', '.join(DEVICES)}")
    if not path.is_file():
        raise SegnetError(f"{path}: model file not found")
    fmt = model_format(path)
    if fmt not in ("onnx", "engine"):
        raise SegnetError(f"{path}: unknown model format {path.suffix.lower()!r}; expected .onnx or .engine")
    is_engine = fmt == "engine"
    if is_engine and backend == "onnxruntime":
        raise SegnetError(f"{path}: a TensorRT engine runs only with --backend tensorrt (or auto)")
    if is_engine or backend == "tensorrt":
        build_options = options.pop("build_options", None)
        for option in _ORT_ONLY:  # said once, not silently dropped
            value = options.pop(option, None)
            if value is not None:
                flag = "--no-spinning" if option == "spinning" and value is False else f"--{option}"
                print(f"segnet: note: {flag} does not apply to the TensorRT backend (ignored)", file=sys.stderr)
        from segnet.nvidia.engine_cache import cached_engine  # TensorRT itself is imported on first use
        from segnet.runtime.backends.tensorrt import TensorRTBackend

        if not is_engine:
            path = cached_engine(path, build_options)
        return TensorRTBackend(path, **options)
    options.pop("build_options", None)
    from segnet.runtime.backends.onnxruntime import OnnxRuntimeBackend

    return OnnxRuntimeBackend(path, device=device, **options)


def _triton(name: str, options: dict[str, Any]) -> Backend:
    """The Triton client backend; ONNX Runtime's options are said to be ignored, not silently dropped."""
    from segnet.runtime.backends.triton import TritonBackend

    if not options.get("url"):
        raise SegnetError(f"the Triton backend needs the server's address: --url grpc://HOST:PORT (model {name!r})")
    options.pop("build_options", None)
    for option in _ORT_ONLY:
        if options.pop(option, None) is not None:
            print(f"segnet: note: --{option} applies to the server, not to a Triton client (ignored)", file=sys.stderr)
    return TritonBackend(name, **options)
