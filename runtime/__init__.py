"""Torch-free inference: backends (ONNX Runtime, TensorRT), Segmenter, sources, sinks, pipeline."""

from typing import Any

__all__ = ["Segmenter"]


def __getattr__(name: str) -> Any:
    """`segnet.runtime.Segmenter` without importing OpenCV and the backends on `import segnet.runtime`."""
    if name == "Segmenter":
        from segnet.runtime.segmenter import Segmenter

        return Segmenter
    raise AttributeError(f"module 'segnet.runtime' has no attribute {name!r}")
