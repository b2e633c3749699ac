"""ONNX Runtime execution providers for `--device cpu|cuda|tensorrt` (the second GPU path, onnxruntime-gpu).

The ONNX Runtime backend passes `providers_for(device, ...)` to `InferenceSession(providers=...)`. Each list
ends with the CPU provider, so nodes a GPU provider cannot take still run.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from segnet.errors import MissingDependencyError, SegnetError

NEEDS = {"cuda": "CUDAExecutionProvider", "tensorrt": "TensorrtExecutionProvider"}
GPU_HINT = ("pip install onnxruntime-gpu (desktop, matching your CUDA); on Jetson the onnxruntime-gpu wheel from "
            "the Jetson AI Lab index (pip install onnxruntime-gpu --index-url https://pypi.jetson-ai-lab.io/jp6/cu126)")


def providers_for(device: str = "cpu", available: list[str] | None = None, device_id: int = 0, fp16: bool = False,
              cache_dir: str | Path | None = None) -> list[tuple[str, dict[str, Any]]]:
    """(provider, options) pairs for `device`. `available` defaults to onnxruntime.get_available_providers();
    cache_dir is where the TensorRT provider keeps its engines and timing cache (default ~/.cache/segnet/ort-trt)."""
    if device not in ("cpu", *NEEDS):
        raise SegnetError(f"unknown device {device!r}: use cpu, cuda or tensorrt")
    if available is None:
        from segnet.lazy import require

        available = list(require("onnxruntime", "ONNX Runtime inference").get_available_providers())
    wanted = NEEDS.get(device)
    if wanted and wanted not in available:
        raise MissingDependencyError(f"--device {device} needs ONNX Runtime's {wanted}, but this onnxruntime "
                                     f"offers only {', '.join(available)}: {GPU_HINT}")
    cpu: list[tuple[str, dict[str, Any]]] = [("CPUExecutionProvider", {})]
    cuda = [("CUDAExecutionProvider", {"device_id": device_id})] if "CUDAExecutionProvider" in available else []
    if device == "cpu":
        return cpu
    if device == "cuda":
        return cuda + cpu
    if cache_dir is None:
        from segnet.nvidia.engine_cache import user_cache_dir

        cache_dir = user_cache_dir() / "ort-trt"
    Path(cache_dir).mkdir(parents=True, exist_ok=True)
    trt_options = {"device_id": device_id, "trt_fp16_enable": fp16, "trt_engine_cache_enable": True,
                   "trt_engine_cache_path": str(cache_dir), "trt_timing_cache_enable": True,
                   "trt_timing_cache_path": str(cache_dir)}
    return [("TensorrtExecutionProvider", trt_options), *cuda, *cpu]
