"""Run the installed TensorRT's own ONNX parser on a file and report its errors by node (when TensorRT exists)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from segnet.errors import MissingDependencyError
from segnet.export.trt_support import family
from segnet.nvidia import trt_utils


def _network_flags(trt: Any) -> int:
    """EXPLICIT_BATCH where it exists (8.x needs it, 10.x ignores it, 11.x removed it); never hard-coded bits."""
    flag = getattr(getattr(trt, "NetworkDefinitionCreationFlag", None), "EXPLICIT_BATCH", None)
    return 1 << int(flag) if flag is not None else 0


def _error_dict(error: Any) -> dict[str, Any]:
    """One parser error as plain data; node_name/node_operator exist from TensorRT 10 on (feature-detected)."""
    out: dict[str, Any] = {"message": str(error.desc()), "node_index": int(error.node())}
    for attr in ("node_name", "node_operator"):
        getter = getattr(error, attr, None)
        if callable(getter):
            out[attr] = str(getter())
    return out


def parse_with_tensorrt(path: Path, report: Any = None) -> dict[str, Any] | None:
    """Parse `path` with tensorrt.OnnxParser if TensorRT is importable; None when it is not installed.

    With a `report` (LintReport), parser errors are appended to it as errors for the installed family."""
    try:
        trt = trt_utils.import_tensorrt("parsing with the installed TensorRT")
    except MissingDependencyError:  # optional: only on machines with TensorRT (stubs alone do not count)
        return None
    version = str(getattr(trt, "__version__", "?"))
    result: dict[str, Any] = {"version": version, "ok": False, "errors": []}
    try:
        logger = trt.Logger(trt.Logger.WARNING)
        builder = trt.Builder(logger)
        network = builder.create_network(_network_flags(trt))
        parser = trt.OnnxParser(network, logger)
        result["ok"] = bool(parser.parse_from_file(str(path)))
        errors: list[dict[str, Any]] = [_error_dict(parser.get_error(i)) for i in range(parser.num_errors)]
        result["errors"] = errors
    except (RuntimeError, TypeError, AttributeError) as exc:  # no CUDA: Builder's factory returns nullptr
        result["note"] = f"(could not create a TensorRT builder: {exc})"
        return result
    if report is not None and not result["ok"]:
        _add_to_report(report, version, result["errors"])
    return result


def _add_to_report(report: Any, version: str, errors: list[dict[str, Any]]) -> None:
    """Attach the parser's errors to the report under the installed family (if it was requested)."""
    from segnet.export.trt_lint import ERROR, Issue

    try:
        name = family(version).name
    except ValueError:
        return
    if name not in report.versions:
        return
    for err in errors or [{"message": "parse failed without an error message", "node_index": -1}]:
        node = err.get("node_name") or f"node #{err['node_index']}"
        report.issues.append(Issue(ERROR, [name], node, err.get("node_operator", "?"),
                                   f"TensorRT {version} parser: {err['message']}", ""))
