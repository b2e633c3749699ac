"""The mask conversion flags shared by train, evaluate, export --calib and bench --data (docs/masks.md)."""

from __future__ import annotations

import argparse

from segnet.data.mask_options import EMPTY_CHOICES, OVERLAP_CHOICES, MaskOptions


def add_mask_arguments(parser: argparse.ArgumentParser | argparse._ArgumentGroup) -> None:
    """--mask-tolerance, --mask-overlap, --mask-empty, --mask-cache (defaults None: MaskOptions' own)."""
    parser.add_argument("--mask-tolerance", type=int, metavar="N",
                        help="colour masks: map a colour within N per channel of a palette colour to its class "
                             "(for JPEG-damaged masks; also accepts .jpg masks; default 0: exact colours only)")
    parser.add_argument("--mask-overlap", choices=OVERLAP_CHOICES,
                        help="one-hot masks: a pixel in several classes becomes the ignore index (ignore, the "
                             "default), the lowest class (first), or an error")
    parser.add_argument("--mask-empty", choices=EMPTY_CHOICES,
                        help="one-hot masks: a pixel in no class becomes the ignore index (default) or an error")
    parser.add_argument("--mask-cache", metavar="DIR",
                        help="where converted class maps of colour/one-hot masks are kept, or 'off' (default: "
                             "$SEGNET_CACHE/masks or ~/.cache/segnet/masks; never inside the dataset)")


def mask_options(args: argparse.Namespace) -> MaskOptions:
    """MaskOptions from the parsed flags (unset ones keep their defaults)."""
    given = {name: getattr(args, f"mask_{name}", None) for name in ("tolerance", "overlap", "empty", "cache")}
    return MaskOptions(**{k: v for k, v in given.items() if v is not None})
