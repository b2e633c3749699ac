"""`segnet deploy`: an exported model into NVIDIA's serving engines (Triton model repository, DeepStream nvinfer)."""

from __future__ import annotations

import argparse
from pathlib import Path

from segnet.cli.argtypes import non_negative_int, positive_int
from segnet.errors import SegnetError

NAME = "deploy"
HELP = "put an exported model into a Triton model repository or a DeepStream nvinfer configuration (torch-free)"
DESCRIPTION = """\
Carry an exported model (with its spec) into NVIDIA's serving engines; see docs/serving.md.

  triton      REPO/NAME/config.pbtxt + REPO/NAME/1/model.onnx (onnxruntime_onnx) or model.plan
              (tensorrt_plan): tensors and dims, dynamic batching, instance groups, the spec as parameters.
              Every config is parsed back with Triton's own schema (tritonclient's model_config_pb2).
  deepstream  DIR/<stem>.ds.onnx (softmax probabilities, NCHW, nvinfer's normalisation), an nvinfer config
              (network-type=2), a labels file and a deepstream-app config; checked against nvinfer's keys.

examples:
  segnet deploy triton model.onnx --repo models/                 # models/model/{config.pbtxt,1/model.onnx}
  segnet deploy triton model.fp16.engine --repo models/ --name road --max-batch 16 --queue-delay-us 2000
  segnet deploy deepstream model.onnx --out ds/ --network-mode fp16 --source file:///data/road.mp4
"""


def add_triton_arguments(parser: argparse.ArgumentParser, prefix: str = "") -> None:
    """The Triton repository options (shared with `segnet export --triton`)."""
    group = parser.add_argument_group("Triton model repository")
    group.add_argument(f"--{prefix}name", dest="triton_name", default=None, metavar="NAME",
                       help="model name in the repository (default: the model file's stem)")
    group.add_argument(f"--{prefix}max-batch", dest="triton_max_batch", type=positive_int, default=8, metavar="N",
                       help="max_batch_size for models with a dynamic batch axis (default 8)")
    group.add_argument(f"--{prefix}preferred", dest="triton_preferred", default=None, metavar="LIST",
                       help="dynamic batching's preferred batch sizes, e.g. 4,8 (default: 2,4,8 up to max)")
    group.add_argument(f"--{prefix}queue-delay-us", dest="triton_queue_delay_us", type=non_negative_int,
                       default=500, metavar="US", help="dynamic batching's max queue delay in microseconds (default 500)")
    group.add_argument(f"--{prefix}kind", dest="triton_kind", choices=("gpu", "cpu"), default="gpu",
                       help="instance group kind: gpu (KIND_GPU, default) or cpu (KIND_CPU, ONNX only)")
    group.add_argument(f"--{prefix}instances", dest="triton_instances", type=positive_int, default=1, metavar="N",
                       help="model instances per device (default 1)")


def add_deepstream_arguments(parser: argparse.ArgumentParser, prefix: str = "") -> None:
    """The DeepStream options (shared with `segnet export --deepstream`)."""
    from segnet.export.deepstream import NETWORK_MODES, SINKS

    group = parser.add_argument_group("DeepStream nvinfer")
    group.add_argument(f"--{prefix}network-mode", dest="ds_network_mode", choices=tuple(NETWORK_MODES),
                       default="fp32", help="precision nvinfer builds its engine in (default fp32)")
    group.add_argument(f"--{prefix}batch-size", dest="ds_batch_size", type=positive_int, default=1, metavar="N",
                       help="streams nvinfer batches (nvstreammux batch-size; default 1)")
    group.add_argument(f"--{prefix}source", dest="ds_source", metavar="URI", default="file:///opt/nvidia/deepstream/deepstream/"
                       "samples/streams/sample_720p.mp4", help="the deepstream-app config's source URI")
    group.add_argument(f"--{prefix}sink", dest="ds_sink", choices=SINKS, default="file",
                       help="the deepstream-app config's sink: file (out.mp4, default), display or fake")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="target", metavar="TARGET")
    triton = sub.add_parser("triton", help="a Triton model repository entry",
                            description="Write REPO/NAME/config.pbtxt and REPO/NAME/1/model.onnx|model.plan.")
    triton.add_argument("model", type=Path, help="exported model: .onnx, or .engine (with the ONNX it came from)")
    triton.add_argument("--repo", type=Path, required=True, help="the model repository folder")
    triton.add_argument("--onnx", type=Path, default=None,
                        help="for an .engine: the ONNX it was built from, for its tensors (default <stem>.onnx)")
    add_triton_arguments(triton)
    deepstream = sub.add_parser("deepstream", help="DeepStream nvinfer files",
                                description="Write the probabilities model, nvinfer config, labels and "
                                "deepstream-app config into DIR.")
    deepstream.add_argument("model", type=Path, help="exported ONNX with a 'logits' output (plain `segnet export`)")
    deepstream.add_argument("--out", type=Path, required=True, help="folder for the DeepStream files")
    add_deepstream_arguments(deepstream)


def preferred_sizes(text: str | None) -> list[int] | None:
    if not text:
        return None
    try:
        sizes = [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        sizes = []
    if not sizes or min(sizes) < 1:
        raise SegnetError(f"--preferred takes positive batch sizes like 4,8, got {text!r}")
    return sizes


def triton(args: argparse.Namespace, model: Path, repo: Path) -> Path:
    """Write the repository entry for `model` with the parsed Triton options."""
    from segnet.export.triton_repo import write_repository

    folder = write_repository(model, repo, name=args.triton_name, onnx_source=getattr(args, "onnx", None),
                              max_batch_size=args.triton_max_batch, preferred=preferred_sizes(args.triton_preferred),
                              queue_delay_us=args.triton_queue_delay_us, kind=args.triton_kind,
                              instances=args.triton_instances)
    print(f"wrote {folder}/config.pbtxt (checked with Triton's model_config schema) and {folder}/1/")
    return folder


def deepstream(args: argparse.Namespace, model: Path, out: Path) -> None:
    """Write the DeepStream files for `model` with the parsed DeepStream options."""
    from segnet.export.deepstream import write_deepstream

    files = write_deepstream(model, out, network_mode=args.ds_network_mode, batch_size=args.ds_batch_size,
                             source=args.ds_source, sink=args.ds_sink)
    for path in files.values():
        print(f"wrote {path}")


def run(args: argparse.Namespace) -> int:
    if args.target == "triton":
        triton(args, args.model, args.repo)
    elif args.target == "deepstream":
        deepstream(args, args.model, args.out)
    else:
        raise SegnetError("say what to deploy to: `segnet deploy triton ...` or `segnet deploy deepstream ...`")
    return 0
