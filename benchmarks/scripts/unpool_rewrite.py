"""Node counts and ONNX Runtime latency of a model with MaxPool Indices, before and after `segnet rewrite-unpool`.

Three graphs per model, timed in one process in alternating order (segnet.benchmarks.harness):
- original: as the exporter wrote it (MaxPool Indices, index arithmetic, ScatterND / MaxUnpool);
- general:  every pool's Indices computed from Slice/Equal/Where, the consumers kept (`--general`);
- fast:     the default rewrite (switch form where it is proved to apply, else the general path).
Before timing, every rewritten graph must give the original's outputs (max |diff| <= 1e-5) on a random input.

    python -m segnet.benchmarks.scripts.unpool_rewrite                       # tests/fixtures/keras + two torch presets
    python -m segnet.benchmarks.scripts.unpool_rewrite model.onnx other.onnx --threads 1
"""

from __future__ import annotations

import argparse
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from segnet.benchmarks.harness import Runner, TimingSettings, add_timing_arguments, benchmark
from segnet.benchmarks.scripts.pooling import OrtRunner
from segnet.errors import SegnetError

FIXTURES = Path(__file__).resolve().parents[2] / "tests" / "fixtures" / "keras"
DEFAULT_PRESETS = ("segnet_basic:0.25:180x240", "segnet_vgg16:0.125:180x240")
FORMS = ("original", "general", "fast")
TOLERANCE = 1e-5


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m segnet.benchmarks.scripts.unpool_rewrite", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("models", nargs="*", help="ONNX files (default: the Keras fixtures and --presets)")
    parser.add_argument("--presets", nargs="*", default=list(DEFAULT_PRESETS),
                        help="segnet presets NAME:WIDTH:HxW exported by torch's dynamo exporter (needs torch; "
                             "default: %(default)s); give none to skip")
    add_timing_arguments(parser, min_time=1.0, per="graph")
    parser.add_argument("--out", default="runs/bench_unpool", help="(default: %(default)s)")
    return parser


def _preset_model(folder: Path, text: str) -> Path:
    """A random-weight preset exported by torch.onnx (dynamo): MaxPool Indices + ScatterND."""
    from segnet.benchmarks.scripts.checkpoints import exported_random_model
    from segnet.runtime.sources import parse_size

    try:
        arch, width, size = text.split(":")
    except ValueError:
        raise SegnetError(f"--presets: expected NAME:WIDTH:HxW, got {text!r}") from None
    _, exports = exported_random_model(folder, arch, float(width), parse_size(size),
                                       [("scatter", {"target": "onnxruntime", "pool_form": "scatter"})])
    path = folder / f"{arch}_x{width}_{size}.onnx"
    exports["scatter"].replace(path)
    return path


def _node_count(path: Path) -> int:
    import onnx

    return len(onnx.load(str(path)).graph.node)


def _max_diff(runners: list[OrtRunner]) -> dict[str, float]:
    """max |rewritten - original| per rewritten graph on the runners' shared random input."""
    outputs = {}
    for runner in runners:
        runner.setup()
        try:
            outputs[runner.name] = runner.outputs()
        finally:
            runner.teardown()
    diffs = {}
    for name in FORMS[1:]:
        pairs = list(zip(outputs["original"], outputs[name]))
        if any(a.shape != b.shape for a, b in pairs):
            raise SegnetError(f"{name}: output shapes differ from the original's")
        diffs[name] = max(float(np.abs(a.astype(np.float64) - b).max()) for a, b in pairs)
        if diffs[name] > TOLERANCE:
            raise SegnetError(f"{name}: max |diff| {diffs[name]:.2e} against the original; not comparable")
    return diffs


def measure(path: Path, folder: Path, threads: int, timing: TimingSettings) -> dict[str, Any]:
    """One model's row: node counts, the fast path's folds, max |diff| and p50 latency of the three graphs."""
    from segnet.export.rewrite_unpool import rewrite_unpool

    graphs = {"original": path, "general": folder / f"{path.stem}.general.onnx",
              "fast": folder / f"{path.stem}.fast.onnx"}
    rewrite_unpool(path, graphs["general"], fast=False)
    summary = rewrite_unpool(path, graphs["fast"])
    runners: list[Runner] = [OrtRunner(name, graphs[name], threads) for name in FORMS]
    diffs = _max_diff(runners)  # type: ignore[arg-type]
    run = benchmark(runners, timing)
    return {"model": path.name, "nodes": {name: _node_count(graphs[name]) for name in FORMS},
            "switch_folds": len(summary.switch), "general_pools": len(summary.indices), "max_diff": diffs,
            "p50_ms": {r.name: (r.latency()["p50"] if r.ok and r.stats.count else None) for r in run.results},
            "status": {r.name: r.status_text for r in run.results}}


def markdown(rows: list[dict[str, Any]]) -> str:
    header = ("| model | nodes original / general / fast | folds (fast) | p50 ms original | general | fast "
              "| max abs diff general, fast |")
    lines = [header, "|---|---|---|---|---|---|---|"]
    for row in rows:
        p50 = row["p50_ms"]
        cells = [f"{p50[f]:.3f}" if p50[f] is not None else row["status"][f] for f in FORMS]
        nodes = " / ".join(str(row["nodes"][f]) for f in FORMS)
        folds = f"{row['switch_folds']} switch, {row['general_pools']} general"
        diff = ", ".join(f"{row['max_diff'][f]:.1e}" for f in FORMS[1:])
        lines.append(f"| {row['model']} | {nodes} | {folds} | {' | '.join(cells)} | {diff} |")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    from segnet.benchmarks.scripts.common import publish

    args = build_parser().parse_args(argv)
    timing = TimingSettings(args.warmup, args.iterations, args.min_time)
    rows = []
    with tempfile.TemporaryDirectory(prefix="segnet-unpool-") as tmp:
        folder = Path(tmp)
        models = [Path(m) for m in args.models] or sorted(FIXTURES.glob("*.onnx"))
        if not args.models:
            models += [_preset_model(folder, text) for text in args.presets]
        for path in models:
            if not path.is_file():
                raise SegnetError(f"{path}: no such file")
            rows.append(measure(path, folder, args.threads, timing))
    publish("unpool_rewrite", [markdown(rows)], rows, args.out, argv)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
