"""`segnet check`: TensorRT compatibility audit of any ONNX file (no TensorRT needed)."""

from __future__ import annotations

import argparse

from segnet.cli import options

NAME = "check"
HELP = "audit an ONNX file against TensorRT 8.6 / 10.x / 11.x's ONNX parser (node-level findings + fixes)"
DESCRIPTION = """\
Check every node of an ONNX model against what TensorRT's ONNX parser supports (onnx-tensorrt's operator
matrix per version, opset ranges, MaxPool Indices, MaxUnpool, ScatterND reduction, Resize modes, Q/DQ zero
points, data types, build-time constants, dynamic shapes). Works on any ONNX file, without TensorRT; where
TensorRT is installed its real parser runs too. Exit code 0 = passes every requested version, 1 = fails.

examples:
  segnet check model.onnx
  segnet check model.onnx --trt 10          # only the JetPack 6 family
  segnet check model.onnx --json > report.json
  segnet rewrite-unpool model.onnx model.trt.onnx && segnet check model.trt.onnx
"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("model", help="the ONNX file to audit")
    parser.add_argument("--trt", default="8.6,10,11", metavar="VERSIONS",
                        help="comma-separated TensorRT versions to check against: 8.6, 10, 11 (default: all)")
    options.add_json(parser, "the report")
    parser.add_argument("--no-parser", action="store_true",
                        help="skip the real TensorRT parser even where TensorRT is installed")


def run(args: argparse.Namespace) -> int:
    from segnet.errors import SegnetError
    from segnet.export.trt_lint import check_onnx

    versions = [v.strip() for v in args.trt.split(",") if v.strip()]
    if not versions:
        raise SegnetError("--trt needs at least one version, e.g. --trt 8.6,10,11")
    report = check_onnx(args.model, versions, run_parser=not args.no_parser)
    if args.json != "-":
        print(report.format())
    if args.json:
        options.write_json(args.json, report.to_dict())
    return 0 if report.ok else 1
