"""`segnet bench`: PyTorch, ONNX FP32/INT8/FP16 and TensorRT side by side: speed, accuracy, efficiency."""

from __future__ import annotations

import argparse
import shlex
import sys

from segnet.cli import options

NAME = "bench"
HELP = "time and score a model's formats side by side (PyTorch, ONNX, INT8, FP16, TensorRT engine)"
DESCRIPTION = """\
Benchmark the formats of one model in one process, in alternating order (A B C A B C ...) so the ratios
hold on a busy machine. Given a checkpoint, the ONNX variants are exported into --out first; given an
.onnx, its siblings (model.int8.onnx, model.fp16.onnx, model.engine) are used when present. Formats that
cannot run here are listed as skipped, with the reason. Latency is the model call on a prepared input
(p50/p90/p99/mean, FPS); with --data each format's mIoU is measured too. A float32 GEMM probe gives this
machine's peak, so every row also says what fraction of it the model reached.
Writes table.md, results.json, results.csv and chart.png (with matplotlib) into --out; prints the table.

formats: pytorch, onnx, onnx-int8 (CPU-flavour INT8 on --device cpu), onnx-int8-trt (the symmetric INT8
model TensorRT consumes, timed on ONNX Runtime), onnx-fp16, engine (TensorRT, FP16 build).

examples:
  segnet bench runs/camvid/best.pt --data /data/camvid --imgsz 360 480
  segnet bench exports/model.onnx --formats onnx,onnx-int8 --calib /data/camvid --threads 2
  segnet bench exports/model.onnx --formats onnx,engine --min-time 10 --out results/orin
  segnet bench exports/model.engine --formats engine          # needs TensorRT and a GPU
"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from segnet.cli.mask_args import add_mask_arguments

    parser.add_argument("model", help="training checkpoint (.pt), exported .onnx, or TensorRT .engine")
    parser.add_argument("--checkpoint", help="with an .onnx MODEL: the checkpoint it came from (adds the "
                                             "pytorch row)")
    parser.add_argument("--formats", default="pytorch,onnx,onnx-int8,onnx-fp16,engine",
                        help="comma-separated formats to compare (default: %(default)s)")
    options.add_imgsz(parser, "input size to export/time at (default: the model's own)")
    parser.add_argument("--batch", type=int, default=1, help="images per call (default: 1)")
    parser.add_argument("--data", help="dataset root: adds each format's mIoU on --split")
    parser.add_argument("--split", default="val", help="split for mIoU (default: val)")
    options.add_data_format(parser)
    parser.add_argument("--max-images", type=int, help="score at most this many images (default: all)")
    parser.add_argument("--calib", help="calibration images for INT8 (a dataset root or image folder; "
                                        "default: --data)")
    parser.add_argument("--calib-images", type=int, default=32, help="calibration images to use (default: 32)")
    parser.add_argument("--warmup", type=int, default=10, help="untimed calls per format first (default: 10)")
    parser.add_argument("--iterations", type=int, default=50, help="at least this many timed calls per format "
                                                                   "(default: 50)")
    parser.add_argument("--min-time", type=float, default=2.0, help="and at least this many seconds per format "
                                                                    "(default: 2)")
    options.add_device(parser, ("cpu", "cuda"), "cpu")
    parser.add_argument("--threads", type=int, help="CPU threads for PyTorch and ONNX Runtime (default: theirs)")
    parser.add_argument("--peak-time", type=float, default=1.0,
                        help="seconds for the GEMM peak probe, 0 to skip it (default: 1)")
    parser.add_argument("--layout", type=str.upper, choices=("NCHW", "NHWC"),
                        help="a foreign model's float input/logits layout (default: read from the graph's shapes)")
    parser.add_argument("--input-range", choices=("0-1", "0-255", "-1-1"),
                        help="a foreign model's input value range (default: ImageNet mean/std)")
    parser.add_argument("--out", default="runs/bench", help="output folder (default: %(default)s)")
    add_mask_arguments(parser.add_argument_group("masks of --data / --calib (colour / one-hot, docs/masks.md)"))


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from segnet.benchmarks.harness import TimingSettings
    from segnet.benchmarks.suite import BenchRequest, parse_formats, run_bench
    from segnet.cli.mask_args import mask_options
    from segnet.errors import SegnetError

    try:
        timing = TimingSettings(warmup=args.warmup, iterations=args.iterations, min_time=args.min_time)
    except ValueError as exc:
        raise SegnetError(str(exc)) from None
    request = BenchRequest(
        model=Path(args.model), formats=parse_formats(args.formats), out_dir=Path(args.out),
        imgsz=tuple(args.imgsz) if args.imgsz else None, batch=args.batch, device=args.device,
        threads=args.threads, data=Path(args.data) if args.data else None, split=args.split,
        data_format=args.data_format, max_images=args.max_images,
        calib=Path(args.calib) if args.calib else None, calib_images=args.calib_images, timing=timing,
        peak_time=args.peak_time, command=_command_line(),
        checkpoint=Path(args.checkpoint) if args.checkpoint else None, masks=mask_options(args),
        layout=args.layout, input_range=args.input_range,
    )
    outcome = run_bench(request)
    print(outcome["markdown"])
    print()
    for kind, path in outcome["paths"].items():
        print(f"{kind:>8}: {path}")
    measured = [r for r in outcome["run"].results if r.ok]
    if not measured:
        print("segnet bench: error: no format could be measured (see the status column)", file=sys.stderr)
        return 1
    return 0


def _command_line() -> str | None:
    """The command as typed (recorded in results.json so a table can be reproduced)."""
    if sys.argv[1:2] != [NAME]:
        return None
    return "segnet " + " ".join(shlex.quote(a) for a in sys.argv[1:])
