"""`segnet rewrite-unpool`: make an ONNX model with max-unpooling parse in TensorRT."""

from __future__ import annotations

import argparse

NAME = "rewrite-unpool"
HELP = "rewrite MaxPool-Indices/MaxUnpool/ScatterND unpooling of any ONNX model into TensorRT-supported ops"
DESCRIPTION = """\
TensorRT supports neither MaxUnpool nor MaxPool's Indices output, so SegNet/ENet-style ONNX files do not
parse. This rewrites them with ONNX-GraphSurgeon:
  - fast path: 2x2/stride-2 MaxPool + MaxUnpool, or + index arithmetic and ScatterND (torch.onnx's dynamo
    export of max_unpool2d, tf2onnx's NHWC pattern from Keras unpooling layers) once proved on the subgraph
    to be that unpooling -> the index-free switch form (Slice/Max/Equal/And/Not/Cast/Mul/Concat/DepthToSpace),
    bit-exact with the original;
  - general path: any other 2-D MaxPool whose Indices are used -> its Indices computed exactly from
    Slice/Equal/Where (every kernel, stride, padding, dilation, ceil_mode, storage_order), consumers kept;
  - any MaxUnpool left -> ScatterElements into a zero-initialised output (exact).
The result passes onnx.checker and shape inference and is written atomically.

examples:
  segnet rewrite-unpool segnet.onnx segnet.trt.onnx
  segnet rewrite-unpool enet.onnx enet.trt.onnx --check      # then audit it for TensorRT 8.6/10/11
  segnet rewrite-unpool model.onnx out.onnx --check --trt 10
"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("input", help="ONNX file to rewrite")
    parser.add_argument("output", help="where to write the rewritten ONNX file")
    parser.add_argument("--general", action="store_true",
                        help="compute every pool's indices (no switch-form folds); for comparing the two paths")
    parser.add_argument("--check", action="store_true", help="run `segnet check` on the result (exit 1 if it fails)")
    parser.add_argument("--trt", default="8.6,10,11", metavar="VERSIONS",
                        help="TensorRT versions for --check (default: 8.6,10,11)")


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from segnet.errors import SegnetError
    from segnet.export.rewrite_unpool import rewrite_unpool

    if Path(args.input).resolve() == Path(args.output).resolve():
        raise SegnetError(f"{args.output}: output would overwrite the input; choose another file name")
    summary = rewrite_unpool(args.input, args.output, fast=not args.general)
    for line in summary.lines():
        print(line)
    print(f"wrote {args.output}")
    if not args.check:
        return 0
    from segnet.export.trt_lint import check_onnx

    report = check_onnx(args.output, [v.strip() for v in args.trt.split(",") if v.strip()])
    print(report.format())
    return 0 if report.ok else 1
