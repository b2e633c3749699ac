"""ONNX export, unpool rewrite, TensorRT lint, quantization, precision conversion, engine build."""
