"""`segnet doctor`: what this machine has (Jetson, OpenCV build, ONNX Runtime, TensorRT, CUDA, cameras)
and which segnet features are usable here. Every probe is guarded: a missing or broken component is
reported, never a crash."""

from __future__ import annotations

import argparse
import glob
import importlib
import platform
import re
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from segnet.cli import options
from segnet.errors import SegnetError

NAME = "doctor"
HELP = "show what this machine can do: GPU, CUDA, TensorRT, ONNX Runtime, OpenCV, cameras, usable features"
DESCRIPTION = """Check the environment before running anything: Python and platform, the Jetson model and
JetPack/L4T release, numpy, OpenCV (and whether it was built with GStreamer and FFmpeg), ONNX Runtime and its
execution providers, torch, TensorRT (and DLA cores), cuda-python with the CUDA driver and GPUs, cameras,
and which segnet features therefore work here.

examples:
  segnet doctor
  segnet doctor --json > doctor.json
"""

# L4T release -> JetPack (NVIDIA's Jetson release table).
L4T_TO_JETPACK = [("35.3", "5.1.1"), ("35.4", "5.1.2"), ("35.5", "5.1.3"), ("35.6", "5.1.4"), ("36.2", "6.0 DP"),
                  ("36.3", "6.0"), ("36.4.0", "6.1"), ("36.4.3", "6.2"), ("36.4.4", "6.2.1"), ("38.2", "7.0"),
                  ("38.4", "7.1")]
DEVICE_TREE_MODEL = Path("/proc/device-tree/model")
TEGRA_RELEASE = Path("/etc/nv_tegra_release")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    options.add_json(parser, "the report")


