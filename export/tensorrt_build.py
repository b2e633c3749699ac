"""`segnet build`'s engine builder: segnet.nvidia.engine_build with the export's FP16 conversion, which
TensorRT 11 (precision from the ONNX) needs for --fp16."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from segnet.nvidia.build_options import BuildOptions
from segnet.nvidia.engine_build import build_engine as _build_engine
from segnet.nvidia.engine_build import default_engine_path

__all__ = ["build_engine", "default_engine_path"]


def _convert_fp16(onnx_path: Path, out: Path) -> Path:
    from segnet.export.fp16 import convert_fp16  # onnxconverter-common: only on TensorRT 11 with --fp16

    return convert_fp16(onnx_path, out)


def build_engine(onnx_path: str | Path, engine_path: str | Path | None = None,
                 options: BuildOptions | None = None, log: Callable[[str], None] | None = None) -> Path:
    """Build `onnx_path` into a TensorRT engine (see segnet.nvidia.engine_build.build_engine), converting
    the ONNX to FP16 first where the TensorRT version needs it."""
    return _build_engine(onnx_path, engine_path, options, log, convert_fp16=_convert_fp16)
