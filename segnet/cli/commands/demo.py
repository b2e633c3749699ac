"""`segnet demo`: data -> train -> evaluate -> export + TensorRT check -> INT8 -> bench -> video, in one go."""

from __future__ import annotations

import argparse

from segnet.cli import options

NAME = "demo"
HELP = "the whole toolkit in one command: train on synthetic road scenes, export, benchmark, stream a video"
DESCRIPTION = """\
Runs every part of the toolkit once, on this machine, with the same library code the other commands use:
generate synthetic road scenes (or use --data), train a small SegNet on the CPU, evaluate it, export a
TensorRT-parsable ONNX model and check it, quantize it to INT8, benchmark PyTorch / ONNX / INT8 (and a
TensorRT engine when TensorRT and a GPU are present; otherwise the table says why not), stream a synthetic
video through the runtime pipeline, and write into --out: overlay.mp4, benchmark.md/.png/.json,
training_curves.png, predictions.png, summary.md and summary.json. Prints the summary at the end.
A failing step is reported and the steps that do not depend on it still run; the exit code is non-zero
if any step failed.

examples:
  segnet demo --out demo_out                          # about 10 minutes on 2 CPU cores
  segnet demo --out demo_fast --fast                  # smoke test: tiny sizes, 1 epoch, a few frames
  segnet demo --out demo_camvid --data /data/camvid   # the same on a real dataset
  segnet demo --out demo_out --epochs 20 --imgsz 120 160
"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", default="demo_out", help="output folder (default: %(default)s)")
    parser.add_argument("--data", help="a dataset root (folder, CamVid or VOC layout) instead of synthetic scenes")
    options.add_data_format(parser)
    parser.add_argument("--fast", action="store_true", help="tiny sizes, 1 epoch, a few frames (smoke test)")
    parser.add_argument("--epochs", type=int, help="training epochs (default: 30; --fast: 1)")
    options.add_imgsz(parser, "training / export size (default: 96 128; --fast: 48 64)")
    parser.add_argument("--width", type=float, help="segnet_lite width multiplier (default: 0.25)")
    parser.add_argument("--frames", type=int, help="frames of the synthetic video (default: 150)")
    parser.add_argument("--threads", type=int, help="CPU threads for ONNX Runtime (default: its own)")


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from segnet.cli.demo_job import Demo, DemoConfig, summary_markdown
    from segnet.errors import SegnetError

    out = Path(args.out)
    data = Path(args.data) if args.data else None
    if data is not None and not data.is_dir():
        raise SegnetError(f"--data {data}: no such folder")
    config = DemoConfig.fast(out, data) if args.fast else DemoConfig(out=out, data=data)
    config.data_format = args.data_format
    for option, field in (("epochs", "epochs"), ("width", "width"), ("frames", "video_frames"),
                          ("threads", "threads")):
        if getattr(args, option) is not None:
            setattr(config, field, getattr(args, option))
    if args.imgsz:
        config.imgsz = (args.imgsz[0], args.imgsz[1])
    summary = Demo(config).run()
    print()
    print(summary_markdown(summary))
    return 0 if summary["ok"] else 1
