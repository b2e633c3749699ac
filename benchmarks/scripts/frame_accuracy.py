"""README table: the accuracy effect of putting the frame path in the graph (`segnet export --frame-size`).

Every image of the dataset's val split is a camera frame at its own size (CamVid: 360x480), scored against
its labels at that size (the ignore index, CamVid's void, left out). Six variants of one checkpoint see
the same frames in one run:

- host + nearest / host + linear: what the runtime does with a plain export - OpenCV resize of the uint8
  frame to the network (INTER_AREA when shrinking both sides, else INTER_LINEAR), normalisation, the plain
  ONNX (logits), then argmax and INTER_NEAREST of the class map to the frame, or bilinear logits to the
  frame and then argmax;
- graph linear|area + nearest|linear: the frame-path export (uint8 BGR frame in, "labels" out at the frame
  size), resizing to the network inside the graph with ONNX Resize (bilinear, no antialiasing) or exact
  float INTER_AREA (MatMuls), and upsampling the class map (nearest) or the logits (linear) in the graph.

Per variant: mIoU, global accuracy, the mIoU change and the pixel agreement of the class maps vs the host
path with the same upsampling, and ONNX Runtime ms per frame (median; CPU provider, variants alternating
frame by frame). The host path's per-pixel work runs outside ONNX Runtime and is timed separately.

    python -m segnet.benchmarks.scripts.frame_accuracy --ckpt runs/camvid12/best.pt --data ../shared/data/camvid --threads 1
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Dict, Tuple

import numpy as np

from segnet.errors import SegnetError
from segnet.metrics import ConfusionMatrix
from segnet.spec import ModelSpec

UPSAMPLES = ("nearest", "linear")
RESIZES = ("linear", "area")
HOST = "host"
Key = Tuple[str, str]  # (resize: "host" | "linear" | "area", upsample)
Runner = Callable[[Any], Dict[str, np.ndarray]]
UPSAMPLE_TEXT = {"nearest": "argmax, INTER_NEAREST labels", "linear": "bilinear logits, argmax"}


@dataclass
class Tally:
    """One variant's running counts: confusion matrix, agreement with its host path, per-frame ms."""

    matrix: ConfusionMatrix
    agree: int = 0
    pixels: int = 0
    agree_same: int = 0  # graph rows: against the host path with the graph's own resize, in float
    ort_ms: list[float] = field(default_factory=list)
    host_ms: list[float] = field(default_factory=list)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m segnet.benchmarks.scripts.frame_accuracy", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--ckpt", type=Path, required=True, help="trained checkpoint (.pt)")
    parser.add_argument("--data", type=Path, required=True, help="dataset root (any layout segnet opens)")
    parser.add_argument("--split", default="val", help="dataset split (default: %(default)s)")
    parser.add_argument("--images", type=int, default=None, help="evenly spread images of the split (default all)")
    parser.add_argument("--threads", type=int, default=1, help="ONNX Runtime intra-op threads (default 1)")
    parser.add_argument("--out", type=Path, default=None,
                        help="keep the exports and write frame_accuracy.md/.json here (default: temporary folder)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Export the variants, score and time them on the split, print the Markdown table; returns 0."""
    from segnet.benchmarks.scripts.common import publish
    from segnet.data import open_dataset

    args = build_parser().parse_args(argv)
    dataset = open_dataset(args.data, args.split)
    size = frame_size(dataset)
    with tempfile.TemporaryDirectory(prefix="segnet-frame-accuracy-") as tmp:
        folder = Path(args.out) if args.out is not None else Path(tmp)
        spec, models = export_variants(args.ckpt, folder, size)
        check_classes(spec, dataset)
        result = measure(dataset, spec, models, size, picks(len(dataset), args.images), args.threads)
    result.update({"checkpoint": str(args.ckpt), "data": str(args.data), "split": args.split,
                   "arch": spec.arch, "arch_args": spec.arch_args, "network_size": list(spec.input_size),
                   "frame_size": list(size), "threads": args.threads})
    publish("frame_accuracy", [markdown(result)], result, args.out, argv)
    return 0


def frame_size(dataset: Any) -> tuple[int, int]:
    """The (height, width) of the dataset's first image: the frame size every export is made for."""
    if len(dataset) == 0:
        raise SegnetError("the dataset split has no images")
    height, width = dataset[0][0].shape[:2]
    return int(height), int(width)


def check_classes(spec: ModelSpec, dataset: Any) -> None:
    """SegnetError when the checkpoint's classes are not the dataset's."""
    if spec.num_classes != dataset.num_classes:
        raise SegnetError(f"the checkpoint has {spec.num_classes} classes, the dataset {dataset.num_classes}")


def picks(count: int, wanted: int | None) -> list[int]:
    """`wanted` indices evenly spread over `count` items (all of them when None or more)."""
    if wanted is None or wanted >= count:
        return list(range(count))
    if wanted < 1:
        raise SegnetError(f"--images must be at least 1, got {wanted}")
    return [int(i) for i in np.linspace(0, count - 1, num=wanted).round()]


def export_variants(checkpoint: Path, folder: Path, size: tuple[int, int]) -> tuple[ModelSpec, dict[Key, Path]]:
    """The plain export (key ("host", "-")) and the four frame-path exports at `size`, each verified by
    segnet's export itself; returns the spec and the ONNX paths."""
    from segnet.export.onnx_export import export_model
    from segnet.spec import FramePath, read_sidecar
    from segnet.train.checkpoint import load_model

    model, spec = load_model(checkpoint, pool_mode="indices")
    folder.mkdir(parents=True, exist_ok=True)
    _log(f"exporting {checkpoint} (plain) ...")
    models = {(HOST, "-"): export_model(model, spec, folder / "plain.onnx", check_rewrite=False,
                                        source=str(checkpoint))}
    for resize in RESIZES:
        for upsample in UPSAMPLES:
            _log(f"exporting {checkpoint} (frame {size[0]}x{size[1]}, resize {resize}, upsample {upsample}) ...")
            frame = FramePath(size=size, resize=resize, upsample=upsample, outputs=["labels"])
            models[(resize, upsample)] = export_model(
                model, spec, folder / f"frame_{resize}_{upsample}.onnx", check_rewrite=False, frame=frame,
                source=str(checkpoint))
    return read_sidecar(models[(HOST, "-")])[0], models  # type: ignore[return-value]


def _log(text: str) -> None:
    print(f"frame_accuracy: {text}", file=sys.stderr, flush=True)


def _ms(start: float) -> float:
    return 1000.0 * (time.perf_counter() - start)


def host_path(image_rgb: np.ndarray, spec: ModelSpec, network: Runner,
              size: tuple[int, int]) -> tuple[dict[str, np.ndarray], float, float, dict[str, float]]:
    """The runtime's host path on one dataset image: class maps per upsample mode, the network's ORT ms,
    the resize + normalise ms and the argmax + upsample ms per mode."""
    from segnet.export import frame_verify, inputs

    start = time.perf_counter()
    batch = inputs.normalize(inputs.to_model_image(image_rgb, spec.input_size, spec.in_channels)[None], spec)
    pre_ms = _ms(start)
    start = time.perf_counter()
    logits = network(batch)["logits"][0]
    ort_ms = _ms(start)
    labels, post_ms = {}, {}
    for upsample in UPSAMPLES:
        start = time.perf_counter()
        labels[upsample] = frame_verify.frame_labels(logits, size, upsample, spec.num_classes)
        post_ms[upsample] = _ms(start)
    return labels, ort_ms, pre_ms, post_ms


def graph_path(frame_bgr: np.ndarray, graph: Runner) -> tuple[np.ndarray, float]:
    """A frame-path export on one uint8 BGR frame: its class map at the frame size and its ORT ms."""
    start = time.perf_counter()
    labels = graph({"frame": frame_bgr[None]})["labels"][0]
    return labels, _ms(start)


def measure(dataset: Any, spec: ModelSpec, models: dict[Key, Path], size: tuple[int, int], indices: list[int],
            threads: int) -> dict[str, Any]:
    """Score and time every variant on the `indices` images, alternating variants frame by frame (the
    order rotated each frame); returns the table rows and the host path's work in ms."""
    import cv2

    from segnet.export import verify

    runners = {key: verify.ort_runner(str(path), threads) for key, path in models.items()}
    keys = [(HOST, u) for u in UPSAMPLES] + [(r, u) for r in RESIZES for u in UPSAMPLES]
    tallies = {key: Tally(ConfusionMatrix(spec.num_labels, spec.ignore_index)) for key in keys}
    pre: list[float] = []
    post: dict[str, list[float]] = {u: [] for u in UPSAMPLES}
    units = list(runners)  # the plain network: one run per frame serves both host rows
    for n, index in enumerate(indices):
        image, mask = dataset[index]
        if image.shape[:2] != size:
            raise SegnetError(f"{dataset.image_paths[index]}: image is {image.shape[1]}x{image.shape[0]}, the "
                              f"exports take frames of {size[1]}x{size[0]} (the first image's size)")
        frame = cv2.cvtColor(image, cv2.COLOR_RGB2BGR)
        got: dict[Key, np.ndarray] = {}
        if n == 0:
            warm_up(image, frame, spec, runners, size)
        for unit in units[n % len(units):] + units[:n % len(units)]:
            if unit[0] == HOST:
                labels, ort_ms, pre_ms, post_ms = host_path(image, spec, runners[unit], size)
                pre.append(pre_ms)
                for upsample in UPSAMPLES:
                    got[(HOST, upsample)] = labels[upsample]
                    post[upsample].append(post_ms[upsample])
                    tallies[(HOST, upsample)].ort_ms.append(ort_ms)
                    tallies[(HOST, upsample)].host_ms.append(pre_ms + post_ms[upsample])
            else:
                got[unit], ort_ms = graph_path(frame, runners[unit])
                tallies[unit].ort_ms.append(ort_ms)
                tallies[unit].host_ms.append(0.0)
        same = same_resize_host(frame, spec, runners[(HOST, "-")], size)
        for key in keys:
            tally_frame(tallies[key], got[key], got[(HOST, key[1])], mask)
            if key[0] != HOST:
                tallies[key].agree_same += int((got[key] == same[key]).sum())
    return {"images": len(indices), "rows": rows(tallies),
            "host_work_ms": {"resize_normalise": _median(pre),
                             **{f"argmax_upsample_{u}": _median(post[u]) for u in UPSAMPLES}}}


def same_resize_host(frame_bgr: np.ndarray, spec: ModelSpec, network: Runner,
                     size: tuple[int, int]) -> dict[Key, np.ndarray]:
    """The host path with each graph variant's own resize done in float (export/frame_verify.py), per
    (resize, upsample): what "identical where both use the same resize" is checked against."""
    from segnet.export import frame_verify
    from segnet.spec import FramePath

    out = {}
    for resize in RESIZES:
        batch = frame_verify.network_input(frame_bgr, spec, FramePath(size=size, resize=resize))[None]
        logits = network(batch)["logits"][0]
        for upsample in UPSAMPLES:
            out[(resize, upsample)] = frame_verify.frame_labels(logits, size, upsample, spec.num_classes)
    return out


def warm_up(image_rgb: np.ndarray, frame_bgr: np.ndarray, spec: ModelSpec, runners: dict[Key, Runner],
            size: tuple[int, int]) -> None:
    """One untimed run of every session (and the host path) on the first frame."""
    for key, runner in runners.items():
        if key[0] == HOST:
            host_path(image_rgb, spec, runner, size)
        else:
            graph_path(frame_bgr, runner)


def tally_frame(tally: Tally, labels: np.ndarray, host: np.ndarray, mask: np.ndarray) -> None:
    """Count one frame's class map against its labels and against the host path's class map."""
    tally.matrix.update(labels, mask)
    tally.agree += int((labels == host).sum())
    tally.pixels += labels.size


def _median(values: Sequence[float]) -> float:
    return float(np.median(values)) if len(values) else float("nan")


def rows(tallies: dict[Key, Tally]) -> list[dict[str, Any]]:
    """One row per variant: metrics, change vs the host path with the same upsampling, medians in ms."""
    metrics = {key: t.matrix.compute() for key, t in tallies.items()}
    out = []
    for key, tally in tallies.items():
        resize, upsample = key
        miou, base = float(metrics[key]["miou"]), float(metrics[(HOST, upsample)]["miou"])  # type: ignore[arg-type]
        totals = [o + h for o, h in zip(tally.ort_ms, tally.host_ms)]
        out.append({"variant": f"{resize} + {upsample}" if resize == HOST else f"graph {resize} + {upsample}",
                    "resize": resize, "upsample": upsample, "miou": miou,
                    "global_acc": float(metrics[key]["global_acc"]),  # type: ignore[arg-type]
                    "miou_delta_points": 100 * (miou - base), "agreement": tally.agree / max(tally.pixels, 1),
                    "agreement_same_resize": None if resize == HOST else tally.agree_same / max(tally.pixels, 1),
                    "ort_ms": _median(tally.ort_ms), "host_ms": _median(tally.host_ms),
                    "total_ms": _median(totals)})
    return out


def resize_text(resize: str, network: Sequence[int], frame: Sequence[int]) -> str:
    """How a variant brings the frame to the network size, in words."""
    if resize == HOST:
        shrink = frame[0] >= network[0] and frame[1] >= network[1]
        return f"host: OpenCV {'INTER_AREA' if shrink else 'INTER_LINEAR'} on uint8"
    return "graph: ONNX Resize bilinear (no antialias)" if resize == "linear" else "graph: float INTER_AREA (MatMul)"


def markdown(result: dict[str, Any]) -> str:
    """The README table, with what it measured above and how to read the timings below."""
    net, frame = result["network_size"], result["frame_size"]
    head = (f"Frame path in the graph vs on the host: {result['arch']} {result['arch_args']} at {net[0]}x{net[1]}, "
            f"checkpoint {result['checkpoint']}; {result['images']} {result['split']} frames of "
            f"{frame[0]}x{frame[1]} from {result['data']}, scored at the frame size (ignore index left out).")
    lines = [head, "", ("| variant | resize to network | to frame size | mIoU % | global acc % | mIoU vs host "
                        "(points) | agreement with host % | agreement with host, same resize in float % | ORT ms/frame | "
                        "host per-pixel ms/frame | total ms/frame |"),
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in result["rows"]:
        where = "host" if r["resize"] == HOST else "graph"
        host = r["resize"] == HOST
        lines.append(f"| {r['variant']} | {resize_text(r['resize'], net, frame)} | {where}: "
                     f"{UPSAMPLE_TEXT[r['upsample']]} | {100 * r['miou']:.2f} | {100 * r['global_acc']:.2f} | "
                     f"{'-' if host else format(r['miou_delta_points'], '+.2f')} | "
                     f"{'-' if host else format(100 * r['agreement'], '.3f')} | "
                     f"{'-' if host else format(100 * r['agreement_same_resize'], '.3f')} | {r['ort_ms']:.2f} | "
                     f"{format(r['host_ms'], '.2f') if host else '0 (in graph)'} | {r['total_ms']:.2f} |")
    work = result["host_work_ms"]
    lines.append(
        f"\nTimes are medians per frame, ONNX Runtime CPU provider, {result['threads']} intra-op thread(s), the "
        "variants alternating frame by frame (order rotated each frame, one untimed warm-up run each). The "
        "graph rows' ORT ms include the in-graph resize, argmax and upsampling: on the CPU these ops cost ONNX "
        "Runtime time. The host rows' ORT ms is the network alone (one run per frame serves both host rows); "
        "their per-pixel work is not in it and is timed separately: resize + normalise "
        f"{work['resize_normalise']:.2f} ms (including the dataset image's RGB to BGR conversion), argmax + "
        f"INTER_NEAREST {work['argmax_upsample_nearest']:.2f} ms, bilinear logits + argmax "
        f"{work['argmax_upsample_linear']:.2f} ms. mIoU vs host and agreement compare each graph row with the "
        "host row of the same upsampling; 'same resize in float' compares it with the host path that resizes "
        "as the graph does (OpenCV in float, export/frame_verify.py), so only the two implementations differ.")
    return "\n".join(lines)


if __name__ == "__main__":
    raise SystemExit(main())
