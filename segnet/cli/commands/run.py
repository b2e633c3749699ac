"""`segnet run`: stream a source through a model into one or more outputs, with live statistics."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from segnet.cli import options
from segnet.errors import SegnetError
from segnet.runtime.uris import SINK_URIS, SOURCE_URIS

NAME = "run"
HELP = "segment a camera, stream, video, images or synthetic:// in real time (torch-free)"
DESCRIPTION = f"""\
Stream frames through a model (.onnx with ONNX Runtime, .engine with TensorRT) into outputs, with
per-stage latency, end-to-end FPS and network FPS printed live and at the end.

sources (--source):
{SOURCE_URIS}
outputs (--output, repeatable):
{SINK_URIS}
Two ways to TensorRT: --backend tensorrt runs a segnet-built .engine natively (an .onnx is built into a
cached engine on first use); --device tensorrt keeps ONNX Runtime and lets its TensorRT provider build.

examples:
  segnet run model.onnx --source synthetic:// --output http://127.0.0.1:8080
  segnet run model.onnx --source road.mp4 --output out.mp4 --visualize overlay,mask --legend --json run.json
  segnet run model.engine --source csi://0 --input-width 1280 --input-height 720 --output display://0 --hud
  segnet run cam.onnx --source road.mp4 --output out.mp4     # exported with --frame-size: overlay from the graph
  segnet run other.onnx --source frames/ --output out/ --mean 0.5,0.5,0.5 --std 0.5,0.5,0.5 --classes names.txt
  segnet run keras.trt.onnx --source road.mp4 --output out.mp4 --input-range 0-1   # tf2onnx: NHWC read from the graph
  segnet run model --backend triton --url grpc://127.0.0.1:8001 --source road.mp4 --output out.mp4   # segnet serve
