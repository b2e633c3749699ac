"""`segnet train`: train a SegNet on a segmentation dataset, with exact resume and torchrun DDP."""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path

from segnet.cli import options

NAME = "train"
HELP = "train a SegNet on a dataset (folder, CamVid, VOC or synthetic); resumable, torchrun-ready"
DESCRIPTION = """\
Train a SegNet preset with weighted cross-entropy (BCE for binary masks), validate every epoch (global
accuracy, class-average accuracy, mIoU, IoU per class) and write OUT/best.pt, OUT/last.pt, metrics.jsonl,
metrics.csv, curves.png and predictions.png. Ctrl+C keeps last.pt; --resume continues exactly.

examples:
  segnet train --recipe camvid-cpu --data /data/camvid --out runs/camvid   # `make train-camvid`
  segnet train --data /data/camvid --model segnet_lite --width 0.5 --imgsz 180 240 --epochs 40 --out runs/camvid
  segnet train --data synthetic --imgsz 96 128 --epochs 10 --out runs/synth
  segnet train --resume runs/camvid/last.pt --epochs 60          # continue, optionally for longer
  torchrun --nproc_per_node 2 -m segnet train --data /data/camvid --device cuda --out runs/ddp
"""

FORMATS = ("auto", "folder", "camvid", "voc", "synthetic")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from segnet.cli.mask_args import add_mask_arguments
    from segnet.train.config import OPTIMIZERS, SCHEDULES
    from segnet.train.recipes import RECIPES

    d = _defaults()
    parser.add_argument("--recipe", choices=sorted(RECIPES),
                        help="start from a named recipe's options (docs/training.md); flags given here win")
    data = parser.add_argument_group("data")
    data.add_argument("--data", help="dataset root, or 'synthetic' to generate road scenes into OUT/synthetic")
    options.add_data_format(data, FORMATS, default=None, dest="format")  # 'synthetic' generates it at --data
    options.deprecated(data, "--format", "--data-format", dest="format", choices=FORMATS)
    options.add_imgsz(data, f"training and export input size (default: {d.imgsz[0]} {d.imgsz[1]})")
    data.add_argument("--val-groups", metavar="G[,G]",
                      help="validate on these whole groups (sequences) of train+val, train on the other groups "
                      "(CamVid: 0001TP, 0006R0, 0016E5); default: the val split, with a warning when it "
                      "shares groups with train")
    options.add_group_by(data)
    data.add_argument("--class-weights", help="median (median-frequency balancing from the training masks), "
                      f"none, or w0,w1,... one per class (default: {d.class_weights})")
    data.add_argument("--ignore-index", type=int, help="label value left out of loss and metrics "
                      "(default: the dataset's, e.g. 255 with CamVid's void mapped to it)")
    data.add_argument("--in-channels", type=int, choices=(1, 3), help="1 trains on grayscale (default: the dataset's)")
    data.add_argument("--no-augment", dest="augment", action="store_const", const=False,
                      help="no random scale/crop/flip/colour jitter (just resize)")
    data.add_argument("--aug-scale", type=float, nargs=2, metavar=("LOW", "HIGH"),
                      help=f"random scale range (default: {d.aug_scale[0]:g} {d.aug_scale[1]:g})")
    data.add_argument("--aug-jitter", type=float, help=f"colour jitter +- (default: {d.aug_jitter:g})")
    data.add_argument("--aug-blur", type=float, metavar="P",
                      help=f"probability of a Gaussian blur, sigma 0.3-1.5 px (default: {d.aug_blur:g})")
    data.add_argument("--workers", type=int, help=f"data loading processes (default: {d.workers})")
    data.add_argument("--synthetic-count", type=int,
                      help=f"training images to generate for synthetic data (default: {d.synthetic_count})")
    add_mask_arguments(data)
    model = parser.add_argument_group("model")
    model.add_argument("--model", help=f"preset: segnet_vgg16, segnet_basic, segnet_lite (default: {d.model})")
    model.add_argument("--width", type=float, help=f"channel width multiplier (default: {d.width})")
    model.add_argument("--input-bn", action="store_const", const=True, help="BatchNorm on the input")
    model.add_argument("--vgg16-weights", metavar="PATH", help="initialise the encoder from torchvision VGG16 "
                       "(or VGG16-BN) ImageNet weights (segnet_vgg16)")
    optim = parser.add_argument_group("optimisation")
    optim.add_argument("--epochs", type=int, help=f"epochs to train (default: {d.epochs})")
    optim.add_argument("--batch", type=int, help=f"images per batch and process (default: {d.batch})")
    optim.add_argument("--optimizer", choices=OPTIMIZERS, help=f"(default: {d.optimizer})")
    optim.add_argument("--lr", type=float, help="initial learning rate (default: 0.003 for adamw, 0.01 for sgd)")
    optim.add_argument("--momentum", type=float, help=f"SGD momentum / AdamW beta1 (default: {d.momentum})")
    optim.add_argument("--weight-decay", type=float, help=f"(default: {d.weight_decay})")
    optim.add_argument("--schedule", choices=SCHEDULES, help=f"learning-rate schedule per iteration "
                       f"(default: {d.schedule})")
    optim.add_argument("--label-smoothing", type=float, help=f"cross-entropy label smoothing (default: {d.label_smoothing:g})")
    optim.add_argument("--ema", type=float, metavar="DECAY",
                       help="validate and save an exponential moving average of the weights, updated every step "
                       "with this decay (e.g. 0.995; default: off)")
    optim.add_argument("--seed", type=int, help=f"seed for weights, data order and augmentation (default: {d.seed})")
    run = parser.add_argument_group("run")
    run.add_argument("--out", help=f"output folder (default: {d.out})")
    run.add_argument("--resume", nargs="?", const="auto", metavar="CKPT",
                     help="continue a run from CKPT (a last.pt), or 'auto' / no value for OUT/last.pt; options "
                     "come from the checkpoint, only --epochs, --workers, --device and --out may change")
    options.add_device(run, ("auto", "cpu", "cuda"), None, allow_index=True, shown_default=d.device)
    run.add_argument("--amp", action="store_const", const=True, help="mixed precision (CUDA only; ignored on CPU)")
    run.add_argument("--exist-ok", action="store_true", help="start a new run even if OUT holds one (overwrites it)")


