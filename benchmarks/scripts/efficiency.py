"""README table: achieved GFLOP/s of each preset and format against this machine's measured GEMM peak.

The same alternating `segnet bench` runs as benchmarks/scripts/formats.py (random-weight presets, CPU), plus a
float32 GEMM probe in the same process; arithmetic per image is counted on the ONNX graph (Conv,
ConvTranspose, Gemm, MatMul MACs x 2). A network far below the GEMM peak is limited by memory traffic,
thin layers or per-operator overhead, not by arithmetic: the number that says whether a faster CPU or a
different layout would help.

    python -m segnet.benchmarks.scripts.efficiency --presets segnet_lite:0.25 segnet_basic:0.25 --sizes 180x240
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

DEFAULT_FORMATS = "pytorch,onnx,onnx-int8"


def main(argv: Sequence[str] | None = None) -> int:
    from segnet.benchmarks.peak import GemmPeak
    from segnet.benchmarks.scripts.common import publish
    from segnet.benchmarks.scripts.formats import bench_presets, build_parser

    parser = build_parser()
    parser.prog = "python -m segnet.benchmarks.scripts.efficiency"
    parser.description = __doc__
    parser.set_defaults(formats=DEFAULT_FORMATS, out="runs/bench_efficiency")
    parser.add_argument("--peak-time", type=float, default=2.0, help="seconds of GEMM probe (default: 2)")
    args = parser.parse_args(argv)
    rows, peak = bench_presets(args, peak_time=args.peak_time)
    publish("efficiency", [markdown(rows)], {"gemm_peak": peak, "rows": rows}, args.out, argv,
            peak=GemmPeak(**peak) if peak else None)
    return 0


def markdown(rows: list[dict[str, Any]]) -> str:
    lines = ["| preset | input | format | GFLOPs / image | p50 ms | achieved GFLOP/s | % of GEMM peak |",
             "|---|---|---|---|---|---|---|"]
    for r in rows:
        if r["p50_ms"] is None:
            lines.append(f"| {r['preset']} | {r['size']} | {r['format']} | - | - | - | {r['status']} |")
            continue
        gflops = "-" if r["gflops"] is None else f"{r['gflops']:.2f}"
        achieved = "-" if r["gflops_per_s"] is None else f"{r['gflops_per_s']:.1f}"
        pct = "-" if r["pct_of_peak"] is None else f"{r['pct_of_peak']:.1f}"
        lines.append(f"| {r['preset']} | {r['size']} | {r['format']} | {gflops} | {r['p50_ms']:.2f} | {achieved} | "
                     f"{pct} |")
    if any("int8" in r["format"] for r in rows):
        lines.append("\nINT8 rows count the same multiply-adds against the float32 GEMM peak: INT8 kernels do "
                     "several times more of them per instruction, so they can exceed 100%.")
    return "\n".join(lines)


if __name__ == "__main__":
    raise SystemExit(main())
