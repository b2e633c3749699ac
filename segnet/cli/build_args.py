"""The TensorRT build flags shared by `segnet build` and `segnet export --format engine`, and the
BuildOptions they fill (segnet/nvidia/build_options.py holds the options themselves)."""

from __future__ import annotations

import argparse
import dataclasses
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from segnet.cli.argtypes import non_negative_int
from segnet.nvidia.build_options import DEFAULT_WORKSPACE_MIB, BuildOptions


def build_options(args: argparse.Namespace) -> BuildOptions:
    """Options from a namespace filled by `add_build_arguments` (missing attributes keep defaults)."""
    values = {f.name: getattr(args, f.name) for f in dataclasses.fields(BuildOptions) if hasattr(args, f.name)}
    return BuildOptions(**values)


def add_build_arguments(parser: argparse.ArgumentParser, exclude: Iterable[str] = ()) -> None:
    """Add the TensorRT build flags (one argument group) to `parser`. `exclude` names flags the caller
    already defines with the same meaning (e.g. `segnet export`'s own `--fp16`, `--int8`, `--verbose`);
    `build_options` reads those from the namespace all the same."""
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
