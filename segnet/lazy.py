"""The one way the project imports optional or heavy modules: where they are used, with a one-line hint
when they are missing (`require`), as a module stand-in imported on first attribute (`LazyModule`), and
as package attributes imported on first access (`attributes`, PEP 562)."""

from __future__ import annotations

import importlib
from collections.abc import Callable, Sequence
from types import ModuleType
from typing import Any

from segnet.errors import MissingDependencyError

INSTALL_HINTS = {
    "torch": "pip install torch  (CPU build: pip install torch==2.13.0), or pip install -e '.[train]'",
    "onnx": "pip install -e '.[export]'",
    "onnxruntime": "pip install onnxruntime  (or onnxruntime-gpu; on Jetson the wheel from the Jetson Zoo)",
    "onnxscript": "pip install -e '.[export]'",
    "onnx_graphsurgeon": "pip install onnx-graphsurgeon",
    "onnxslim": "pip install onnxslim",
    "onnxconverter_common": "pip install onnxconverter-common",
    "tensorrt": "TensorRT is not installed: on Jetson `sudo apt install python3-libnvinfer`, on a desktop "
    "NVIDIA's tensorrt wheel (pip install tensorrt) with a CUDA GPU",
    "cuda": "pip install cuda-python  (NVIDIA's CUDA runtime bindings, matching your CUDA major version, "
    "e.g. 'cuda-python>=12,<13' on JetPack 6; needs an NVIDIA driver)",
    "tqdm": "pip install tqdm",
    "matplotlib": "pip install matplotlib",
    "PIL": "pip install pillow",
    "cv2": "pip install opencv-python-headless  (on Jetson use the system OpenCV: sudo apt install python3-opencv)",
}


def require(module: str | Sequence[str], feature: str = "") -> ModuleType:
    """Import `module` (or the first importable of several alternatives, e.g. a package's old and new
    names) or raise MissingDependencyError naming the feature and how to install it."""
    names = [module] if isinstance(module, str) else list(module)
    error: ImportError | None = None
    for name in names:
        try:
            return importlib.import_module(name)
        except ImportError as exc:
            error = error or exc
    top = ((error.name if error is not None else None) or names[0]).split(".")[0]  # what is really missing
    hint = INSTALL_HINTS.get(top, f"pip install {top}")
    what = f" ({feature})" if feature else ""
    raise MissingDependencyError(f"{top} is needed{what} but cannot be imported ({error}): {hint}") from None


class LazyModule:
    """Stands for a module and imports it (through `load`) on first attribute access, like Polygraphy's
    lazy_import: modules use `trt.X` at top level, typed against stubs, without the module installed."""

    def __init__(self, load: Callable[[], ModuleType]) -> None:
        self._load = load

    def __getattr__(self, name: str) -> Any:
        return getattr(self._load(), name)


def attributes(package: str, homes: dict[str, str]) -> Callable[[str], Any]:
    """A package `__getattr__` importing each name from its home module on first access (PEP 562), so
    `import package.submodule` does not import what the package's attributes need."""

    def __getattr__(name: str) -> Any:
        if name not in homes:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        return getattr(importlib.import_module(homes[name]), name)

    return __getattr__
