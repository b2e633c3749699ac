"""docs/masks.md's numbers: milliseconds to turn one mask into class indices, for CamVid's index PNGs and for
the same annotations as colour PNGs (converted through the palette each time, then from the class-map cache).

The colour PNGs are written to a temporary folder (CamVid's palette, void black) and removed afterwards; the
dataset itself is only read. Each pass reads every mask once, as an epoch does.

    python -m segnet.benchmarks.scripts.mask_decode --data ../shared/data/camvid --images 40
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

from segnet.benchmarks.scripts.common import publish
from segnet.data import camvid, open_dataset
from segnet.data.mask_options import MaskOptions


def colour_copy(source: Path, target: Path, split: str, count: int) -> Path:
    """`target` in the folder layout with `count` CamVid images of `split` and their masks as colours."""
    reference = open_dataset(source, split, "camvid")
    table = np.zeros((256, 3), np.uint8)
    table[:len(camvid.PALETTE)] = camvid.PALETTE  # 255 (void) stays black
    (target / split / "images").mkdir(parents=True)
    (target / split / "masks").mkdir(parents=True)
    for i in range(min(count, len(reference))):
        image = reference.image_paths[i]
        shutil.copyfile(image, target / split / "images" / image.name)
        rgb = table[reference.load_mask(i)]
        cv2.imwrite(str(target / split / "masks" / image.name), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    (target / "classes.json").write_text(json.dumps({
        "names": camvid.CLASS_NAMES, "palette": [list(c) for c in camvid.PALETTE], "ignore_colors": [[0, 0, 0]],
        "mask_format": "color"}), encoding="utf-8")
    return target


def ms_per_mask(dataset) -> float:  # type: ignore[no-untyped-def]
    start = time.perf_counter()
    for i in range(len(dataset)):
        dataset.load_mask(i)
    return 1000 * (time.perf_counter() - start) / len(dataset)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path("../shared/data/camvid"), help="CamVid root")
    parser.add_argument("--split", default="val")
    parser.add_argument("--images", type=int, default=40)
    parser.add_argument("--out", type=Path, default=None, help="also write mask_decode.md/.json here")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="segnet-mask-decode-") as tmp:
        root = colour_copy(args.data, Path(tmp) / "colour", args.split, args.images)
        cache = str(Path(tmp) / "cache")
        index = open_dataset(args.data, args.split, "camvid")
        index.mask_paths, index.image_paths = index.mask_paths[:args.images], index.image_paths[:args.images]
        rows = {"index PNG (CamVid loader)": ms_per_mask(index),
                "colour PNG, no cache": ms_per_mask(open_dataset(root, args.split, masks=MaskOptions(cache="off"))),
                "colour PNG, first epoch (convert + store)": ms_per_mask(
                    open_dataset(root, args.split, masks=MaskOptions(cache=cache))),
                "colour PNG, later epochs (cache hit)": ms_per_mask(
                    open_dataset(root, args.split, masks=MaskOptions(cache=cache)))}
    table = "\n".join([f"| masks ({args.images} CamVid {args.split}, 480x360) | ms per mask |", "|---|---|",
                       *(f"| {name} | {ms:.2f} |" for name, ms in rows.items())])
    publish("mask_decode", [table], rows, args.out, argv)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
