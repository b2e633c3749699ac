"""Bench results as a markdown table, JSON, CSV and a PNG chart (all files written atomically).

One row per format: status, file size, mIoU, latency p50/p90/p99/mean, FPS, speed-up over PyTorch,
achieved GFLOP/s and % of the measured GEMM peak, and the h2d/compute/d2h split where the backend
reports it (TensorRT). The chart plots latency against mIoU per format, or latency bars without mIoU.
"""

from __future__ import annotations

import csv
import io
import json
import math
import sys
from pathlib import Path
from typing import Any

from segnet import atomic
from segnet.benchmarks.harness import BenchRun, FormatResult, speedups
from segnet.errors import MissingDependencyError
from segnet.lazy import require
from segnet.runtime.stats import UNSTABLE_CV

COLUMNS = ["format", "status", "size_mb", "miou", "p50_ms", "p90_ms", "p99_ms", "mean_ms", "fps",
           "speedup_vs_pytorch", "gflops_per_s", "pct_of_peak", "h2d_ms", "compute_ms", "d2h_ms", "cv"]


def rows(run: BenchRun, peak_gflops: float | None = None) -> list[dict[str, Any]]:
    """One flat dict per format (the CSV/JSON row; None where a number does not apply)."""
    ups = speedups(run.results)
    table = []
    for result in run.results:
        lat = result.latency() if result.ok and result.stats.count else {}
        achieved = result.achieved_gflops()
        split = result.split
        table.append({
            "format": result.name,
            "status": result.status_text,
            "size_mb": None if result.size_bytes is None else result.size_bytes / 1e6,
            "miou": result.miou,
            "p50_ms": lat.get("p50"), "p90_ms": lat.get("p90"), "p99_ms": lat.get("p99"),
            "mean_ms": lat.get("mean"),
            "fps": result.fps if lat else None,
            "speedup_vs_pytorch": ups.get(result.name),
            "gflops_per_s": achieved,
            "pct_of_peak": 100.0 * achieved / peak_gflops if achieved is not None and peak_gflops else None,
            "h2d_ms": split.get("h2d"), "compute_ms": split.get("compute"), "d2h_ms": split.get("d2h"),
            "cv": lat.get("cv"),
        })
    return table


def _fmt(value: Any, digits: int = 2, suffix: str = "") -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    if isinstance(value, float):
        return f"{value:.{digits}f}{suffix}"
    return str(value)


def markdown(run: BenchRun, peak_gflops: float | None = None) -> str:
    """The table users read: empty columns (no mIoU, no h2d split, no PyTorch baseline) are left out."""
    table = rows(run, peak_gflops)
    columns = [
        ("format", "format", lambda r: r["format"]),
        ("status", "status", lambda r: r["status"]),
        ("size_mb", "size MB", lambda r: _fmt(r["size_mb"], 2)),
        ("miou", "mIoU %", lambda r: _fmt(None if r["miou"] is None else 100 * r["miou"], 1)),
        ("p50_ms", "p50 ms", lambda r: _fmt(r["p50_ms"], 2)),
        ("p90_ms", "p90 ms", lambda r: _fmt(r["p90_ms"], 2)),
        ("p99_ms", "p99 ms", lambda r: _fmt(r["p99_ms"], 2)),
        ("mean_ms", "mean ms", lambda r: _fmt(r["mean_ms"], 2)),
        ("fps", "FPS", lambda r: _fmt(r["fps"], 1)),
        ("speedup_vs_pytorch", "vs PyTorch", lambda r: _fmt(r["speedup_vs_pytorch"], 2, "x")),
        ("gflops_per_s", "GFLOP/s", lambda r: _fmt(r["gflops_per_s"], 1)),
        ("pct_of_peak", "% peak", lambda r: _fmt(r["pct_of_peak"], 1)),
        ("compute_ms", "h2d/compute/d2h ms", lambda r: "/".join(_fmt(r[k], 2) for k in
                                                                ("h2d_ms", "compute_ms", "d2h_ms"))),
    ]
    shown = [c for c in columns if c[0] in ("format", "status") or any(r[c[0]] is not None for r in table)]
    lines = ["| " + " | ".join(title for _, title, _ in shown) + " |",
             "|" + "|".join("---" for _ in shown) + "|"]
    for row in table:
        lines.append("| " + " | ".join(cell(row).replace("|", "/") for _, _, cell in shown) + " |")
    return "\n".join(lines + [f"\n{note}" for note in notes(run)])


def notes(run: BenchRun) -> list[str]:
    """Warnings a reader must see under the table (unstable measurements)."""
    return [f"warning: {r.name} was unstable (cv {r.latency()['cv']:.2f} > {UNSTABLE_CV}): the machine was "
            "busy during the run; compare ratios, or rerun with a longer --min-time"
            for r in run.results if r.ok and r.stats.count and r.unstable]


