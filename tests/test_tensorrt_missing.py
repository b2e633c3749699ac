"""On this machine TensorRT and a GPU really are missing (no fakes): every entry point says so in one line."""

from __future__ import annotations

import subprocess
import sys

import pytest
from fakes import tiny_onnx

from segnet.errors import MissingDependencyError
from segnet.runtime.backends import open_backend


def _real_tensorrt_usable() -> bool:
    try:
        import tensorrt

        return hasattr(tensorrt, "Builder")
    except ImportError:
        return False


pytestmark = pytest.mark.skipif(_real_tensorrt_usable(), reason="TensorRT is installed here: this tests its absence")


def test_segnet_build_exits_with_one_clear_line(tmp_path):
    model = tiny_onnx(tmp_path / "model.onnx")
    result = subprocess.run([sys.executable, "-m", "segnet", "build", str(model)], capture_output=True, text=True, check=False)
    assert result.returncode == MissingDependencyError.exit_code
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.stderr
    assert "tensorrt" in lines[0].lower() and "python3-libnvinfer" in lines[0]
    assert not (tmp_path / "model.engine").exists()


def test_tensorrt_backend_factory_for_engine_and_onnx(tmp_path):
    engine = tmp_path / "model.engine"
    engine.write_bytes(b"not really a plan")
    backend = open_backend(engine)
    with pytest.raises(MissingDependencyError, match="python3-libnvinfer"):
        backend.activate()
    model = tiny_onnx(tmp_path / "model.onnx")
    with pytest.raises(MissingDependencyError, match="tensorrt"):
        open_backend(model, backend="tensorrt")


def test_cuda_python_without_driver_is_a_missing_gpu():
    from segnet.nvidia import cuda_utils

    try:
        count = cuda_utils.device_count()
    except MissingDependencyError as exc:
        assert "no usable NVIDIA GPU" in str(exc) and "cudaGetDeviceCount" in str(exc)
    else:
        pytest.skip(f"this machine has {count} CUDA device(s)")
