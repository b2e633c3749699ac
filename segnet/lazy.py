"""Import heavy optional dependencies where they are used, with a one-line hint when they are missing."""

from __future__ import annotations

import importlib
from types import ModuleType

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
    "cuda": "pip install cuda-python  (NVIDIA's CUDA runtime bindings; needs an NVIDIA driver)",
    "tqdm": "pip install tqdm",
    "matplotlib": "pip install matplotlib",
    "PIL": "pip install pillow",
    "cv2": "pip install opencv-python-headless  (on Jetson use the system OpenCV: sudo apt install python3-opencv)",
}


def require(module: str, feature: str = "") -> ModuleType:
    """Import `module` or raise MissingDependencyError naming the feature and how to install it."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        top = module.split(".")[0]
        hint = INSTALL_HINTS.get(top, f"pip install {top}")
        what = f" ({feature})" if feature else ""
        raise MissingDependencyError(f"{top} is needed{what} but cannot be imported ({exc}): {hint}") from None
