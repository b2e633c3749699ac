"""TensorRT build options: the argparse flags and the dataclass they fill (stdlib only, no TensorRT).

Shared by `segnet build` and `segnet export --format engine`: both call `add_build_arguments(parser)`
and `BuildOptions.from_args(args)`, then hand the options to `segnet.export.tensorrt_build.build_engine`.
"""

from __future__ import annotations

import argparse
import dataclasses
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from segnet.cli.argtypes import non_negative_int
from segnet.errors import SegnetError

DEFAULT_WORKSPACE_MIB = 1024


@dataclass
class BuildOptions:
    """How to build one engine. `dynamic_batch` is (min, opt, max) for the input's batch dimension;
    `log_file` receives TensorRT's verbose log (default with --verbose: `<engine>.build.log`)."""

    fp16: bool = False
    int8: bool = False
    workspace_mib: int = DEFAULT_WORKSPACE_MIB
    dla_core: int | None = None
    gpu_fallback: bool = False
    timing_cache: Path | None = None
    dynamic_batch: tuple[int, int, int] | None = None
    opt_level: int | None = None
    verbose: bool = False
    log_file: Path | None = None
    frame_opt: tuple[int, int] | None = None  # opt (height, width) of a dynamic frame input; default its max

    def __post_init__(self) -> None:
        if self.timing_cache is not None:
            self.timing_cache = Path(self.timing_cache)
        if self.log_file is not None:
            self.log_file = Path(self.log_file)
        if self.dynamic_batch is not None:
            self.dynamic_batch = tuple(int(v) for v in self.dynamic_batch)  # type: ignore[assignment]
        if self.frame_opt is not None:
            self.frame_opt = (int(self.frame_opt[0]), int(self.frame_opt[1]))
        self.validate()

    def validate(self) -> None:
        """Raise SegnetError for combinations TensorRT would reject later, after minutes of building."""
        if self.workspace_mib <= 0:
            raise SegnetError(f"--workspace must be a positive number of MiB, got {self.workspace_mib}")
        if self.dla_core is not None and self.dla_core < 0:
            raise SegnetError(f"--dla takes a DLA core index (0 or 1 on Orin/Xavier), got {self.dla_core}")
        if self.dla_core is not None and not (self.fp16 or self.int8):
            raise SegnetError("DLA runs only FP16 or INT8 layers: add --fp16 (or --int8) to --dla")
        if self.gpu_fallback and self.dla_core is None:
            raise SegnetError("--gpu-fallback only applies to DLA builds: add --dla 0 (or drop --gpu-fallback)")
        if self.dynamic_batch is not None:
            if len(self.dynamic_batch) != 3:
                raise SegnetError(f"--dynamic-batch takes MIN OPT MAX, got {self.dynamic_batch}")
            lo, opt, hi = self.dynamic_batch
            if not 1 <= lo <= opt <= hi:
                raise SegnetError(f"--dynamic-batch needs 1 <= MIN <= OPT <= MAX, got {lo} {opt} {hi}")
        if self.opt_level is not None and not 0 <= self.opt_level <= 5:
            raise SegnetError(f"--opt-level must be 0-5 (TensorRT's default is 3), got {self.opt_level}")

    @property
    def precision(self) -> str:
        """The lowest precision asked for: "int8", "fp16" or "fp32" (recorded in the sidecar)."""
        return "int8" if self.int8 else "fp16" if self.fp16 else "fp32"

    @property
    def workspace_bytes(self) -> int:
        return int(self.workspace_mib) << 20

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (paths as strings), as recorded in the engine's sidecar."""
        data = dataclasses.asdict(self)
        for key in ("timing_cache", "log_file"):
            data[key] = str(data[key]) if data[key] is not None else None
        data["dynamic_batch"] = list(self.dynamic_batch) if self.dynamic_batch else None
        data["frame_opt"] = list(self.frame_opt) if self.frame_opt else None
        return data

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> BuildOptions:
        """Options from a namespace filled by `add_build_arguments` (missing attributes keep defaults)."""
        values = {f.name: getattr(args, f.name) for f in dataclasses.fields(cls) if hasattr(args, f.name)}
        return cls(**values)


def add_build_arguments(parser: argparse.ArgumentParser, exclude: Iterable[str] = ()) -> None:
    """Add the TensorRT build flags (one argument group) to `parser`. `exclude` names flags the caller
    already defines with the same meaning (e.g. `segnet export`'s own `--fp16`, `--int8`, `--verbose`);
    `BuildOptions.from_args` reads those from the namespace all the same."""
    skip = set(exclude)
    group = parser.add_argument_group("TensorRT build options")
    for flags, kwargs in _BUILD_ARGUMENTS:
        if flags[0] not in skip:
            group.add_argument(*flags, **kwargs)


_BUILD_ARGUMENTS: list[tuple[tuple[str, ...], dict[str, Any]]] = [
    (("--fp16",), {
        "action": "store_true",
        "help": "allow FP16 kernels (TensorRT 11: the ONNX is converted to FP16 first)"}),
    (("--int8",), {
        "action": "store_true",
        "help": "INT8 from the model's Q/DQ nodes (export with `segnet export --int8`)"}),
    (("--workspace",), {
        "dest": "workspace_mib", "type": non_negative_int, "default": DEFAULT_WORKSPACE_MIB, "metavar": "MiB",
        "help": f"builder workspace memory limit (default {DEFAULT_WORKSPACE_MIB})"}),
    (("--dla",), {
        "dest": "dla_core", "type": non_negative_int, "default": None, "metavar": "N",
        "help": "build for DLA core N (Jetson Orin/Xavier; needs --fp16 or --int8)"}),
    (("--gpu-fallback",), {
        "action": "store_true",
        "help": "with --dla: run layers the DLA cannot on the GPU"}),
    (("--timing-cache",), {
        "type": Path, "default": None, "metavar": "FILE",
        "help": "read kernel timings from FILE and write them back (faster rebuilds)"}),
    (("--dynamic-batch",), {
        "type": non_negative_int, "nargs": 3, "default": None, "metavar": ("MIN", "OPT", "MAX"),
        "help": "batch range of a dynamic-batch engine (ONNX exported with dynamic batch)"}),
    (("--frame-opt",), {
        "type": non_negative_int, "nargs": 2, "default": None, "metavar": ("H", "W"),
        "help": "frame size TensorRT tunes a dynamic-frame model for (default: its largest)"}),
    (("--opt-level",), {
        "type": int, "choices": range(6), "default": None, "metavar": "0-5",
        "help": "builder optimisation level (TensorRT default 3; 5 searches longest)"}),
    (("--verbose",), {
        "action": "store_true",
        "help": "write TensorRT's verbose build log to <engine>.build.log"}),
]
