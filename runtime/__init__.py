"""Torch-free inference: backends (ONNX Runtime, TensorRT), Segmenter, sources, sinks, pipeline."""

from segnet.lazy import attributes

__all__ = ["Segmenter"]

# `segnet.runtime.Segmenter` without importing OpenCV and the backends on `import segnet.runtime.x`
__getattr__ = attributes(__name__, {"Segmenter": "segnet.runtime.segmenter"})
