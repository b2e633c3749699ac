"""`segnet export`: checkpoint -> verified ONNX (TensorRT-parsable), INT8/FP16 variants, or an engine."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

from segnet.cli import options
from segnet.cli.argtypes import non_negative_int, positive_int
from segnet.cli.build_args import add_build_arguments, build_options
from segnet.cli.commands.deploy import add_deepstream_arguments, add_triton_arguments
from segnet.cli.mask_args import add_mask_arguments
from segnet.errors import SegnetError
from segnet.spec import FramePath

if TYPE_CHECKING:
    from segnet.data.mask_options import MaskOptions

NAME = "export"
HELP = "export a checkpoint to ONNX that TensorRT parses (verified against PyTorch), INT8/FP16 variants, engines"
DESCRIPTION = """Export a trained checkpoint to ONNX. SegNet's max-unpooling is exported in an index-free
form TensorRT parses (no MaxUnpool, ScatterND or MaxPool indices), and every export is checked against
PyTorch under ONNX Runtime before it is written. The model spec travels in the ONNX metadata and in
MODEL.json beside it, so `segnet build`, `segnet run` and `segnet bench` need no further options.

examples:
  segnet export runs/camvid/best.pt                          # -> runs/camvid/best.onnx
  segnet export best.pt -o model.onnx --embed-preprocess --argmax --data data/camvid
  segnet export best.pt -o model.onnx --int8 --calib data/camvid --calib-images 100 --fp16
  segnet export best.pt --format engine --fp16               # ONNX, then a TensorRT engine (on the Jetson)
  segnet export best.pt -o cam.onnx --frame-size 720 1280 --outputs overlay,labels   # frame in, overlay out
  segnet export best.pt -o any.onnx --frame-size dynamic --frame-min 240 320 --frame-max 1080 1920 --upsample linear
  segnet export best.pt --dynamic-batch 1 4 8 --triton models/ --deepstream ds/   # then `segnet deploy` both
