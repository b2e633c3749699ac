"""Torch-free inference: backends (ONNX Runtime, TensorRT), Segmenter, sources, sinks, pipeline."""
