"""`segnet synth`: write a synthetic road-scene dataset (exact labels) in the folder layout."""

from __future__ import annotations

import argparse

from segnet.cli import options

NAME = "synth"
HELP = "generate a synthetic road-scene dataset (8 classes, exact labels) to train and test without data"
DESCRIPTION = """\
Render procedural street scenes (sky, building, road, sidewalk, lane_marking, vegetation, car, person) with
random layout, colours, light, shadows and texture, and write them in the folder layout
OUT/{train,val,test}/{images,masks}/NNNNN.png plus OUT/classes.json, which `segnet train --data OUT` reads.
Deterministic: the same seed and size give the same images; image i of a split depends only on
(seed, split, i). The dataset is built in a temporary folder and renamed into place when complete.

examples:
  segnet synth data/synth
  segnet synth data/synth-small --train 200 --val 50 --test 0 --imgsz 120 160
  segnet synth data/synth --seed 7 --force          # replace an existing dataset
"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("out", metavar="OUT", help="dataset folder to create")
    parser.add_argument("--train", type=int, default=400, metavar="N", help="training images (default: 400)")
    parser.add_argument("--val", type=int, default=100, metavar="N", help="validation images (default: 100)")
    parser.add_argument("--test", type=int, default=100, metavar="N", help="test images (default: 100)")
    options.add_imgsz(parser, "image height and width (default: 240 320)", default=(240, 320))
    options.deprecated(parser, "--size", "--imgsz", dest="imgsz", type=int, nargs=2)
    parser.add_argument("--seed", type=int, default=0, help="random seed (default: 0)")
    parser.add_argument("--force", action="store_true", help="replace OUT if it exists and is not empty")


def run(args: argparse.Namespace) -> int:
    import time

    from segnet.data.synthetic import CLASS_NAMES, generate_dataset

    start = time.perf_counter()
    counts = generate_dataset(args.out, args.train, args.val, args.test, size=tuple(args.imgsz), seed=args.seed,
                              overwrite=args.force)
    seconds = time.perf_counter() - start
    height, width = args.imgsz
    splits = ", ".join(f"{split} {n}" for split, n in counts.items())
    print(f"wrote {sum(counts.values())} images ({splits}) of {width}x{height} to {args.out} "
          f"in {seconds:.1f} s (seed {args.seed})")
    print(f"classes ({len(CLASS_NAMES)}): {', '.join(CLASS_NAMES)}  -> {args.out}/classes.json")
    return 0
