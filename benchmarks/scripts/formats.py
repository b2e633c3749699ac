"""README table: PyTorch eager vs ONNX Runtime FP32 vs INT8 (CPU and TensorRT flavours), per preset and size.

Every (preset, size) is one `segnet bench` run on a randomly initialised checkpoint (latency does not
depend on the weights), its formats timed side by side in alternating order, so the ratios hold on a busy
machine. INT8 is calibrated on synthetic road scenes (accuracy is not measured here: use `segnet bench
CKPT --data ...` with a trained model for that).

    python -m segnet.benchmarks.scripts.formats --presets segnet_lite:0.25 segnet_basic:0.25 --sizes 96x128 180x240
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path
from typing import Any

DEFAULT_PRESETS = ("segnet_lite:0.25", "segnet_basic:0.25", "segnet_vgg16:0.125")
DEFAULT_SIZES = ("96x128", "180x240")
DEFAULT_FORMATS = "pytorch,onnx,onnx-int8,onnx-int8-trt"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m segnet.benchmarks.scripts.formats", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--presets", nargs="+", default=list(DEFAULT_PRESETS), help="NAME:WIDTH ...")
    parser.add_argument("--sizes", nargs="+", default=list(DEFAULT_SIZES), help="HxW ...")
    parser.add_argument("--formats", default=DEFAULT_FORMATS, help="(default: %(default)s)")
    parser.add_argument("--threads", type=int, default=1,
                        help="CPU threads for both runtimes (default: 1; on a shared machine a 2-thread OpenMP "
                             "PyTorch stalls at every barrier, see the README)")
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--iterations", type=int, default=30)
    parser.add_argument("--min-time", type=float, default=2.0, help="seconds per format and size (default: 2)")
    parser.add_argument("--calib-images", type=int, default=16)
    parser.add_argument("--out", default="runs/bench_formats", help="(default: %(default)s)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    from segnet.benchmarks.scripts.common import publish

    args = build_parser().parse_args(argv)
    rows, _ = bench_presets(args)
    publish("formats", [markdown(rows)], rows, args.out, argv)
    return 0


def bench_presets(args: argparse.Namespace, peak_time: float = 0.0) -> tuple[list[dict[str, Any]], Any]:
    """One `segnet bench` run per (preset, size) from the parsed arguments; the rows of all of them, and
    the GEMM peak measured in the first run when `peak_time` > 0."""
    from segnet.benchmarks.harness import TimingSettings
    from segnet.benchmarks.scripts.checkpoints import exported_random_model, random_checkpoint
    from segnet.benchmarks.scripts.common import parse_preset
    from segnet.benchmarks.suite import BenchRequest, parse_formats, run_bench
    from segnet.errors import SegnetError
    from segnet.runtime.sources import parse_size

    out = Path(args.out)
    calib = calibration_set(out / "calib", max(parse_size(s) for s in args.sizes))
    rows: list[dict[str, Any]] = []
    peak = None
    for preset in args.presets:
        arch, width = parse_preset(preset)
        for size_text in args.sizes:
            size = parse_size(size_text)
            try:
                checkpoint, exports = exported_random_model(out / "checkpoints", arch, width, size)
                model: Path = exports["onnx"]
            except SegnetError as exc:  # the bench run then shows the export failure in its rows
                print(f"formats: {exc}")
                model = checkpoint = random_checkpoint(out / "checkpoints", arch, width, size)
            request = BenchRequest(model=model, checkpoint=checkpoint, formats=parse_formats(args.formats),
                                   out_dir=out / checkpoint.stem, imgsz=size, threads=args.threads,
                                   calib=calib, calib_images=args.calib_images,
                                   peak_time=peak_time if peak is None else 0,
                                   timing=TimingSettings(args.warmup, args.iterations, args.min_time))
            outcome = run_bench(request)
            peak = peak or outcome["meta"]["gemm_peak"]
            rows += table_rows(f"{arch} x{width:g}", size, outcome,
                               peak["best_gflops"] if peak else None)
    return rows, peak


def calibration_set(root: Path, size: tuple[int, int]) -> Path:
    """A small synthetic road-scene dataset for INT8 calibration (made once, reused)."""
    from segnet.data import synthetic

    if not (root / "classes.json").is_file():
        synthetic.generate_dataset(root, 16, 16, 0, size=size, seed=7, overwrite=True)
    return root


def table_rows(preset: str, size: tuple[int, int], outcome: dict[str, Any],
               peak_gflops: float | None = None) -> list[dict[str, Any]]:
    """One row per format of one bench run, with the arithmetic of the network at this size."""
    from segnet.benchmarks import report

    flops = outcome["meta"]["flops"]
    rows = []
    for row in report.rows(outcome["run"], peak_gflops):
        rows.append({"preset": preset, "size": f"{size[0]}x{size[1]}",
                     "gflops": flops["gflops"] if flops else None, **row})
    return rows


def markdown(rows: list[dict[str, Any]]) -> str:
    lines = ["| preset | input | GFLOPs | format | p50 ms | p90 ms | FPS | vs PyTorch | size MB | status |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(" | ".join(["", r["preset"], r["size"], _num(r["gflops"], 2), r["format"], _num(r["p50_ms"], 2),
                                 _num(r["p90_ms"], 2), _num(r["fps"], 1), _num(r["speedup_vs_pytorch"], 2, "x"),
                                 _num(r["size_mb"], 2), r["status"] if r["status"] != "ok" else "ok", ""]).strip())
    return "\n".join(lines)


def _num(value: Any, digits: int, suffix: str = "") -> str:
    return "-" if value is None else f"{value:.{digits}f}{suffix}"


if __name__ == "__main__":
    raise SystemExit(main())
