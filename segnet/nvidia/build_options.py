"""How to build one TensorRT engine: the options `segnet build`, `segnet export --format engine` and the
runtime's engine cache hand to `segnet.nvidia.engine_build.build_engine` (stdlib only, no TensorRT).
The command-line flags that fill them are in segnet/cli/build_args.py."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any

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
