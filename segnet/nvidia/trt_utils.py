"""TensorRT helpers shared by the engine builder and the TensorRT backend (torch-free, imports lazily).

The Python API differs across the versions Jetson ships (8.6 on JetPack 6.0, 10.3 on 6.1/6.2, 10.13 and
11.x on JetPack 7): everything version-dependent is feature-detected here or by the callers, never
hard-coded enum values.
"""

from __future__ import annotations

import collections
import sys
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any, TextIO

from segnet.errors import MissingDependencyError
from segnet.lazy import LazyModule, require


def import_tensorrt(feature: str = "TensorRT engines") -> ModuleType:
    """The `tensorrt` module, or MissingDependencyError. A stubs-only install (tensorrt-stubs makes
    `import tensorrt` succeed as an empty namespace package) counts as missing."""
    module = require("tensorrt", feature)
    if not hasattr(module, "Builder") or not hasattr(module, "__version__"):
        raise MissingDependencyError(
            f"tensorrt is needed ({feature}) but only its type stubs are installed here, not TensorRT: on "
            "Jetson `sudo apt install python3-libnvinfer`, on a desktop pip install tensorrt (with a CUDA GPU)")
    return module


if TYPE_CHECKING:
    import tensorrt as trt
else:
    trt = LazyModule(import_tensorrt)  # imported on first use


def shape_of(dims: Any) -> tuple[int, ...]:
    """A TensorRT Dims (indexable, sized; -1 = dynamic) as a tuple of ints."""
    return tuple(int(dims[i]) for i in range(len(dims)))


def dims_of(shape: tuple[int, ...]) -> trt.Dims:
    """A tuple as TensorRT Dims (the bindings also convert tuples implicitly; this keeps the types exact)."""
    return trt.Dims(list(shape))


def version() -> str:
    return str(trt.__version__)


def major() -> int:
    return int(version().split(".")[0])


def same_release(a: str, b: str) -> bool:
    """Engines only load on the TensorRT release they were built with: compare major.minor.patch."""
    return a.split(".")[:3] == b.split(".")[:3]


def make_logger(log_file: Path | None = None, echo: TextIO | None = sys.stderr,
                echo_level: str = "WARNING") -> Any:
    """A TensorRT ILogger that keeps the last messages (`tail()`, for error reports), writes every
    message to `log_file` (verbose) and echoes those at `echo_level` or worse to `echo`."""
    severity = trt.ILogger.Severity
    order = [severity.INTERNAL_ERROR, severity.ERROR, severity.WARNING, severity.INFO, severity.VERBOSE]
    echo_rank = order.index(getattr(severity, echo_level))

    class SegnetLogger(trt.ILogger):
        """Collects TensorRT's messages for the user and for error messages."""

        def __init__(self) -> None:
            trt.ILogger.__init__(self)
            self.messages: collections.deque[tuple[str, str]] = collections.deque(maxlen=200)
            self.file = open(log_file, "w", encoding="utf-8") if log_file else None  # noqa: SIM115

        def log(self, sev: Any, msg: str) -> None:
            name = getattr(sev, "name", str(sev))
            self.messages.append((name, msg))
            if self.file:
                self.file.write(f"[{name}] {msg}\n")
            if echo is not None and sev in order and order.index(sev) <= echo_rank:
                print(f"TensorRT {name.lower()}: {msg}", file=echo)

        def tail(self, count: int = 5, errors_only: bool = True) -> str:
            """The last `count` (error) messages as one line."""
            wanted = ("ERROR", "INTERNAL_ERROR")
            picked = [m for n, m in self.messages if n in wanted or not errors_only][-count:]
            return " | ".join(picked)

        def close(self) -> None:
            if self.file:
                self.file.close()
                self.file = None

    return SegnetLogger()
