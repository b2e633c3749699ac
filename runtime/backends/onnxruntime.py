"""ONNX Runtime backend: runs an .onnx file on the CPU, or on CUDA / TensorRT execution providers
(segnet.runtime.ort_providers picks them for --device cuda|tensorrt)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np

from segnet.errors import SegnetError
from segnet.lazy import require
from segnet.runtime import ort_providers
from segnet.runtime.backends.base import Backend, TensorInfo

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

    def _activate_impl(self) -> None:
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

    def _label(self) -> str:
        return self.model_path.name

    def _infer_impl(self, feed: dict[str, np.ndarray],
                    outputs: dict[str, np.ndarray] | None) -> dict[str, np.ndarray]:
        """With `outputs`, ONNX Runtime writes into those arrays (I/O binding: no output copies)."""
        start = time.perf_counter()
        if outputs:
            results = self._infer_bound(feed, outputs)
        else:
            results = dict(zip(self.output_names, self.session.run(None, feed)))
        self.last_timing = {"compute": (time.perf_counter() - start) * 1000.0}
        return results

    def _infer_bound(self, feed: dict[str, np.ndarray], outputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Run with every input and the given outputs bound to caller memory; other outputs come back new."""
        binding = self.session.io_binding()
        inputs = {name: np.ascontiguousarray(array) for name, array in feed.items()}  # alive until the run ends
        for name, array in inputs.items():
            binding.bind_input(name, "cpu", 0, array.dtype, array.shape, array.ctypes.data)
        for name in self.output_names:
            out = outputs.get(name)
            if out is None:
                binding.bind_output(name, "cpu")
                continue
            if not out.flags.c_contiguous or not out.flags.writeable:
                raise SegnetError(f"output {name!r}: expected a writable C-contiguous array, got a view")
            binding.bind_output(name, "cpu", 0, out.dtype, out.shape, out.ctypes.data)
        try:
            self.session.run_with_iobinding(binding)
        except Exception as exc:  # noqa: BLE001 (ORT's pybind exceptions derive from Exception only)
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise SegnetError(f"{self.model_path.name}: inference failed ({first}); check the output arrays' "
                              "shapes and dtypes") from None
        results = dict(outputs)
        unbound = [n for n in self.output_names if n not in outputs]
        if unbound:
            values = binding.copy_outputs_to_cpu()
            results.update({n: v for n, v in zip(self.output_names, values) if n in unbound})
        return results

    def _deactivate_impl(self) -> None:
        self.session = None

    @property
    def inputs(self) -> list[TensorInfo]:
        return [_info(arg) for arg in self.session.get_inputs()]

    @property
    def outputs(self) -> list[TensorInfo]:
        return [_info(arg) for arg in self.session.get_outputs()]

    @property
    def active_providers(self) -> list[str]:
        return list(self.session.get_providers()) if self.session is not None else []