def probe(fn: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    """Run one probe; any failure (ImportError included) becomes {"available": False, "error": ...}."""
    try:
        return fn()
    except Exception as exc:  # noqa: BLE001 - the doctor must report, never crash
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        return {"available": False, "error": first[:300]}


def _module(name: str) -> Any:
    return importlib.import_module(name)


def system_info() -> dict[str, Any]:
    return {"available": True, "python": platform.python_version(), "executable": sys.executable, "platform": platform.platform(),
            "machine": platform.machine()}


def jetpack_for(l4t: str) -> str | None:
    """JetPack release for an L4T version string like "36.4.3" (closest known release at or below it)."""
    def key(v: str) -> tuple[int, ...]:
        return tuple(int(p) for p in re.findall(r"\d+", v))

    found = [jp for rel, jp in L4T_TO_JETPACK if key(rel) <= key(l4t) and key(rel)[0] == key(l4t)[0]]
    return found[-1] if found else None


def jetson_info() -> dict[str, Any]:
    """Jetson model and L4T/JetPack from the device tree and /etc/nv_tegra_release."""
    info: dict[str, Any] = {"available": False}
    if DEVICE_TREE_MODEL.is_file():
        info["model"] = DEVICE_TREE_MODEL.read_bytes().decode(errors="replace").rstrip("\x00").strip()
        info["available"] = "jetson" in info["model"].lower() or "orin" in info["model"].lower()
    if TEGRA_RELEASE.is_file():
        text = TEGRA_RELEASE.read_text(errors="replace")
        match = re.search(r"R(\d+)\s*\(release\),\s*REVISION:\s*([\d.]+)", text)
        if match:
            info["l4t"] = f"{match.group(1)}.{match.group(2)}"
            info["jetpack"] = jetpack_for(info["l4t"])
            info["available"] = True
    return info


def numpy_info() -> dict[str, Any]:
    return {"available": True, "version": _module("numpy").__version__}


def opencv_info() -> dict[str, Any]:
    cv2 = _module("cv2")
    build = cv2.getBuildInformation()

    def backend(name: str) -> bool:
        match = re.search(rf"^\s*{name}:\s*(\S+)", build, re.MULTILINE | re.IGNORECASE)
        return bool(match and match.group(1).upper().startswith("YES"))

    return {"available": True, "version": cv2.__version__, "gstreamer": backend("GStreamer"),
            "ffmpeg": backend("FFMPEG"), "cuda": backend("NVIDIA CUDA")}


def onnxruntime_info() -> dict[str, Any]:
    ort = _module("onnxruntime")
    return {"available": True, "version": ort.__version__, "providers": list(ort.get_available_providers())}


def version_info(name: str) -> Callable[[], dict[str, Any]]:
    return lambda: {"available": True, "version": str(_module(name).__version__)}


def torch_info() -> dict[str, Any]:
    torch = _module("torch")
    return {"available": True, "version": torch.__version__, "cuda": bool(torch.cuda.is_available())}


def cuda_info() -> dict[str, Any]:
    from segnet.nvidia import cuda_utils

    cuda_utils.import_cudart()
    info: dict[str, Any] = {"available": False, "cuda_python": _package_version("cuda-python")}
    driver, runtime = cuda_utils.driver_and_runtime_versions()
    info.update(driver=None if driver == "0.0" else driver, runtime=runtime, devices=[])
    try:
        count = cuda_utils.device_count()
    except SegnetError as exc:
        info["error"] = str(exc)
        return info
    info["available"] = count > 0
    for index in range(count):
        dev = cuda_utils.device_info(index)
        info["devices"].append({"name": dev.name, "memory_mib": dev.total_memory >> 20,
                                "compute_capability": dev.compute_capability, "integrated": dev.integrated})
    return info


def tensorrt_info() -> dict[str, Any]:
    from segnet.nvidia import trt_utils

    trt_utils.import_tensorrt("segnet doctor")
    info: dict[str, Any] = {"available": True, "version": trt_utils.version()}
    try:
        builder = trt_utils.trt.Builder(trt_utils.make_logger(echo=None))
        info["dla_cores"] = int(builder.num_DLA_cores)
        info["fast_fp16"] = bool(builder.platform_has_fast_fp16)
    except Exception as exc:  # noqa: BLE001 - no GPU: TensorRT imports but cannot build
        info["builder_error"] = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return info


def _package_version(dist: str) -> str | None:
    from importlib import metadata

    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


def cameras() -> dict[str, Any]:
    devices = sorted(glob.glob("/dev/video*"))
    return {"available": bool(devices), "devices": devices}


def collect() -> dict[str, Any]:
    """Every probe's result by component name."""
    probes: dict[str, Callable[[], dict[str, Any]]] = {
        "system": system_info, "jetson": jetson_info, "numpy": numpy_info, "opencv": opencv_info,
        "onnxruntime": onnxruntime_info, "onnx": version_info("onnx"), "torch": torch_info,
        "tensorrt": tensorrt_info, "cuda": cuda_info, "cameras": cameras}
    return {name: probe(fn) for name, fn in probes.items()}


def _ok(report: dict[str, Any], name: str) -> bool:
    return bool(report.get(name, {}).get("available"))


def features(report: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Which segnet features work here, each with what is missing."""
    gpus = report.get("cuda", {}).get("devices") or []
    providers = report.get("onnxruntime", {}).get("providers") or []
    trt = report.get("tensorrt", {})

    def feature(ok: bool, missing: str) -> dict[str, Any]:
        return {"usable": ok, "missing": None if ok else missing}

    return {
        "train / evaluate": feature(_ok(report, "torch") and _ok(report, "opencv"), "torch (pip install -e '.[train]')"),
        "export ONNX": feature(_ok(report, "torch") and _ok(report, "onnx"), "torch + onnx (pip install -e '.[export]')"),
        "run on CPU (ONNX Runtime)": feature(_ok(report, "onnxruntime") and _ok(report, "opencv"),
                                             "onnxruntime + OpenCV (pip install -e '.[runtime]')"),
        "run with ONNX Runtime CUDA": feature("CUDAExecutionProvider" in providers, "onnxruntime-gpu"),
        "run with ONNX Runtime TensorRT": feature("TensorrtExecutionProvider" in providers, "onnxruntime-gpu with TensorRT"),
        "TensorRT build/run": feature(_ok(report, "tensorrt") and bool(gpus) and "builder_error" not in trt,
                                      "TensorRT + cuda-python + an NVIDIA GPU (see README, Jetson section)"),
        "DLA": feature(bool(trt.get("dla_cores")), "a Jetson with DLA (AGX/NX Orin, Xavier) and TensorRT"),
        "CSI camera (GStreamer)": feature(bool(report.get("opencv", {}).get("gstreamer")),
                                          "OpenCV built with GStreamer (JetPack's python3-opencv)"),
        "USB/V4L2 camera": feature(_ok(report, "cameras"), "a /dev/video* device"),
    }


def _describe(name: str, entry: dict[str, Any]) -> str:
    details = ", ".join(f"{k}={v}" for k, v in entry.items() if k not in ("available", "error") and v not in (None, []))
    state = "" if entry.get("available") else "not available "
    problem = f" ({entry['error']})" if entry.get("error") else ""
    return f"  {name:<12} {state}{details}{problem}".rstrip()


def render(report: dict[str, Any], usable: dict[str, dict[str, Any]]) -> str:
    lines = ["segnet doctor", "components:"]
    lines += [_describe(name, entry) for name, entry in report.items()]
    lines.append("features:")
    for name, state in usable.items():
        lines.append(f"  [{'x' if state['usable'] else ' '}] {name}" + ("" if state["usable"] else f"  (needs {state['missing']})"))
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    report = collect()
    usable = features(report)
    if args.json != "-":
        print(render(report, usable))
    if args.json:
        options.write_json(args.json, {"components": report, "features": usable})
    return 0
