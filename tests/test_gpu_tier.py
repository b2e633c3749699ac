"""The real-hardware tier on a machine without a GPU (this one): `make test`'s default run leaves it out,
`pytest -m gpu` skips it in one line with exit status 0 and writes the JSON report; and its CUDA tests,
run against the strict cuda-python fake (every call checked against the real module's signatures), pass:
they are written against the API the helpers use. They still need real hardware to mean anything more."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def pytest_run(*args: str, env: dict | None = None, code: str | None = None) -> subprocess.CompletedProcess:
    command = [sys.executable, "-c", code, *args] if code else [sys.executable, "-m", "pytest", *args]
    return subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=300, check=False,
                          env={**os.environ, "OMP_NUM_THREADS": "1", **(env or {})})


def test_the_default_run_leaves_the_gpu_tier_out():
    result = pytest_run("-q", "--collect-only", "tests/test_gpu.py", "tests/test_gpu_tier.py")
    assert "test_gpu.py::" not in result.stdout  # skipped whole here, or deselected (-m "not gpu") on a GPU machine
    assert "test_gpu_tier.py::test_the_default_run_leaves_the_gpu_tier_out" in result.stdout


def test_without_a_gpu_the_tier_is_one_skip_line_and_a_report(tmp_path):
    pytest.importorskip("cuda.bindings.runtime", reason="cuda-python not installed")
    from gpu_tier import gpu_unavailable

    if gpu_unavailable() is None:
        pytest.skip("this machine has a GPU: `make test-gpu` runs the tier for real")
    report_path = tmp_path / "gpu-report.json"
    result = pytest_run("-q", "-m", "gpu", "tests/test_gpu.py", "--gpu-report", str(report_path))
    assert result.returncode == 0, result.stdout + result.stderr
    skipped = [line for line in result.stdout.splitlines() if line.startswith("SKIPPED")]
    assert len(skipped) == 1 and "tests/test_gpu.py" in skipped[0] and "no usable NVIDIA GPU" in skipped[0]
    report = json.loads(report_path.read_text())
    assert report["exit_status"] == 0 and report["counts"] == {"skipped": 1} and report["tests"] == []
    assert report["skipped_modules"][0]["reason"] == gpu_unavailable()
    assert report["environment"]["gpu"] == {"unavailable": gpu_unavailable()}
    assert "tensorrt" in report["environment"] and "torch" in report["environment"]


FAKE_GPU = """
import sys
sys.path[:0] = ["tests"]
from fakes.fake_cudart import FakeCudart
sys.modules["cuda.bindings.runtime"] = FakeCudart(integrated=True)
import pytest
sys.exit(pytest.main(sys.argv[1:]))
"""


def test_the_cuda_tests_pass_against_the_strict_cuda_python_fake(tmp_path):
    """Every cudart call of the tier is checked against cuda-python's own signatures; the engine and training
    tests skip here with their reasons (no TensorRT, torch without CUDA), as on a GPU machine lacking them."""
    pytest.importorskip("cuda.bindings.runtime", reason="cuda-python not installed (the fake mirrors it)")
    report_path = tmp_path / "report.json"
    result = pytest_run("-q", "-m", "gpu", "-p", "no:cacheprovider", "tests/test_gpu.py", "--gpu-report",
                        str(report_path), code=FAKE_GPU)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    tests = {t["id"].split("::")[1]: t for t in json.loads(report_path.read_text())["tests"]}
    cuda = [name for name in tests if not name.startswith(("test_engine", "test_train"))]
    assert len(cuda) == 8 and all(tests[name]["outcome"] == "passed" for name in cuda), tests
    for name in ("test_engine_matches_onnxruntime[fp32]", "test_engine_matches_onnxruntime[fp16]",
                 "test_train_with_amp_on_cuda_and_resume"):
        assert tests[name]["outcome"] == "skipped" and tests[name]["reason"], name
    assert "TensorRT not importable" in tests["test_engine_matches_onnxruntime[fp32]"]["reason"]
    assert "has no CUDA" in tests["test_train_with_amp_on_cuda_and_resume"]["reason"]
