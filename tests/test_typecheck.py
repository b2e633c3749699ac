"""mypy checks the TensorRT / CUDA modules and the streaming path against NVIDIA's tensorrt-stubs (setup.cfg's [mypy])."""

from __future__ import annotations

import configparser
import importlib.util
from pathlib import Path

import pytest
from fakes import mypy_tree
from fakes.trt_stubs import stubs_root


@pytest.mark.skipif(importlib.util.find_spec("mypy") is None, reason="mypy is not installed (pip install -e '.[dev]')")
@pytest.mark.skipif(stubs_root() is None, reason="tensorrt-stubs is not installed (pip install --no-deps tensorrt-stubs)")
def test_tensorrt_and_cuda_modules_typecheck_against_the_stubs():
    result = mypy_tree.run_mypy()
    assert result.returncode == 0, result.stdout + result.stderr
    config = configparser.ConfigParser()
    config.read(Path(__file__).resolve().parents[1] / "setup.cfg")
    files = [f for f in config["mypy"]["files"].replace("\n", ",").split(",") if f.strip()]
    assert f"no issues found in {len(files)} source files" in result.stdout  # every listed file was checked
