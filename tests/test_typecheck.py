"""mypy checks the TensorRT / CUDA modules against NVIDIA's tensorrt-stubs (setup.cfg's [mypy] section)."""

from __future__ import annotations

import importlib.util

import pytest
from fakes import mypy_tree
from fakes.trt_stubs import stubs_root


@pytest.mark.skipif(importlib.util.find_spec("mypy") is None, reason="mypy is not installed (pip install -e '.[dev]')")
@pytest.mark.skipif(stubs_root() is None, reason="tensorrt-stubs is not installed (pip install --no-deps tensorrt-stubs)")
def test_tensorrt_and_cuda_modules_typecheck_against_the_stubs():
    result = mypy_tree.run_mypy()
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues found in 10 source files" in result.stdout