def _defaults():  # type: ignore[no-untyped-def]
    from segnet.train.config import TrainConfig

    return TrainConfig(data="")


def _given(args: argparse.Namespace) -> dict:
    """The TrainConfig options set on the command line (argparse defaults are all None)."""
    from segnet.train.config import TrainConfig

    names = {f.name for f in dataclasses.fields(TrainConfig)}
    given = {k: v for k, v in vars(args).items() if k in names and v is not None}
    if "imgsz" in given:
        given["imgsz"] = tuple(given["imgsz"])
    return given


def run(args: argparse.Namespace) -> int:
    from segnet.errors import SegnetError
    from segnet.train.checkpoint import load_checkpoint
    from segnet.train.config import TrainConfig
    from segnet.train.recipes import recipe
    from segnet.train.trainer import resume_source, train

    given = _given(args)
    checkpoint = None
    if args.resume:
        if args.recipe:
            raise SegnetError("--recipe starts a run; --resume continues one with its own saved options")
        path = resume_source(args.resume, given.get("out", _defaults().out))
        checkpoint = load_checkpoint(path)
        if not checkpoint.get("config") or checkpoint.get("optimizer") is None:
            raise SegnetError(f"{path}: holds no training state (best.pt keeps only weights); resume from last.pt")
        saved = TrainConfig.from_dict(checkpoint["config"])
        given.setdefault("out", str(path.parent))
        config, notes = saved.with_overrides(given)
        for note in notes:
            print(f"resume: {note}")
    else:
        if not given.get("data"):
            raise SegnetError("--data is required (a dataset folder, or 'synthetic'); or --resume a run")
        config = TrainConfig(**{**(recipe(args.recipe) if args.recipe else {}), **given})
        if (Path(config.out) / "last.pt").exists() and not args.exist_ok:
            raise SegnetError(f"{config.out} already holds a training run (last.pt): continue it with --resume, "
                              "pick another --out, or pass --exist-ok to overwrite it")
    train(config, resume=checkpoint)
    return 0
