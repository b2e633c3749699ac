"""README table: the three ways to put SegNet's max-pool indices into ONNX, timed under ONNX Runtime.

- switch:   the index-free form segnet exports for TensorRT (Slice/Max/Equal/Mul/DepthToSpace);
- scatter:  PyTorch's own export of max_pool2d(return_indices) + max_unpool2d (MaxPool Indices + ScatterND);
- maxunpool: ONNX's native MaxPool Indices + MaxUnpool. No exporter produces it from SegNet in torch 2.13
  (the TorchScript exporter has no max_unpool2d symbolic; the dynamo one emits ScatterND), so it is
  timed on the pool/unpool pair alone, built with onnx.helper.

Part 1 times whole presets (switch vs scatter, both from `segnet.export.onnx_export.export_onnx`); part 2
times one pool/unpool pair on a feature map in all three forms, after checking they give identical outputs.
All forms of a row are timed in one process in alternating order.

    python -m segnet.benchmarks.scripts.pooling --presets segnet_lite:0.25 segnet_basic:0.25 --sizes 180x240
"""

from __future__ import annotations

import argparse
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from segnet import atomic
from segnet.benchmarks.harness import Runner, TimingSettings, add_timing_arguments, benchmark

DEFAULT_PRESETS = ("segnet_lite:0.25", "segnet_basic:0.25", "segnet_vgg16:0.125")
DEFAULT_SIZES = ("180x240",)
DEFAULT_MAPS = ("16x180x240", "64x90x120")
FORMS = ("switch", "scatter", "maxunpool")


