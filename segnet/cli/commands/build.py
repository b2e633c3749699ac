"""`segnet build`: ONNX -> TensorRT engine (plan), optionally verified against ONNX Runtime."""

from __future__ import annotations

import argparse
from pathlib import Path

from segnet.cli import options

NAME = "build"
HELP = "build a TensorRT engine from an ONNX model (on the Jetson/GPU that will run it)"
DESCRIPTION = """Build a TensorRT engine (a plan trtexec can also load) from an exported ONNX model, on the
device that will run it: engines are tied to the TensorRT version and GPU. The engine's facts (TensorRT
version, GPU, precision, build options) go into the model's JSON sidecar beside it.

examples:
  segnet build model.onnx                              # -> model.engine (FP32)
  segnet build model.onnx -o model.fp16.engine --fp16 --timing-cache trt.cache
  segnet build model.int8.onnx --int8 --dla 0 --gpu-fallback   # Q/DQ model on a Jetson DLA core
  segnet build model.onnx --fp16 --verify --data data/camvid   # compare with ONNX Runtime
"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from segnet.cli.build_args import add_build_arguments

    parser.add_argument("model", type=Path, help="ONNX model (from `segnet export`)")
    parser.add_argument("-o", "--output", type=Path, default=None,
                        help="engine file (default: MODEL.engine, MODEL.fp16.engine, MODEL.int8.engine)")
    add_build_arguments(parser)
    parser.add_argument("--verify", action="store_true",
                        help="after building, run the engine and ONNX Runtime on the same inputs and compare")
    parser.add_argument("--data", type=Path, default=None, help="with --verify: also compare on images from this dataset")
    parser.add_argument("--verify-images", type=int, default=8, metavar="N", help="with --data: images to compare")
    options.add_json(parser, "the verification report")


def run(args: argparse.Namespace) -> int:
    from segnet.cli.build_args import build_options
    from segnet.export.tensorrt_build import build_engine

    engine = build_engine(args.model, args.output, build_options(args))
    print(f"wrote {engine}")
    if not args.verify:
        return 0
    from segnet.runtime.engine_verify import verify_engine

    report = verify_engine(engine, args.model, data_root=args.data, num_images=args.verify_images)
    if args.json != "-":
        print(report["summary"])
    if args.json:
        options.write_json(args.json, report)
    return 0 if report["ok"] else 1
