"""CUDA and TensorRT helpers shared by segnet.export and segnet.runtime (torch-free; imports lazily).

The layer below both: the runtime runs engines with it, the export and the runtime's engine cache build
them with it, and neither imports the other (docs/design.md, "Layers").
"""
