"""`segnet evaluate`: global accuracy, class-average accuracy, mIoU and IoU per class of a model on a split."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from segnet.cli import options

NAME = "evaluate"
HELP = "score a checkpoint (or an exported .onnx / .engine) on a dataset split: accuracy, mIoU, IoU per class"
DESCRIPTION = """\
Evaluate a model on a dataset split with the SegNet paper's metrics: global accuracy, class-average
accuracy, mIoU, and IoU / accuracy per class (ignore pixels excluded). Images are resized to the model's
input size; predictions are scaled back (nearest) and scored at the annotations' full resolution.
A .pt checkpoint runs in PyTorch; .onnx / .engine files run through the torch-free runtime, with the
same evaluation code, so exported and quantised models are compared like for like.

examples:
  segnet evaluate runs/camvid/best.pt --data /data/camvid --split val
  segnet evaluate runs/camvid/best.pt --data /data/camvid --split test --json results/camvid_test.json
  segnet evaluate exports/model.int8.onnx --data /data/camvid --split val --json -   # JSON to stdout
  segnet evaluate runs/fold/best.pt --data /data/camvid --split train --groups 0006R0  # one sequence only
"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from segnet.cli.mask_args import add_mask_arguments

    parser.add_argument("model", help="checkpoint (.pt) or exported model (.onnx, .engine)")
    parser.add_argument("--data", required=True, help="dataset root")
    options.add_data_format(parser)
    options.deprecated(parser, "--format", "--data-format", dest="data_format")
    parser.add_argument("--split", default="val", help="split to score: val, test, train (default: val)")
    parser.add_argument("--groups", metavar="G[,G]", help="score only these groups (sequences) of the split, e.g. "
                        "the one a --val-groups run held out (default: the whole split)")
    options.add_group_by(parser, "prefix")
    options.add_imgsz(parser, "network input size (default: the model's own; exported models keep theirs)")
    parser.add_argument("--batch", type=int, default=8, help="images per forward pass (default: 8)")
    options.add_device(parser, ("auto", "cpu", "cuda"), "auto")
    parser.add_argument("--backend", default="auto", choices=("auto", "onnxruntime", "tensorrt"),
                        help="exported models: ONNX Runtime, or TensorRT natively for .engine files (default: auto)")
    options.add_json(parser, "the metrics")
    add_mask_arguments(parser.add_argument_group("masks (colour / one-hot, docs/masks.md)"))


def torch_predictor(args: argparse.Namespace) -> tuple[Any, Any]:
    """(predict, spec) for a .pt checkpoint."""
    from segnet.evaluate import model_predictor
    from segnet.train.checkpoint import load_model
    from segnet.train.distributed import resolve_device

    device = resolve_device(args.device)
    model, spec = load_model(args.model)
    return model_predictor(model.to(device), spec, device), spec


def runtime_predictor(args: argparse.Namespace) -> tuple[Any, Any]:
    """(predict, spec) for an exported model, through the torch-free Segmenter (RGB batch -> BGR frames)."""
    import numpy as np

    from segnet.runtime import Segmenter

    segmenter = Segmenter(args.model, backend=args.backend, device="cpu" if args.device == "auto" else args.device)

    def predict(images: np.ndarray) -> np.ndarray:
        frames = [image[..., ::-1] if image.shape[-1] == 3 else image for image in images]
        return np.stack(segmenter.predict_batch(frames))

    return predict, segmenter.spec


def run(args: argparse.Namespace) -> int:
    from segnet.artifacts import model_format
    from segnet.cli.mask_args import mask_options
    from segnet.data import groups, open_dataset
    from segnet.errors import SegnetError
    from segnet.evaluate import evaluate_predictor, summary
    from segnet.metrics import format_table, json_safe

    if args.batch < 1:
        raise SegnetError(f"--batch must be at least 1, got {args.batch}")
    path = Path(args.model)
    if not path.is_file():
        raise SegnetError(f"{path}: no such model file")
    exported = model_format(path) in ("onnx", "engine")
    if exported and args.imgsz:
        raise SegnetError("--imgsz applies to checkpoints only: an exported model has a fixed input size")
    predict, spec = runtime_predictor(args) if exported else torch_predictor(args)
    dataset = open_dataset(args.data, args.split, args.data_format, mask_options(args))
    names = groups.parse_names(args.groups)
    if args.groups is not None and not names:
        raise SegnetError(f"--groups needs group names, got {args.groups!r}")
    if names:
        dataset = groups.select(dataset, names, args.group_by)
    if dataset.num_classes != spec.num_classes:
        raise SegnetError(f"{args.data}: the {args.split} split has {dataset.num_classes} classes but {path} "
                          f"was trained for {spec.num_classes}")
    size = tuple(args.imgsz) if args.imgsz else spec.input_size
    metrics = evaluate_predictor(predict, dataset, spec, size, args.batch, progress=sys.stderr.isatty())
    report = {"model": str(path), "data": str(args.data), "split": dataset.split, "images": len(dataset),
              "input_size": list(size), "class_names": spec.class_names, **metrics}
    if args.json == "-":
        options.write_json("-", json_safe(report))
        return 0
    if args.json:  # the file first: a reader closing stdout early (`| head`) must not cost it
        options.write_json(args.json, json_safe(report))
    print(f"{path} on {args.data} ({dataset.split}, {len(dataset)} images, input {size[0]}x{size[1]}): "
          f"{summary(metrics)}")
    print(format_table(metrics, spec.class_names))
    return 0
