"""README table: ESTIMATED (not measured) batch-1 latency of the presets on Jetson Orin modules.

FLOPs and DRAM traffic come from each preset's switch-form ONNX graph (the one TensorRT gets) at the given
size (segnet.benchmarks.flops); peaks, bandwidths and the derivation are in segnet.benchmarks.orin, with their
sources. Latency = max(FLOPs / (dense peak x efficiency), traffic / bandwidth). Nothing here ran on a Jetson.

    python -m segnet.benchmarks.scripts.orin_estimate --presets segnet_vgg16 segnet_basic segnet_lite --size 360x480
"""

from __future__ import annotations

import argparse
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from segnet.benchmarks import orin

DEFAULT_PRESETS = ("segnet_vgg16", "segnet_basic", "segnet_lite", "segnet_lite:0.5")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m segnet.benchmarks.scripts.orin_estimate", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--presets", nargs="+", default=list(DEFAULT_PRESETS), help="NAME[:WIDTH] ...")
    parser.add_argument("--size", default="360x480", help="input HxW (default: %(default)s, CamVid)")
    parser.add_argument("--efficiency", type=float, default=0.3,
                        help="assumed fraction of the dense tensor-core peak reached (default: %(default)s)")
    parser.add_argument("--out", default="runs/orin_estimate", help="(default: %(default)s)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    from segnet.benchmarks.scripts.common import parse_preset, publish
    from segnet.runtime.sources import parse_size

    args = build_parser().parse_args(argv)
    size = parse_size(args.size)
    models = [preset_cost(*parse_preset(p), size) for p in args.presets]
    rows = [dict(model, **orin.estimate(device, model["gflops"], model["traffic_values"], precision,
                                        args.efficiency))
            for device in orin.DEVICES for model in models for precision in ("fp16", "int8")]
    text = "\n".join([
        (f"**ESTIMATE, not measured** (batch 1, {size[0]}x{size[1]}, assumed efficiency {args.efficiency:g} of the "
        "dense tensor-core peak; DLA and 2:4 sparsity not used)"), "", markdown(rows), "",
        "Peaks derived from SM count x clock x per-SM tensor rate (reproduces NVIDIA's published TOPS); sources:",
        *[f"- {source}" for source in orin.SOURCES]])
    publish("orin_estimate", [text], rows, args.out, argv, machine=False)  # an estimate: this machine's not in it
    return 0


def preset_cost(arch: str, width: float, size: tuple[int, int]) -> dict[str, Any]:
    """GFLOPs and DRAM-traffic estimate of one preset at `size`, counted on its switch-form ONNX graph."""
    from segnet.benchmarks.flops import count_macs
    from segnet.lazy import require

    torch = require("torch", "exporting the presets for FLOP counting")
    from segnet.models import create_model, set_pool_mode

    model = create_model(arch, 11, width=width).eval()
    set_pool_mode(model, "switch")  # the graph TensorRT gets (segnet export --target tensorrt)
    with tempfile.TemporaryDirectory(prefix="segnet-orin-") as tmp:
        path = Path(tmp) / "model.onnx"
        # counting only needs the graph's shapes: a plain export, without segnet export's numeric check
        torch.onnx.export(model, (torch.zeros(1, 3, *size),), str(path), dynamo=True, opset_version=17,
                          input_names=["input"], output_names=["logits"], verbose=False)
        report = count_macs(path)
    return {"preset": f"{arch} x{width:g}", "size": f"{size[0]}x{size[1]}", "gflops": report.gflops,
            "traffic_values": report.traffic_values}


def markdown(rows: list[dict[str, Any]]) -> str:
    lines = ["| device | preset | GFLOPs | precision | dense peak T(FL)OPS | est. latency ms | est. FPS | bound |",
             "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['device']} | {r['preset']} | {r['gflops']:.1f} | {r['precision'].upper()} | "
                     f"{r['peak_dense']:.1f} | {r['latency_ms']:.2f} | {r['fps']:.0f} | {r['bound']} |")
    return "\n".join(lines)


if __name__ == "__main__":
    raise SystemExit(main())
