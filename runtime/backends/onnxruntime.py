"""ONNX Runtime backend: runs an .onnx file on the CPU, or on CUDA / TensorRT execution providers
(segnet.runtime.ort_providers picks them for --device cuda|tensorrt)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np
from segnet.runtime import ort_providers
from segnet.runtime.backends.base import Backend, TensorInfo

from segnet.errors import SegnetError
from segnet.lazy import require

ORT_TYPES = {
    "tensor(float)": np.float32, "tensor(float16)": np.float16, "tensor(double)": np.float64,
    "tensor(uint8)": np.uint8, "tensor(int8)": np.int8, "tensor(int32)": np.int32, "tensor(int64)": np.int64,
    "tensor(bool)": np.bool_,
}
OPT_LEVELS = ("disable", "basic", "extended", "all")


def _shape(dims: list[Any]) -> tuple:
    """ORT reports symbolic dimensions as strings or None; both become None (dynamic)."""
    return tuple(d if isinstance(d, int) and d > 0 else None for d in dims)


def _info(arg: Any) -> TensorInfo:
    return TensorInfo(arg.name, _shape(arg.shape), np.dtype(ORT_TYPES.get(arg.type, np.float32)))


class OnnxRuntimeBackend(Backend):
    """One ORT InferenceSession. threads: intra-op threads (None = ORT's default, all cores);
    optimization: disable|basic|extended|all (ORT graph optimisation level)."""

    name = "onnxruntime"

    def __init__(self, model_path: str | Path, device: str = "cpu", threads: int | None = None,
                 optimization: str = "all", spinning: bool | None = None,
                 **provider_options: Any) -> None:
        super().__init__()
        self.model_path = Path(model_path)
        self.device = device
        self.threads = threads
        if optimization not in OPT_LEVELS:
            raise SegnetError(f"optimization must be one of {', '.join(OPT_LEVELS)}, got {optimization!r}")
        self.optimization = optimization
        self.spinning = spinning
        self.provider_options = provider_options
        self.session: Any = None
        self.metadata: dict[str, str] = {}
        self.output_names: list[str] = []

    def activate(self) -> None:
        ort = require("onnxruntime", "the ONNX Runtime backend")
        if not self.model_path.is_file():
            raise SegnetError(f"{self.model_path}: model file not found")
        options = ort.SessionOptions()
        if self.threads:
            options.intra_op_num_threads = int(self.threads)
            options.inter_op_num_threads = 1
        if self.spinning is not None:  # busy-waiting workers cost other threads CPU on small/shared machines
            options.add_session_config_entry("session.intra_op.allow_spinning", "1" if self.spinning else "0")
        options.graph_optimization_level = {
            "disable": ort.GraphOptimizationLevel.ORT_DISABLE_ALL,
            "basic": ort.GraphOptimizationLevel.ORT_ENABLE_BASIC,
            "extended": ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED,
            "all": ort.GraphOptimizationLevel.ORT_ENABLE_ALL,
        }[self.optimization]
        providers = ort_providers.providers_for(self.device, **self.provider_options)
        try:
            self.session = ort.InferenceSession(str(self.model_path), sess_options=options, providers=providers)
        except Exception as exc:  # noqa: BLE001 (ORT's pybind exceptions derive from Exception only)
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise SegnetError(f"{self.model_path}: ONNX Runtime cannot load it ({first})") from None
        self.metadata = dict(self.session.get_modelmeta().custom_metadata_map)
        self.output_names = [out.name for out in self.session.get_outputs()]  # asked once, not per frame
        self.is_active = True

    def infer(self, feed: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        if self.session is None:
            raise SegnetError("backend is not active: call activate() or use it as a context manager")
        start = time.perf_counter()
        values = self.session.run(None, feed)
        self.last_timing = {"compute": (time.perf_counter() - start) * 1000.0}
        return dict(zip(self.output_names, values))

    def deactivate(self) -> None:
        self.session = None
        self.is_active = False

    @property
    def inputs(self) -> list[TensorInfo]:
        return [_info(arg) for arg in self.session.get_inputs()]

    @property
    def outputs(self) -> list[TensorInfo]:
        return [_info(arg) for arg in self.session.get_outputs()]

    @property
    def active_providers(self) -> list[str]:
        return list(self.session.get_providers()) if self.session is not None else []
