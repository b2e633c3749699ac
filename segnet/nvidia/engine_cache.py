"""Build a TensorRT engine from an ONNX model on first use and reuse it afterwards.

`segnet run model.onnx --backend tensorrt` calls `cached_engine`: the engine lives beside the model
(`model.fp16.trt10.3.0.orin.1a2b3c4d5e6f.engine`) or, when that folder is read-only, in
`$XDG_CACHE_HOME/segnet/engines/<hash>/` (default ~/.cache). The name carries everything an engine
depends on (TensorRT version, GPU, precision, the ONNX file's hash), so a change means a rebuild; it starts
with the model's stem, so the engine's entry goes into the model's sidecar (model.json) beside it.
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from segnet import artifacts
from segnet.errors import SegnetError
from segnet.nvidia import cuda_utils, trt_utils


def user_cache_dir() -> Path:
    """$XDG_CACHE_HOME/segnet, else ~/.cache/segnet."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "segnet"


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "gpu"


def engine_name(onnx_path: Path, precision: str, trt_version: str, gpu_name: str, onnx_hash: str) -> str:
    """The cache file name: stem.precision.trtVERSION.gpu.hash.engine, the ONNX's stem first, which
    segnet.artifacts.stem reads back: the engine shares the model's sidecar (model.json)."""
    return artifacts.cached_engine_name(artifacts.stem(onnx_path), precision, trt_version, _slug(gpu_name), onnx_hash)


def _writable(folder: Path) -> bool:
    return folder.is_dir() and os.access(folder, os.W_OK | os.X_OK)


def cached_engine(onnx_path: str | Path, options: Any = None, log: Callable[[str], None] | None = None) -> Path:
    """The engine for `onnx_path` built with `options` (BuildOptions), building it first if needed."""
    log = log or (lambda msg: print(msg, file=sys.stderr))
    onnx_path = Path(onnx_path)
    if not onnx_path.is_file():
        raise SegnetError(f"{onnx_path}: ONNX model not found")
    from segnet.nvidia import engine_build  # building is the rare path
    from segnet.nvidia.build_options import BuildOptions

    options = options or BuildOptions()
    trt_utils.import_tensorrt("building a TensorRT engine from the ONNX model")
    gpu = cuda_utils.device_info(0).name
    digest = engine_build.file_sha256(onnx_path)
    name = engine_name(onnx_path, options.precision, trt_utils.version(), gpu, digest)
    beside = onnx_path.parent / name
    in_cache = user_cache_dir() / "engines" / digest[:12] / name
    for candidate in (beside, in_cache):
        if candidate.is_file():
            return candidate
    target = beside if _writable(onnx_path.parent) else in_cache
    log(f"building a TensorRT engine for {onnx_path.name} (first run only; cached as {target})")
    return engine_build.build_engine(onnx_path, target, options, log=log)