def to_json(run: BenchRun, meta: dict[str, Any], peak_gflops: float | None = None) -> dict[str, Any]:
    """Everything of a run as plain data: settings, machine/model facts in `meta`, rows and raw stats."""
    return {
        **meta,
        "settings": {"warmup": run.settings.warmup, "iterations": run.settings.iterations,
                     "min_time_s": run.settings.min_time},
        "schedule_blocks": len(run.schedule),
        "formats": [dict(row, latency=_stats(result)) for row, result in zip(rows(run, peak_gflops), run.results)],
    }


def _stats(result: FormatResult) -> dict[str, Any]:
    summary = result.latency() if result.stats.count else {}
    return {k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in summary.items()}


def write_outputs(run: BenchRun, out_dir: Path, meta: dict[str, Any], peak_gflops: float | None = None,
                  title: str = "segnet bench") -> dict[str, Path]:
    """Write table.md, results.json, results.csv and chart.png into `out_dir`; return their paths. Without
    matplotlib (a Jetson's runtime-only install) the chart is left out with a note: the tables are the result."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {"markdown": out_dir / "table.md", "json": out_dir / "results.json",
             "csv": out_dir / "results.csv", "png": out_dir / "chart.png"}
    atomic.write_text(paths["markdown"], markdown(run, peak_gflops) + "\n")
    doc = to_json(run, meta, peak_gflops)
    atomic.write_text(paths["json"], json.dumps(doc, indent=2, default=_json_default) + "\n")
    atomic.write_text(paths["csv"], to_csv(rows(run, peak_gflops)))
    try:
        write_chart(run, paths["png"], title)
    except MissingDependencyError as exc:
        print(f"note: no chart.png ({exc})", file=sys.stderr)
        del paths["png"]
    return paths


def to_csv(table: list[dict[str, Any]]) -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=COLUMNS, lineterminator="\n")
    writer.writeheader()
    for row in table:
        writer.writerow({k: ("" if row.get(k) is None else row[k]) for k in COLUMNS})
    return buffer.getvalue()


def _json_default(value: Any) -> Any:
    if hasattr(value, "item"):  # numpy scalars
        return value.item()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"cannot write {type(value).__name__} to JSON")


def write_chart(run: BenchRun, path: Path, title: str = "segnet bench") -> Path:
    """Latency (p50, with p90 whiskers) against mIoU per format; horizontal latency bars without mIoU."""
    matplotlib = require("matplotlib", "benchmark charts")
    if "matplotlib.pyplot" not in sys.modules:  # headless default; a notebook keeps its inline backend
        matplotlib.use("Agg")
    plt = require("matplotlib.pyplot", "benchmark charts")
    measured = [r for r in run.results if r.ok and r.stats.count]
    fig, ax = plt.subplots(figsize=(7, 4), dpi=100)
    try:
        with_miou = [r for r in measured if r.miou is not None]
        if with_miou:
            for result in with_miou:
                lat = result.latency()
                ax.errorbar(lat["p50"], 100 * result.miou, xerr=[[0], [lat["p90"] - lat["p50"]]], fmt="o",
                            capsize=3)
                ax.annotate(result.name, (lat["p50"], 100 * result.miou), textcoords="offset points",
                            xytext=(5, 5))
            ax.set_xlabel("latency p50 ms (whisker: p90), lower is better")
            ax.set_ylabel("mIoU %")
        elif measured:
            names = [r.name for r in measured]
            p50 = [r.latency()["p50"] for r in measured]
            p90 = [r.latency()["p90"] for r in measured]
            ax.barh(names, p50, xerr=[[0] * len(p50), [b - a for a, b in zip(p50, p90)]], capsize=3)
            ax.invert_yaxis()
            ax.set_xlabel("latency p50 ms (whisker: p90), lower is better")
        else:
            ax.text(0.5, 0.5, "no format could be measured", ha="center", va="center")
            ax.set_axis_off()
        ax.set_title(title)
        fig.tight_layout()
        with atomic.atomic_path(path) as tmp:
            fig.savefig(tmp, format="png")
    finally:
        plt.close(fig)
    return Path(path)


def machine_block(info: dict[str, Any], command: str, peak: Any = None) -> str:
    """The lines printed under every README table: how to rerun it and what it ran on."""
    versions = ", ".join(f"{k} {info[k]}" for k in ("python", "numpy", "onnxruntime", "torch", "tensorrt")
                         if info.get(k))
    lines = [f"command: `{command}`",
             (f"machine: {info['cpu']}, {info['usable_cpus']} usable of {info['logical_cpus']} logical CPUs, "
             f"{info['os']} ({info['machine']}); {versions}")]
    if peak is not None:
        lines.append(f"float32 GEMM peak (numpy {peak.blas}, n={peak.n}): best {peak.best_gflops:.1f} GFLOP/s, "
                     f"median {peak.median_gflops:.1f} GFLOP/s over {peak.repeats} calls")
    return "\n".join(lines)
