"""Shared fixtures. Tests are fast by default; `@pytest.mark.slow` ones run with `make test-slow`."""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import pytest

# The real-hardware tier's JSON report (--gpu-report PATH, `make test-gpu`): tests/gpu_tier.py, docs/gpu-tests.md.
from gpu_tier import (  # noqa: F401  (pytest finds hooks by name in conftest)
    pytest_addoption,
    pytest_collectreport,
    pytest_runtest_logreport,
    pytest_sessionfinish,
    pytest_sessionstart,
)

ROOT = Path(__file__).resolve().parents[1]
CAMVID = ROOT.parent / "shared" / "data" / "camvid"

# Test modules that import torch at the top: a torch-free (Jetson) install skips them instead of failing.
TORCH_TEST_MODULES = ["test_export.py", "test_frame_export.py", "test_frame_runtime.py", "test_masks_cli.py",
                      "test_quantize.py", "test_train.py",
                      "test_train_ddp.py", "test_train_parts.py"]
if importlib.util.find_spec("torch") is None:
    collect_ignore = TORCH_TEST_MODULES

# Two cores: keep each test process from oversubscribing them.
os.environ.setdefault("OMP_NUM_THREADS", "2")


@pytest.fixture(scope="session")
def camvid_root() -> Path:
    if not (CAMVID / "train").is_dir():
        pytest.skip("CamVid not found at ../shared/data/camvid")
    return CAMVID


@pytest.fixture(scope="module")
def torch_one_thread():
    """Tiny tensors: thread hand-offs cost more than they save, and badly so on a shared 2-core box."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
