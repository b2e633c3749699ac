"""What this machine can do: a float32 matrix-multiply peak probe and a short machine description.

The probe times numpy's BLAS GEMM (square float32, n x n, 2 n^3 FLOPs per call) and reports the best
sustained rate. It is the yardstick for "% of peak" in the efficiency columns: a network at 10% of a
GEMM peak is bound by something other than arithmetic (memory traffic, small layers, per-op overhead).
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
import time
from dataclasses import dataclass
from typing import Any

import numpy as np


@dataclass
class GemmPeak:
    """Measured GEMM throughput: `best` and `median` GFLOP/s over `repeats` timed calls of size n."""

    n: int
    repeats: int
    best_gflops: float
    median_gflops: float
    blas: str

    def to_dict(self) -> dict[str, Any]:
        return {"n": self.n, "repeats": self.repeats, "best_gflops": self.best_gflops,
                "median_gflops": self.median_gflops, "blas": self.blas}


def gemm_peak(n: int = 1024, min_time: float = 1.0, min_repeats: int = 5, seed: int = 0,
              threads: int | None = None) -> GemmPeak:
    """Time `a @ b` (float32, n x n) for at least `min_time` seconds and `min_repeats` calls after one
    warm-up call; the best call's rate is the peak, the median says how steady the machine was.
    `threads` runs the probe in a child process with that many BLAS threads (the BLAS thread count is
    fixed when numpy loads), so the peak matches runtimes limited to the same number of threads."""
    if threads:
        return _gemm_peak_in_child(n, min_time, min_repeats, seed, threads)
    rng = np.random.default_rng(seed)
    a = rng.standard_normal((n, n), dtype=np.float32)
    b = rng.standard_normal((n, n), dtype=np.float32)
    out = np.empty((n, n), dtype=np.float32)
    np.matmul(a, b, out=out)  # warm-up: thread pool start, page faults
    rates: list[float] = []
    flops = 2.0 * n**3
    start = time.perf_counter()
    while len(rates) < min_repeats or time.perf_counter() - start < min_time:
        t0 = time.perf_counter()
        np.matmul(a, b, out=out)
        rates.append(flops / (time.perf_counter() - t0) / 1e9)
    return GemmPeak(n=n, repeats=len(rates), best_gflops=float(max(rates)),
                    median_gflops=float(np.median(rates)), blas=_blas_name())


def _gemm_peak_in_child(n: int, min_time: float, min_repeats: int, seed: int, threads: int) -> GemmPeak:
    env = dict(os.environ, **{name: str(threads) for name in
                              ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")})
    code = ("import json; from segnet.benchmarks.peak import gemm_peak; "
            f"print(json.dumps(gemm_peak({n}, {min_time!r}, {min_repeats}, {seed}).to_dict()))")
    result = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise RuntimeError(f"GEMM probe failed: {result.stderr.strip()[-300:]}")
    data = json.loads(result.stdout.strip().splitlines()[-1])
    data["blas"] = f"{data['blas']}, {threads} thread(s)"
    return GemmPeak(**data)


def _blas_name() -> str:
    """The BLAS numpy was built with (e.g. 'scipy-openblas 0.3.31'), or 'unknown'."""
    try:
        config = np.show_config(mode="dicts")  # numpy >= 1.25
        blas = config["Build Dependencies"]["blas"]
        return f"{blas.get('name', '?')} {blas.get('version', '')}".strip()
    except (TypeError, KeyError, AttributeError):  # older numpy: no dict mode; the name is informative
        return "unknown"


def machine_info() -> dict[str, Any]:
    """CPU model, core count, OS and the versions that decide the numbers (for every results file)."""
    info: dict[str, Any] = {
        "cpu": _cpu_model(),
        "logical_cpus": os.cpu_count(),
        "usable_cpus": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
        "os": f"{platform.system()} {platform.release()}",
        "machine": platform.machine(),
        "python": platform.python_version(),
        "numpy": np.__version__,
    }
    for module in ("onnxruntime", "torch", "tensorrt", "cv2"):
        version = _version_of(module)
        if version:
            info[module] = version
    return info


def _version_of(module: str) -> str:
    """The version of an already-importable module without importing heavy ones needlessly."""
    from importlib import metadata

    dists = {"onnxruntime": ("onnxruntime", "onnxruntime-gpu"), "torch": ("torch",),
             "tensorrt": ("tensorrt", "tensorrt-cu12", "tensorrt-cu13"), "cv2": ("opencv-python-headless",
                                                                                   "opencv-python")}
    for dist in dists.get(module, (module,)):
        try:
            return metadata.version(dist)
        except metadata.PackageNotFoundError:
            continue
    return ""


def _cpu_model() -> str:
    """The CPU's marketing name from /proc/cpuinfo (Linux), else platform.processor()."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as handle:
            for line in handle:
                if line.lower().startswith(("model name", "hardware")):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()