class OrtRunner(Runner):
    """A plain ONNX Runtime session on a fixed random float input (for graphs without a segnet spec)."""

    def __init__(self, name: str, path: Path, threads: int | None, seed: int = 0) -> None:
        super().__init__(name, path)
        self.threads, self.seed = threads, seed
        self.backend: Any = None
        self.feed: dict[str, np.ndarray] = {}

    def setup(self) -> None:
        from segnet.runtime.backends import open_backend

        options = {"threads": self.threads} if self.threads else {}
        self.backend = open_backend(self.file, backend="onnxruntime", **options)
        self.backend.activate()
        info = self.backend.inputs[0]
        rng = np.random.default_rng(self.seed)
        self.feed = {info.name: rng.standard_normal([d or 1 for d in info.shape]).astype(np.float32)}

    def run(self) -> None:
        self.backend.infer(self.feed)

    def outputs(self) -> list[np.ndarray]:
        return list(self.backend.infer(self.feed).values())

    def teardown(self) -> None:
        if self.backend is not None:
            self.backend.deactivate()


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m segnet.benchmarks.scripts.pooling", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--presets", nargs="+", default=list(DEFAULT_PRESETS), help="NAME:WIDTH ...")
    parser.add_argument("--sizes", nargs="+", default=list(DEFAULT_SIZES), help="HxW ...")
    parser.add_argument("--maps", nargs="+", default=list(DEFAULT_MAPS),
                        help="feature maps CxHxW for the pool/unpool pair alone (default: %(default)s)")
    add_timing_arguments(parser, min_time=2.0, per="form")
    parser.add_argument("--out", default="runs/bench_pooling", help="(default: %(default)s)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    from segnet.benchmarks.scripts.common import parse_preset, publish
    from segnet.runtime.sources import parse_size

    args = build_parser().parse_args(argv)
    timing = TimingSettings(args.warmup, args.iterations, args.min_time)
    rows = []
    with tempfile.TemporaryDirectory(prefix="segnet-pooling-") as tmp:
        for preset in args.presets:
            arch, width = parse_preset(preset)
            for size in args.sizes:
                rows.append(whole_model(Path(tmp), arch, width, parse_size(size), args.threads, timing))
        for text in args.maps:
            channels, height, width_px = (int(v) for v in text.lower().split("x"))
            rows.append(pool_pair(Path(tmp), (channels, height, width_px), args.threads, timing))
    publish("pooling", [markdown(rows)], rows, args.out, argv)
    return 0


def whole_model(folder: Path, arch: str, width: float, size: tuple[int, int], threads: int | None,
                timing: TimingSettings) -> dict[str, Any]:
    """switch vs scatter export of one preset, timed alternately on ONNX Runtime."""
    from segnet.benchmarks.runners import SegmenterRunner
    from segnet.benchmarks.scripts.checkpoints import exported_random_model

    forms = [(form, {"target": "onnxruntime", "pool_form": form}) for form in ("switch", "scatter")]
    _, exports = exported_random_model(folder, arch, width, size, forms)
    runners: list[Runner] = [SegmenterRunner(form, path, backend="onnxruntime", threads=threads)
                             for form, path in exports.items()]
    return _row(f"{arch} x{width:g} at {size[0]}x{size[1]}", "whole model", benchmark(runners, timing))


def pool_pair(folder: Path, shape: tuple[int, int, int], threads: int | None, timing: TimingSettings) -> dict[str, Any]:
    """One 2x2 pool + unpool on a C x H x W map in the three forms, checked equal, timed alternately."""
    paths = {"switch": _torch_pair(folder, shape, "switch"), "scatter": _torch_pair(folder, shape, "indices"),
             "maxunpool": _native_pair(folder, shape)}
    runners = [OrtRunner(form, path, threads) for form, path in paths.items()]
    _check_same_outputs(runners)
    return _row(f"pool+unpool on {shape[0]}x{shape[1]}x{shape[2]}", "pair", benchmark(runners, timing))


def _torch_pair(folder: Path, shape: tuple[int, int, int], mode: str) -> Path:
    """Export segnet's own MaxPool2x2 + MaxUnpool2x2 in `mode` with torch.onnx.export (dynamo)."""
    from segnet.lazy import require

    torch = require("torch", "the pooling benchmark")
    from segnet.models import MaxPool2x2, MaxUnpool2x2

    class Pair(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.pool, self.unpool = MaxPool2x2(mode), MaxUnpool2x2(mode)

        def forward(self, x: Any) -> Any:
            pooled, switches = self.pool(x)
            return self.unpool(pooled, switches, x.shape[-2:])

    path = folder / f"pair_{mode}_{'x'.join(map(str, shape))}.onnx"
    example = torch.randn(1, *shape)
    torch.onnx.export(Pair().eval(), (example,), str(path), dynamo=True, opset_version=17,
                      input_names=["input"], output_names=["output"], verbose=False)
    return path


def _native_pair(folder: Path, shape: tuple[int, int, int]) -> Path:
    """MaxPool (with Indices) + MaxUnpool, the ONNX-native pair, built with onnx.helper."""
    from segnet.lazy import require

    onnx = require("onnx", "the pooling benchmark")
    helper, tensor = onnx.helper, onnx.TensorProto
    dims = [1, *shape]
    nodes = [helper.make_node("MaxPool", ["input"], ["pooled", "indices"], kernel_shape=[2, 2], strides=[2, 2]),
             helper.make_node("MaxUnpool", ["pooled", "indices", "shape"], ["output"], kernel_shape=[2, 2],
                              strides=[2, 2])]
    shape_init = onnx.numpy_helper.from_array(np.array(dims, np.int64), "shape")
    graph = helper.make_graph(nodes, "maxunpool_pair",
                              [helper.make_tensor_value_info("input", tensor.FLOAT, dims)],
                              [helper.make_tensor_value_info("output", tensor.FLOAT, dims)], [shape_init])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8  # readable by every ONNX Runtime the runtime supports
    onnx.checker.check_model(model)
    path = folder / f"pair_maxunpool_{'x'.join(map(str, shape))}.onnx"
    atomic.write_bytes(path, model.SerializeToString())
    return path


def _check_same_outputs(runners: list[OrtRunner]) -> None:
    """The forms must compute the same map bit for bit (random input: no ties), else the timing is moot."""
    from segnet.errors import SegnetError

    outputs = {}
    for runner in runners:
        runner.setup()
        try:
            outputs[runner.name] = runner.outputs()[0]
        finally:
            runner.teardown()
    reference = outputs["switch"]
    for name, value in outputs.items():
        if value.shape != reference.shape or not np.array_equal(value, reference):
            raise SegnetError(f"pool/unpool form {name!r} differs from the switch form: not comparable")


def _row(what: str, kind: str, run: Any) -> dict[str, Any]:
    p50 = {r.name: (r.latency()["p50"] if r.ok and r.stats.count else None) for r in run.results}
    return {"what": what, "kind": kind, "p50_ms": p50,
            "status": {r.name: r.status_text for r in run.results},
            "cv": {r.name: (r.latency()["cv"] if r.ok and r.stats.count else None) for r in run.results}}


def markdown(rows: list[dict[str, Any]]) -> str:
    lines = ["| graph | switch p50 ms | scatter (ScatterND) p50 ms | native MaxUnpool p50 ms | scatter / switch |",
             "|---|---|---|---|---|"]
    for r in rows:
        cells = []
        for form in FORMS:
            value = r["p50_ms"].get(form)
            status = r["status"].get(form)
            cells.append(f"{value:.3f}" if value is not None else ("n/a" if status is None else status))
        switch, scatter = r["p50_ms"].get("switch"), r["p50_ms"].get("scatter")
        ratio = f"{scatter / switch:.2f}x" if switch and scatter else "-"
        lines.append(f"| {r['what']} | {' | '.join(cells)} | {ratio} |")
    return "\n".join(lines)


if __name__ == "__main__":
    raise SystemExit(main())
