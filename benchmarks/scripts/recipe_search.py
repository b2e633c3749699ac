"""Training settings compared on whole held-out sequences (needs torch): each setting is the base recipe with a
few options changed, trained with `--val-groups FOLD`, and scored on that unseen sequence after its last epoch.

    python -m segnet.benchmarks.scripts.recipe_search --data ../shared/data/camvid --runs runs/search \
        --settings baseline,aug_strong --folds 0006R0 --out results/

A setting's run folder (RUNS/FOLD/NAME) is reused when it holds a finished run with the same options, resumed
when it holds an unfinished one, and refused when it holds a run of other options (nothing is overwritten).
The last epoch's mIoU is the honest figure: the best epoch is picked by the held-out sequence itself.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from segnet.benchmarks.scripts.common import publish
from segnet.errors import SegnetError

BASE = "camvid-cpu"  # the recipe the search starts from (segnet.train.recipes)
# what every setting was measured at unless it says otherwise (the recipe's own until epochs60, then ema995 won)
SCHEDULE = {"epochs": 30, "ema": 0.0}
# name -> (what it tries, TrainConfig options changed from BASE)
SETTINGS: dict[str, tuple[str, dict[str, Any]]] = {
    "baseline": ("the base recipe", {}),
    "seed1": ("the base recipe, seed 1 (seed-to-seed spread)", {"seed": 1}),
    "aug_strong": ("scale 0.5-2.0, colour jitter 0.4", {"aug_scale": (0.5, 2.0), "aug_jitter": 0.4}),
    "smooth01": ("label smoothing 0.1", {"label_smoothing": 0.1}),
    "sgd": ("SGD, momentum 0.9, lr 0.05, poly (the paper's optimiser)", {"optimizer": "sgd", "lr": 0.05}),
    "hires": ("input 180x240 (2.25x the pixels)", {"imgsz": (180, 240)}),
    "jitter04": ("colour jitter 0.4 only", {"aug_jitter": 0.4}),
    "blur": ("Gaussian blur p 0.3", {"aug_blur": 0.3}),
    "width075": ("width 0.75 (2.3x the parameters)", {"width": 0.75}),
    "no_weights": ("plain cross-entropy, no class weights", {"class_weights": "none"}),
    "epochs60": ("60 epochs (twice the schedule, about half the 60-minute budget)", {"epochs": 60}),
    "jitter04_60": ("colour jitter 0.4 at 60 epochs", {"epochs": 60, "aug_jitter": 0.4}),
    "epochs90": ("90 epochs (three times the schedule, about 40 of the 60-minute budget)", {"epochs": 90}),
    "epochs60_seed1": ("60 epochs, seed 1 (the recipe's seed-to-seed spread)", {"epochs": 60, "seed": 1}),
    "jitter04_60_seed1": ("colour jitter 0.4 at 60 epochs, seed 1", {"epochs": 60, "aug_jitter": 0.4, "seed": 1}),
    "ema995": ("60 epochs, validating a weight average (EMA decay 0.995); the recipe since ema995_seed1 won",
               {"epochs": 60, "ema": 0.995}),
    "ema995_seed1": ("60 epochs, seed 1, validating a weight average (EMA decay 0.995, ~5-10 epochs)",
                     {"epochs": 60, "seed": 1, "ema": 0.995}),
}
SAME_RUN_IGNORES = ("data", "out", "workers", "device", "mask_cache")  # options that do not change the result
THIN = ("Pole", "SignSymbol", "Pedestrian", "Bicyclist")


def setting_options(name: str) -> dict[str, Any]:
    """The TrainConfig options of setting `name`: BASE at SCHEDULE, with the setting's changes."""
    from segnet.train.recipes import recipe

    if name not in SETTINGS:
        raise SegnetError(f"setting {name!r}: choose from {', '.join(SETTINGS)}")
    return {**recipe(BASE), **SCHEDULE, **SETTINGS[name][1]}


def setting_config(name: str, data: str, fold: str, runs: Path) -> Any:
    """The TrainConfig of setting `name` held out on `fold`."""
    from segnet.train.config import TrainConfig

    return TrainConfig(data=data, val_groups=fold, out=str(runs / fold / name), **setting_options(name))


def _comparable(config: dict[str, Any]) -> dict[str, Any]:
    return {k: (list(v) if isinstance(v, tuple) else v) for k, v in config.items() if k not in SAME_RUN_IGNORES}


def run_setting(config: Any) -> tuple[list[dict[str, Any]], list[str]]:
    """Train `config` unless its folder already holds that finished run; (per-epoch history, class names)."""
    import json

    from segnet.train.checkpoint import load_checkpoint
    from segnet.train.config import TrainConfig
    from segnet.train.trainer import train

    last = Path(config.out) / "last.pt"
    resume = None
    if last.exists():
        checkpoint = load_checkpoint(last)
        saved = TrainConfig.from_dict(checkpoint["config"]).to_dict() if checkpoint.get("config") else {}
        if _comparable(saved) != _comparable(config.to_dict()):  # options added since take their defaults
            raise SegnetError(f"{config.out} holds a run of other options: move it away or pick another --runs")
        if checkpoint.get("epoch", 0) < config.epochs:
            resume = checkpoint
        else:
            rows = (Path(config.out) / "metrics.jsonl").read_text().splitlines()
            return [json.loads(row) for row in rows], list(checkpoint["spec"]["class_names"])
    history = train(config, resume=resume).history
    return history, list(load_checkpoint(last)["spec"]["class_names"])