"""


def _floats(text: str) -> tuple[float, ...]:
    try:
        return tuple(float(v) for v in text.replace(" ", ",").split(",") if v)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated numbers, got {text!r}") from None


def _size(text: str) -> tuple[int, int]:
    from segnet.runtime.sources import parse_size

    try:
        return parse_size(text)
    except SegnetError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("model", help="model file: .onnx or .engine (its spec comes from model.json or the ONNX); "
                        "with --backend triton the model's name on the server")
    parser.add_argument("--source", "-s", required=True, help="input URI (sources above)")
    parser.add_argument("--output", "-o", action="append", default=[],
                        help="output URI; repeat for several (default: null)")
    model = parser.add_argument_group("model and backend")
    model.add_argument("--backend", default="auto", choices=("auto", "onnxruntime", "tensorrt", "triton"),
                       help="auto: TensorRT for .engine, ONNX Runtime for .onnx; tensorrt: native TensorRT; "
                       "triton: frames go to a Triton server (`segnet serve`), the spec comes from its config")
    model.add_argument("--url", default=None, help="with --backend triton: the server's gRPC endpoint, "
                       "grpc://HOST:PORT (segnet serve's default: grpc://127.0.0.1:8001)")
    model.add_argument("--retry-s", type=float, default=None, help="with --backend triton: how long a server "
                       "that went away is retried before the run stops with an error (default 10)")
    options.add_device(model, ("cpu", "cuda", "tensorrt"), "cpu")
    model.add_argument("--threads", type=int, default=None, help="inference threads (ONNX Runtime intra-op)")
    model.add_argument("--no-spinning", dest="spinning", action="store_const", const=False, default=None,
                       help="ONNX Runtime worker threads sleep instead of busy-waiting between frames "
                       "(frees CPU for capture/render on small or busy machines)")
    model.add_argument("--cuda-graph", action="store_true",
                       help="TensorRT: replay each frame's engine launch from a captured CUDA graph")
    model.add_argument("--filter-mode", default="point", choices=("point", "linear"),
                       help="linear: upsample logits bilinearly before the argmax (smoother edges)")
    model.add_argument("--mean", type=_floats, help="normalisation mean per channel, e.g. 0.485,0.456,0.406 "
                       "(foreign models; overrides the spec)")
    model.add_argument("--std", type=_floats, help="normalisation std per channel (foreign models)")
    model.add_argument("--input-range", choices=("0-1", "0-255", "-1-1"),
                       help="the input values the network expects, instead of --mean/--std (foreign models)")
    model.add_argument("--layout", type=str.upper, choices=("NCHW", "NHWC"),
                       help="float input and logits layout (default: read from the graph's shapes, e.g. NHWC "
                       "for tf2onnx models)")
    model.add_argument("--classes", help="class names 'road,car,...' or a file (one per line, or JSON)")
    model.add_argument("--color-order", choices=("RGB", "BGR"), help="channel order the network expects")
    options.add_imgsz(model, "network input size for models with a dynamic one")
    options.deprecated(model, "--input-size", "--imgsz H W", dest="imgsz", type=_size)
    source = parser.add_argument_group("source")
    source.add_argument("--input-width", type=int, help="capture width requested from cameras")
    source.add_argument("--input-height", type=int, help="capture height requested from cameras")
    source.add_argument("--input-rate", type=float, help="capture frame rate requested from cameras")
    source.add_argument("--input-loop", dest="loop", action="store_true", help="restart files at their end")
    options.deprecated(source, "--loop", "--input-loop", dest="loop", nargs=0, convert=lambda _: True)
    source.add_argument("--max-frames", type=int, help="stop after this many frames")
    view = parser.add_argument_group("rendering")
    view.add_argument("--visualize", default="overlay", help="overlay, mask or overlay,mask (side by side)")
    view.add_argument("--alpha", type=float, default=0.5, help="overlay colour weight 0..1 (default 0.5)")
    view.add_argument("--legend", action="store_true", help="draw the names of the classes in view")
    view.add_argument("--ignore-class", type=int, help="leave pixels of this class uncoloured")
    view.add_argument("--hud", action="store_true", help="draw FPS and latency on the frames")
    view.add_argument("--output-rate", type=float, help="frame rate written into video outputs "
                      "(default: the source's, else 30)")
    options.deprecated(view, "--video-fps", "--output-rate", dest="output_rate", type=float)
    report = parser.add_argument_group("statistics")
    options.add_json(report, "the run's statistics (after the table)")
    options.deprecated(report, "--stats", "--json FILE", dest="json")
    report.add_argument("--class-stats", action="store_true", help="per-class pixel share per frame in --json")
    report.add_argument("--quiet", "-q", action="store_true", help="no live status line")


def _check(args: argparse.Namespace) -> tuple[str, ...]:
    from segnet.artifacts import model_format
    from segnet.render import parse_visualize

    if not 0.0 <= args.alpha <= 1.0:
        raise SegnetError(f"--alpha must be within 0..1, got {args.alpha}")
    if args.max_frames is not None and args.max_frames < 1:
        raise SegnetError(f"--max-frames must be at least 1, got {args.max_frames}")
    if args.threads is not None and args.threads < 1:
        raise SegnetError(f"--threads must be at least 1, got {args.threads}")
    if (args.backend == "triton") != (args.url is not None):
        raise SegnetError("--url goes with --backend triton" if args.url else
                          "--backend triton needs --url grpc://HOST:PORT (where `segnet serve` listens)")
    if args.retry_s is not None and (args.backend != "triton" or args.retry_s < 0):
        raise SegnetError("--retry-s takes seconds >= 0 and goes with --backend triton")
    engine = model_format(args.model) == "engine"
    if args.cuda_graph and not (engine or args.backend == "tensorrt"):
        raise SegnetError("--cuda-graph applies to TensorRT: run an .engine, or add --backend tensorrt")
    try:
        return parse_visualize(args.visualize)
    except ValueError as exc:
        raise SegnetError(str(exc)) from None


def run(args: argparse.Namespace) -> int:
    from segnet.metrics import json_safe
    from segnet.runtime.pipeline import Pipeline
    from segnet.runtime.segmenter import Segmenter
    from segnet.runtime.sinks import open_sinks
    from segnet.runtime.sources import open_source

    modes = _check(args)
    segmenter = Segmenter(args.model, backend=args.backend, device=args.device, mean=args.mean, std=args.std,
                          classes=args.classes, color_order=args.color_order,
                          input_size=tuple(args.imgsz) if args.imgsz else None,
                          layout=args.layout, input_range=args.input_range, filter_mode=args.filter_mode,
                          threads=args.threads,
                          **({} if args.spinning is None else {"spinning": args.spinning}),
                          **({"cuda_graph": True} if args.cuda_graph else {}),
                          **({"url": args.url} if args.url else {}),
                          **({"retry_s": args.retry_s} if args.retry_s is not None else {}))
    with segmenter:
        source = open_source(args.source, width=args.input_width, height=args.input_height, fps=args.input_rate,
                             loop=args.loop, max_frames=args.max_frames)
        with source:
            outputs = args.output or ["null"]
            sinks = open_sinks(outputs, fps=args.output_rate or source.fps)
            try:
                _print_header(segmenter, source, sinks)
                pipeline = Pipeline(segmenter, source, sinks, visualize=modes, alpha=args.alpha, legend=args.legend,
                                    ignore_class=args.ignore_class, hud=args.hud, class_stats=args.class_stats,
                                    status_stream=None if args.quiet else sys.stderr)
                stats = pipeline.run()
            finally:
                for sink in sinks:
                    sink.close()
    print(stats.table())
    for sink in sinks:
        print(f"output: {sink.describe()}: {sink.written} frames")
    if args.json:
        doc = {"model": str(args.model), "backend": segmenter.backend.name, "device": args.device,
               **({"url": args.url, "server_retries": segmenter.backend.reconnects} if args.url else {}),
               "input_size": list(segmenter.input_size), "source": args.source, "live": source.live,
               "outputs": outputs, **stats.to_dict()}
        options.write_json(args.json, json_safe(doc))
    return 0


def _print_header(segmenter: Any, source: Any, sinks: list[Any]) -> None:
    spec = segmenter.spec
    height, width = segmenter.input_size
    providers = getattr(segmenter.backend, "active_providers", [])
    where = f" at {segmenter.backend.url}" if getattr(segmenter.backend, "remote", False) else ""
    print(f"model   {segmenter.model_path}{where} ({spec.arch}, {spec.num_labels} classes, input {height}x{width}, "
          f"backend {segmenter.backend.name}{' ' + ','.join(providers) if providers else ''})")
    frame = segmenter.frame_path
    if frame is not None:
        size = f"{frame.size[0]}x{frame.size[1]}" if frame.size else "any size"
        print(f"frames  in the graph: {frame.channels} frames of {size} -> {','.join(frame.outputs)} "
              "(no per-pixel work on the host)")
    print(f"source  {source.uri} ({'live: stale frames are dropped' if source.live else 'file: every frame'})")
    for sink in sinks:
        print(f"output  {sink.describe()}")
    sys.stdout.flush()