"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from segnet.export.onnx_export import DEFAULT_OPSET, TARGETS
    from segnet.spec import FRAME_CHANNELS, FRAME_OUTPUTS, FRAME_RESIZES, FRAME_UPSAMPLES, LABEL_SIZES

    parser.add_argument("checkpoint", type=Path, help="training checkpoint (.pt from `segnet train`)")
    parser.add_argument("--format", choices=("onnx", "engine"), default="onnx",
                        help="onnx (default), or engine: export ONNX then build a TensorRT engine from it")
    parser.add_argument("-o", "--output", type=Path, default=None,
                        help="ONNX file to write (default: beside the checkpoint, named after its stem)")
    options.add_imgsz(parser, "input height and width (default: the spec's input size)")
    parser.add_argument("--batch", type=positive_int, default=1, help="fixed batch size (default 1)")
    parser.add_argument("--opset", type=int, default=DEFAULT_OPSET,
                        help=f"ONNX opset (default {DEFAULT_OPSET}: the newest TensorRT 8.6 parses)")
    parser.add_argument("--target", choices=TARGETS, default="tensorrt",
                        help="tensorrt (index-free pooling, default) or onnxruntime (the form fastest on ORT's CPU)")
    parser.add_argument("--embed-preprocess", action="store_true",
                        help="input uint8 NHWC BGR frames; cast, colour order, mean/std and NCHW inside the graph")
    parser.add_argument("--argmax", action="store_true",
                        help="output 'labels', the class map (uint8), instead of the logits")
    parser.add_argument("--keep-logits", action="store_true", help="with --argmax: also output 'logits'")
    parser.add_argument("--simplify", action="store_true", help="simplify the graph with onnxslim")
    parser.add_argument("--data", type=Path, default=None, metavar="ROOT",
                        help="also verify against PyTorch on real images of this dataset")
    parser.add_argument("--skip-rewrite-check", action="store_true",
                        help="skip the check against PyTorch's own ScatterND export (a second export: halves the time)")
    frame = parser.add_argument_group(
        "frame path in the graph (with --frame-size)",
        "input: the camera frame (uint8 N x H x W x C); inside the graph: resize, normalise, the network, "
        "ArgMax, class map back to the frame, palette and blend; `segnet run` then does no per-pixel work")
    frame.add_argument("--frame-size", nargs="+", default=None, metavar="H W",
                       help="frame height and width (e.g. 720 1280), or 'dynamic' with --frame-min/--frame-max")
    frame.add_argument("--frame-min", type=positive_int, nargs=2, default=None, metavar=("H", "W"),
                       help="smallest frame of a dynamic frame size")
    frame.add_argument("--frame-max", type=positive_int, nargs=2, default=None, metavar=("H", "W"),
                       help="largest frame of a dynamic frame size")
    frame.add_argument("--frame-channels", choices=FRAME_CHANNELS, default=None,
                       help="pixel format of the frames (default bgr, as OpenCV captures)")
    frame.add_argument("--frame-resize", choices=FRAME_RESIZES, default=None,
                       help="frame -> network: area (OpenCV's INTER_AREA when shrinking, as the host path; "
                            "fixed frame sizes; default there) or linear (bilinear; default for dynamic sizes)")
    frame.add_argument("--upsample", choices=FRAME_UPSAMPLES, default=None,
                       help="class map -> frame: nearest (default) or linear (bilinear logits, then ArgMax: "
                            "smooth edges, jetson-inference's FILTER_LINEAR)")
    frame.add_argument("--outputs", default=None, metavar="LIST",
                       help=f"comma-separated outputs from {','.join(FRAME_OUTPUTS)} (default overlay,labels)")
    frame.add_argument("--labels-size", choices=LABEL_SIZES, default=None,
                       help="the 'labels' output at the frame's size (default) or the network's")
    quant = parser.add_argument_group("INT8 (with --int8)")
    quant.add_argument("--calib", type=Path, default=None, metavar="DATA",
                       help="dataset (its train split, else val/test) or folder of images that calibrates INT8")
    quant.add_argument("--calib-images", type=positive_int, default=None, metavar="N",
                       help="calibration images (default 100)")
    quant.add_argument("--calib-method", choices=("minmax", "percentile", "entropy"), default=None,
                       help="activation range calibration (default: the method chosen by measurement)")
    quant.add_argument("--quantize-all", action="store_true",
                       help="also quantize the first conv and the classifier (kept FP32 by default)")
    quant.add_argument("--eval-images", type=non_negative_int, default=50, metavar="N",
                       help="then report FP32 vs INT8 mIoU on the first N images of the --calib dataset's val "
                            "split and their speed under ONNX Runtime on this CPU (default 50; 0 skips; "
                            "--format onnx only)")
    add_mask_arguments(quant)  # the --calib dataset's masks, read by the --eval-images report
    quant.add_argument("--switch-inputs", choices=("fp32", "int8"), default=None,
                       help="values the max-pool switches decide on: fp32 (exact; default for --target tensorrt) "
                            "or int8 (ONNX Runtime's faster QLinearConv, rounding may move switches; default "
                            "for --target onnxruntime)")
    # --fp16, --int8 and --dynamic-batch come from the shared TensorRT build options: with --format onnx
    # they write MODEL.fp16.onnx / MODEL.int8.onnx and a dynamic batch axis; with --format engine they
    # also set the engine's precision and batch range.
    add_build_arguments(parser)
    deploy = parser.add_argument_group("serving (as `segnet deploy triton|deepstream` on the exported ONNX)")
    deploy.add_argument("--triton", type=Path, default=None, metavar="REPO",
                        help="also write a Triton model repository entry REPO/NAME/ (see docs/serving.md)")
    deploy.add_argument("--deepstream", type=Path, default=None, metavar="DIR",
                        help="also write DeepStream nvinfer files into DIR (plain exports only)")
    add_triton_arguments(parser, prefix="triton-")
    add_deepstream_arguments(parser, prefix="deepstream-")
    _describe(parser, {
        "fp16": "also write MODEL.fp16.onnx (FP32 inputs/outputs; verified against FP32); "
                "with --format engine: an FP16 engine",
        "int8": "also write MODEL.int8.onnx (Q/DQ, needs --calib; zero points 0 for --target tensorrt, "
                "uint8 activations for onnxruntime); with --format engine: an INT8 engine from it",
        "dynamic_batch": "export a dynamic batch axis (verified at batch 1 and 3); with --format engine "
                         "also the engine's batch range",
    })


def _describe(parser: argparse.ArgumentParser, helps: dict[str, str]) -> None:
    """Say what the shared TensorRT flags mean for `segnet export` (their build help is about engines)."""
    for action in parser._actions:  # argparse keeps no public accessor for an added argument's help
        if action.dest in helps:
            action.help = helps[action.dest]


