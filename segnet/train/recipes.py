"""Named training recipes: TrainConfig options that `segnet train --recipe NAME` starts from (options given on
the command line win). docs/training.md has how each was chosen and what it scores."""

from __future__ import annotations

from typing import Any

from segnet.errors import SegnetError

RECIPES: dict[str, dict[str, Any]] = {
    # CamVid on a 2-core CPU in under an hour (`make train-camvid`): recipe_search's epochs60 and then its ema995,
    # each ahead on every held-out fold
    "camvid-cpu": {
        "format": "camvid", "model": "segnet_lite", "width": 0.5, "imgsz": (120, 160), "epochs": 60, "batch": 8,
        "optimizer": "adamw", "lr": 0.003, "class_weights": "median", "ema": 0.995, "workers": 1, "seed": 0,
    },
}


def recipe(name: str) -> dict[str, Any]:
    """The options of recipe `name` (a copy), or an error listing the recipes."""
    if name not in RECIPES:
        raise SegnetError(f"--recipe {name!r}: no such recipe; choose {', '.join(sorted(RECIPES))}")
    return dict(RECIPES[name])


def as_arguments(options: dict[str, Any]) -> list[str]:
    """`segnet train` flags spelling `options` (for commands printed in reports and docs)."""
    flags = {"format": "--data-format"}
    args: list[str] = []
    for key, value in options.items():
        args.append(flags.get(key, "--" + key.replace("_", "-")))
        args.extend(str(v) for v in value) if isinstance(value, (tuple, list)) else args.append(str(value))
    return args