def summarise(name: str, fold: str, config: Any, history: list[dict[str, Any]], names: list[str]) -> dict[str, Any]:
    """One table row: the last epoch's held-out scores, the best epoch, and the time."""
    final, best = history[-1], max(history, key=lambda row: row["miou"])
    row = {"setting": name, "fold": fold, "tries": SETTINGS[name][0], "epochs": len(history),
           "minutes": sum(r["epoch_time_s"] for r in history) / 60, "imgsz": list(config.imgsz),
           "miou": 100 * final["miou"], "global_acc": 100 * final["global_acc"],
           "class_avg_acc": 100 * final["class_avg_acc"], "best_miou": 100 * best["miou"],
           "best_epoch": best["epoch"]}
    row.update({f"iou_{c}": 100 * iou for c, iou in zip(names, final["per_class_iou"])})
    return row


def table(rows: list[dict[str, Any]], data: str) -> str:
    base = {r["fold"]: r["miou"] for r in rows if r["setting"] == "baseline"}
    head = ["setting", "tries", "held out", "input", "mIoU (last epoch)", "vs baseline", "best (epoch)",
            "class-avg acc", *[f"{c} IoU" for c in THIN], "train min"]
    lines = [f"Held-out-sequence mIoU on {data} (val = the whole sequence, trained on the others of train+val)", "",
             "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        delta = f"{r['miou'] - base[r['fold']]:+.2f}" if r["fold"] in base else "-"
        cells = [r["setting"], r["tries"], r["fold"], f"{r['imgsz'][0]}x{r['imgsz'][1]}", f"{r['miou']:.2f}", delta,
                 f"{r['best_miou']:.2f} ({r['best_epoch']})", f"{r['class_avg_acc']:.2f}",
                 *[f"{r.get(f'iou_{c}', float('nan')):.1f}" for c in THIN], f"{r['minutes']:.0f}"]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def rotation(rows: list[dict[str, Any]]) -> str:
    """Each setting's last-epoch mIoU per held-out fold and its mean over the folds it has all of."""
    folds = list(dict.fromkeys(r["fold"] for r in rows))
    miou = {(r["setting"], r["fold"]): r["miou"] for r in rows}
    settings = list(dict.fromkeys(r["setting"] for r in rows))
    mean = {s: sum(miou[s, f] for f in folds) / len(folds) for s in settings if all((s, f) in miou for f in folds)}
    head = ["setting", *[f"{f} held out" for f in folds], "mean", "vs baseline"]
    lines = ["Rotation: mIoU (last epoch) with each sequence held out in turn", "",
             "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for s in settings:
        cells = [f"{miou[s, f]:.2f}" if (s, f) in miou else "-" for f in folds]
        delta = f"{mean[s] - mean['baseline']:+.2f}" if s in mean and "baseline" in mean else "-"
        lines.append("| " + " | ".join([s, *cells, f"{mean[s]:.2f}" if s in mean else "-", delta]) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", required=True, help="CamVid root (train/, trainannot/, val/, valannot/)")
    parser.add_argument("--runs", default="runs/search", help="where each setting's run folder goes")
    parser.add_argument("--settings", default=",".join(SETTINGS), help=f"comma-separated, of: {', '.join(SETTINGS)}")
    parser.add_argument("--folds", default="0006R0", help="sequences to hold out, one run each (e.g. "
                        "0006R0,0001TP,0016E5 to rotate)")
    parser.add_argument("--list", action="store_true", help="print each run's segnet train command and stop")
    parser.add_argument("--out", help="also write recipe_search.md / .json here")
    args = parser.parse_args(argv)
    from segnet.train.recipes import as_arguments

    names = [s.strip() for s in args.settings.split(",") if s.strip()]
    folds = [f.strip() for f in args.folds.split(",") if f.strip()]
    try:
        configs = [(n, f, setting_config(n, args.data, f, Path(args.runs))) for f in folds for n in names]
        if args.list:
            for name, fold, config in configs:
                print(" ".join(["segnet train --data", args.data, "--val-groups", fold,
                                *as_arguments(setting_options(name)),
                                "--out", config.out]))
            return 0
        rows = []
        for name, fold, config in configs:
            history, class_names = run_setting(config)
            rows.append(summarise(name, fold, config, history, class_names))
    except SegnetError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    sections = [table(rows, args.data), *([rotation(rows)] if len(folds) > 1 else [])]
    publish("recipe_search", sections, rows, args.out, argv)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