def run(args: argparse.Namespace) -> int:
    from segnet.export import onnx_export

    if args.int8 and args.calib is None:
        raise SegnetError("--int8 needs calibration images: add --calib DATA (a dataset or a folder of images)")
    if args.calib is not None and not args.int8:
        raise SegnetError("--calib only applies with --int8")
    target = "tensorrt" if args.format == "engine" else args.target
    if args.format == "engine" and args.target != "tensorrt":
        raise SegnetError("--format engine builds for TensorRT: drop --target onnxruntime")
    frame = frame_path(args)
    if args.deepstream is not None and (frame is not None or args.embed_preprocess or
                                        (args.argmax and not args.keep_logits)):
        raise SegnetError("--deepstream needs the plain network (nvinfer normalises and takes the scores): drop "
                          "--frame-size/--embed-preprocess, or add --keep-logits to --argmax")
    if args.triton is not None:  # before the export, not after it
        from segnet.artifacts import stem

        name = args.triton_name or stem(args.output or onnx_export.default_output(args.checkpoint))
        if (args.triton / name).exists():
            raise SegnetError(f"{args.triton / name} exists: choose another --triton-name, or remove that model folder")
    if frame is not None and (args.int8 or args.fp16):
        raise SegnetError("--int8/--fp16 variants of a frame-path export are not made yet: export the network "
                          "with --int8/--fp16 and without --frame-size, or build the frame-path ONNX with "
                          "`segnet build --fp16`")
    onnx_path = onnx_export.export_onnx(
        args.checkpoint, args.output, imgsz=tuple(args.imgsz) if args.imgsz else None, batch=args.batch,
        dynamic_batch=args.dynamic_batch is not None, opset=args.opset, target=target,
        embed_preprocess=args.embed_preprocess, argmax=args.argmax, keep_logits=args.keep_logits,
        simplify=args.simplify, verify_data=args.data, check_rewrite=not args.skip_rewrite_check, frame=frame,
        log=print)
    print(f"wrote {onnx_path}")
    build_input = onnx_path
    if args.int8:
        build_input = _int8(args, onnx_path, target)
    if args.fp16 and args.format == "onnx":
        from segnet.export.fp16 import convert_fp16

        print(f"wrote {convert_fp16(onnx_path, onnx_export.variant_path(onnx_path, 'fp16'), log=print)}")
    if args.format == "engine":
        _engine(args, build_input)
    if args.triton is not None or args.deepstream is not None:
        from segnet.cli.commands import deploy

        if args.triton is not None:
            deploy.triton(args, onnx_path, args.triton)
        if args.deepstream is not None:
            deploy.deepstream(args, onnx_path, args.deepstream)
    return 0


def frame_path(args: argparse.Namespace) -> FramePath | None:
    """The FramePath the --frame-* flags ask for (None without --frame-size); SegnetError for bad values."""
    from segnet.export.frame_export import check_frame

    extra = [flag for flag, value in (("--frame-min", args.frame_min), ("--frame-max", args.frame_max),
                                      ("--frame-channels", args.frame_channels), ("--frame-resize", args.frame_resize),
                                      ("--upsample", args.upsample), ("--outputs", args.outputs),
                                      ("--labels-size", args.labels_size)) if value is not None]
    if args.frame_size is None:
        if extra:
            raise SegnetError(f"{', '.join(extra)} apply to the frame path: add --frame-size H W (or dynamic)")
        return None
    if args.frame_size == ["dynamic"]:
        size = None
    else:
        try:
            size = tuple(int(v) for v in args.frame_size)
        except ValueError:
            size = ()
        if len(size) != 2:
            raise SegnetError(f"--frame-size takes H W (e.g. 720 1280) or 'dynamic', got {' '.join(args.frame_size)}")
    values = {"channels": args.frame_channels, "size": size,
              "min_size": tuple(args.frame_min) if args.frame_min else None,
              "max_size": tuple(args.frame_max) if args.frame_max else None,
              "resize": args.frame_resize or ("area" if size is not None else "linear"), "upsample": args.upsample,
              "labels_size": args.labels_size,
              "outputs": [o.strip() for o in args.outputs.split(",") if o.strip()] if args.outputs else None}
    return check_frame(FramePath(**{k: v for k, v in values.items() if v is not None}))


def _int8(args: argparse.Namespace, onnx_path: Path, target: str) -> Path:
    """Quantize the exported model; returns the INT8 ONNX path."""
    from segnet.cli.mask_args import mask_options
    from segnet.export import onnx_export, quantize

    options = {"exclude": "none" if args.quantize_all else "auto"}
    if args.calib_method:
        options["method"] = args.calib_method
    if args.calib_images:
        options["num_images"] = args.calib_images
    if args.switch_inputs:
        options["switch_inputs"] = args.switch_inputs
    masks = mask_options(args)
    out = quantize.quantize_int8(onnx_path, onnx_export.variant_path(onnx_path, "int8"), args.calib,
                                 target="tensorrt" if target == "tensorrt" else "cpu", log=print, masks=masks,
                                 **options)
    print(f"wrote {out}")
    if args.eval_images > 0 and args.format == "onnx":  # an engine is checked by `--verify` on the device
        _int8_report(onnx_path, out, args.calib, args.eval_images, masks)
    return out


def _int8_report(fp32: Path, int8: Path, data: Path, images: int, masks: MaskOptions) -> None:
    """Print FP32 vs INT8 mIoU and speed; a dataset without a labelled val split only skips the report."""
    from segnet.benchmarks.suite import int8_versus_fp32

    try:
        print(int8_versus_fp32(fp32, int8, data, images, masks=masks))
    except SegnetError as exc:
        print(f"INT8 vs FP32 not measured: {exc}")


def _engine(args: argparse.Namespace, onnx_path: Path) -> None:
    """Build a TensorRT engine from the exported (or quantized) ONNX with the shared build options."""
    from segnet.export.tensorrt_build import build_engine  # TensorRT itself is imported on first use

    engine = build_engine(onnx_path, None, build_options(args))
    print(f"wrote {engine}")
