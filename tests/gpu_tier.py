"""The real-hardware test tier (`make test-gpu`, docs/gpu-tests.md): what this machine lacks, and the JSON
report of what ran and what was skipped and why (`pytest --gpu-report PATH`). conftest.py imports the hooks.

The probes use the project's own helpers (segnet.nvidia.cuda_utils, trt_utils), so "no GPU" here means
exactly what it means to `segnet run`. Nothing is downloaded: every probe and test uses what is installed.
"""

from __future__ import annotations

import importlib
import json
import platform
import sys
import time
from functools import lru_cache
from typing import Any

import pytest

from segnet import atomic
from segnet.errors import SegnetError


@lru_cache(maxsize=None)
def gpu_unavailable() -> str | None:
    """Why the CUDA tests cannot run here (no cuda-python, no driver, no GPU), or None when they can."""
    from segnet.nvidia import cuda_utils

    try:
        count = cuda_utils.device_count()
    except SegnetError as exc:
        return str(exc) if "GPU" in str(exc) else f"no CUDA GPU: {exc}"
    return None if count > 0 else "no CUDA GPU: cudaGetDeviceCount found 0 devices"


@lru_cache(maxsize=None)
def tensorrt_unavailable() -> str | None:
    """Why the TensorRT engine tests cannot run here (tensorrt not importable), or None."""
    from segnet.nvidia import trt_utils

    try:
        trt_utils.import_tensorrt("the GPU tier's engine tests")
    except SegnetError as exc:
        return f"TensorRT not importable: {exc}"
    return None


def module_unavailable(name: str, why: str) -> str | None:
    try:
        importlib.import_module(name)
    except ImportError as exc:
        return f"{name} not installed ({why}): {exc}"
    return None


def environment() -> dict[str, Any]:
    """Versions and the GPU, for the report (each entry says why when it is missing)."""
    from importlib import metadata

    def version(dist: str) -> str | None:
        try:
            return metadata.version(dist)
        except metadata.PackageNotFoundError:
            return None

    env: dict[str, Any] = {"python": sys.version.split()[0], "platform": platform.platform(),
                           "cuda-python": version("cuda-python"), "onnxruntime": version("onnxruntime")
                           or version("onnxruntime-gpu"), "numpy": version("numpy")}
    reason = gpu_unavailable()
    if reason is None:
        from segnet.nvidia import cuda_utils

        info = cuda_utils.device_info(0)
        driver, runtime = cuda_utils.driver_and_runtime_versions()
        env["gpu"] = {"name": info.name, "compute_capability": info.compute_capability,
                      "memory_gib": round(info.total_memory / 2**30, 1), "integrated": info.integrated,
                      "driver_cuda": driver, "runtime_cuda": runtime, "count": cuda_utils.device_count()}
    else:
        env["gpu"] = {"unavailable": reason}
    trt_reason = tensorrt_unavailable()
    if trt_reason is None:
        from segnet.nvidia import trt_utils

        env["tensorrt"] = trt_utils.version()
    else:
        env["tensorrt"] = {"unavailable": trt_reason}
    try:
        import torch

        env["torch"] = {"version": torch.__version__, "cuda": torch.version.cuda,
                        "cuda_available": bool(torch.cuda.is_available())}
    except ImportError as exc:
        env["torch"] = {"unavailable": str(exc)}
    return env


# ---- the report plugin ---------------------------------------------------------------------------------
_RESULTS: dict[str, dict[str, Any]] = {}
_COLLECTION: list[dict[str, Any]] = []
_STARTED: list[float] = []


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--gpu-report", metavar="PATH", default=None,
                     help="write a JSON report of the tests that ran and were skipped (and why) to PATH")


def pytest_sessionstart(session: pytest.Session) -> None:
    _STARTED[:] = [time.time()]


def _reason(report: pytest.TestReport | pytest.CollectReport) -> str | None:
    longrepr = report.longrepr
    if report.skipped and isinstance(longrepr, tuple) and len(longrepr) == 3:
        text = str(longrepr[2])
        return text[len("Skipped: "):] if text.startswith("Skipped: ") else text
    if report.failed:
        return str(getattr(report, "longreprtext", "") or longrepr).strip().splitlines()[-1][:500]
    return None


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    entry = _RESULTS.setdefault(report.nodeid, {"id": report.nodeid, "outcome": "passed", "duration_s": 0.0})
    entry["duration_s"] = round(entry["duration_s"] + report.duration, 3)
    if report.failed:
        entry["outcome"] = "error" if report.when != "call" else "failed"
        entry["reason"] = _reason(report)
    elif report.skipped and entry["outcome"] == "passed":
        entry["outcome"] = "skipped"
        entry["reason"] = _reason(report)


def pytest_collectreport(report: pytest.CollectReport) -> None:
    if report.skipped or report.failed:
        _COLLECTION.append({"id": report.nodeid, "outcome": "skipped" if report.skipped else "error",
                            "reason": _reason(report)})


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """With --gpu-report: write the report; a tier skipped whole (no GPU) is a success, not "no tests"."""
    path = session.config.getoption("--gpu-report", default=None)
    if not path:
        return
    if exitstatus == pytest.ExitCode.NO_TESTS_COLLECTED and _COLLECTION and all(
            entry["outcome"] == "skipped" for entry in _COLLECTION):
        session.exitstatus = exitstatus = pytest.ExitCode.OK
    tests = list(_RESULTS.values())
    counts: dict[str, int] = {}
    for entry in tests + _COLLECTION:
        counts[entry["outcome"]] = counts.get(entry["outcome"], 0) + 1
    started = _STARTED[0] if _STARTED else time.time()
    report = {"tier": "gpu", "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(started)),
              "duration_s": round(time.time() - started, 1), "exit_status": int(exitstatus),
              "command": " ".join(["python -m pytest"] + sys.argv[1:]), "environment": environment(), "counts": counts,
              "skipped_modules": _COLLECTION, "tests": tests}
    atomic.write_text(path, json.dumps(report, indent=2) + "\n")
    print(f"\ngpu tier report: {path} ({', '.join(f'{n} {k}' for k, n in sorted(counts.items())) or 'nothing ran'})")
