"""README table: camera frame in, overlay out - the host path against the frame path in the graph.

One SegNet-lite (360x480, 12 classes, random weights, width --width) exported twice, with torch in a child
process (this process stays torch-free): a plain export for the host path (float NCHW in, logits out: OpenCV
resize + normalise into reused buffers, argmax, INTER_NEAREST to the frame and the host overlay around the
backend call) and, per frame size, the frame path in the graph (uint8 BGR frame + per-class alpha in, overlay
and labels out at the frame size, resize "area": the host touches no pixel).

Per frame size (1280x720, 1920x1080) four variants run in one process, alternating: R rounds, the order
flipped every round, N frames each -
- file: an MJPG .avi of the synthetic road scene at the frame size -> a video sink (MJPG .avi);
- live: pre-decoded frames at 30 FPS, like a camera (pipeline_bench.ReplaySource) -> a null sink;
each through the host path and the in-graph path. Reported per variant (medians over rounds, ratios taken
per round): the host's ms per frame outside the backend call (pre + post + render stage means), capture
(decode) and write (encode) apart, the backend call's own ms (inference p50), end-to-end FPS and CPU ms per
frame of each pipeline thread.

The pipeline's own ceiling: the same Pipeline with a trivial model, a source that costs nothing and a null
sink - for the in-graph path an onnx.helper model whose overlay is Identity(frame), for the host path a tiny
network at 360x480 (the host still resizes, normalises, takes the argmax and blends the overlay).

    python -m segnet.benchmarks.scripts.frame_bench [--frames 60] [--rounds 3] [--threads 1] [--width 0.25] [--out DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from segnet import atomic
from segnet.benchmarks.scripts.pipeline_bench import ReplaySource, load_note, rss_mb, write_test_video
from segnet.benchmarks.tiny_onnx import OPSET, build_tiny_onnx, tiny_spec
from segnet.errors import SegnetError
from segnet.lazy import require
from segnet.runtime.pipeline import Pipeline
from segnet.runtime.run_stats import RunStats
from segnet.runtime.segmenter import Segmenter
from segnet.runtime.sinks import NullSink, Sink, open_sink
from segnet.runtime.sources import Source, open_source, parse_size
from segnet.spec import ARTIFACT_KEY, SPEC_KEY, Artifact, FramePath, ModelSpec, write_sidecar

NUM_CLASSES = 12
NETWORK = (360, 480)
SIZES = ((720, 1280), (1080, 1920))
LIVE_FPS = 30.0
LIVE_POOL = 30  # pre-decoded frames the live source cycles through (one second of video)
PATHS = ("host", "graph")
SOURCES = ("file", "live")
VARIANTS = tuple((source, path) for source in SOURCES for path in PATHS)
PATH_TEXT = {"host": "host", "graph": "in-graph"}
SOURCE_TEXT = {"file": "file -> video", "live": "live -> null"}
TARGET_SIZE = (720, 1280)
TARGET_HOST_MS = 0.5
TARGET_CEILING_FPS = 1000.0

SEGNET_EXPORT = """
import sys
from pathlib import Path
from segnet.export.onnx_export import export_model
from segnet.models import create_model
from segnet.spec import FramePath, ModelSpec
height, width, mult, folder = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3]), Path(sys.argv[4])
spec = ModelSpec(arch="segnet_lite", num_classes=12, arch_args={"width": mult}, input_size=(height, width),
                 provenance={"weights": "random (frame benchmark)"})
model = create_model("segnet_lite", 12, width=mult).eval()
export_model(model, spec, folder / "plain.onnx", check_rewrite=False)
for size in sys.argv[5:]:
    h, w = (int(v) for v in size.split("x"))
    export_model(model, spec, folder / f"frame_{h}x{w}.onnx", check_rewrite=False,
                 frame=FramePath(size=(h, w), resize="area", outputs=["overlay", "labels"]))
"""


# -- models --------------------------------------------------------------------------------------------
def size_text(size: tuple[int, int]) -> str:
    """(height, width) -> 'HxW', the form of --sizes and of the file names."""
    return f"{size[0]}x{size[1]}"


def frame_text(size: tuple[int, int]) -> str:
    """(height, width) -> 'WxH', the way frame sizes are usually written (1280x720)."""
    return f"{size[1]}x{size[0]}"


def export_segnet(folder: Path, network: tuple[int, int], width: float,
                  sizes: Sequence[tuple[int, int]]) -> dict[str, Path]:
    """The plain and the frame-path exports of one random SegNet-lite, made with torch in a child process."""
    args = [sys.executable, "-c", SEGNET_EXPORT, str(network[0]), str(network[1]), str(width), str(folder)]
    result = subprocess.run(args + [size_text(s) for s in sizes], check=False, capture_output=True, text=True)
    if result.returncode != 0:
        reason = (result.stderr.strip().splitlines() or ["unknown error"])[-1]
        raise SegnetError(f"the SegNet export failed ({reason}); it needs torch and segnet's export extras "
                          "(or run with --tiny for the onnx.helper models)")
    return {"host": folder / "plain.onnx", **{size_text(s): folder / f"frame_{size_text(s)}.onnx" for s in sizes}}


def frame_model(path: Path, size: tuple[int, int], network: tuple[int, int], outputs: Sequence[str]) -> Path:
    """A frame-path model that does no work: overlay = Identity(frame), labels (if asked) = Cast(ArgMax(frame))
    over the colour axis; a segnet spec and a frame-path Artifact in its metadata and sidecar."""
    onnx = require("onnx", "building the trivial frame model")
    helper, TP = onnx.helper, onnx.TensorProto
    height, width = size
    inputs = [helper.make_tensor_value_info("frame", TP.UINT8, [1, height, width, 3]),
              helper.make_tensor_value_info("alpha", TP.FLOAT, [NUM_CLASSES])]
    nodes = [helper.make_node("Identity", ["frame"], ["overlay"], name="overlay")]
    graph_outs = [helper.make_tensor_value_info("overlay", TP.UINT8, [1, height, width, 3])]
    if "labels" in outputs:
        nodes += [helper.make_node("ArgMax", ["frame"], ["argmax"], axis=3, keepdims=0, name="argmax"),
                  helper.make_node("Cast", ["argmax"], ["labels"], to=TP.UINT8, name="labels")]
        graph_outs.append(helper.make_tensor_value_info("labels", TP.UINT8, [1, height, width]))
    model = helper.make_model(helper.make_graph(nodes, "trivial_frame", inputs, graph_outs),
                              opset_imports=[helper.make_opsetid("", OPSET)], producer_name="segnet.benchmarks")
    model.ir_version = 8
    spec = ModelSpec(arch="trivial_frame", num_classes=NUM_CLASSES, input_size=network,
                     provenance={"weights": "none", "builder": "segnet.benchmarks.scripts.frame_bench"})
    artifact = Artifact(file=path.name, format="onnx", input_name="frame", input_layout="NHWC", input_dtype="uint8",
                        embedded_preprocess=True, output_names=list(outputs), batch=1,
                        frame=FramePath(size=size, outputs=list(outputs)).to_dict(), details={"opset": OPSET})
    helper.set_model_props(model, {SPEC_KEY: spec.to_json(), ARTIFACT_KEY: json.dumps(artifact.to_dict())})
    onnx.checker.check_model(model)
    atomic.write_bytes(path, model.SerializeToString())
    write_sidecar(path, spec, artifact)
    return path


def host_model(path: Path, network: tuple[int, int], width: int, depth: int) -> Path:
    """A tiny plain model (float NCHW in, logits out) at the network size, for the host path."""
    return build_tiny_onnx(path, tiny_spec(num_classes=NUM_CLASSES, input_size=network), width=width, depth=depth,
                           outputs=("logits",))


def tiny_models(folder: Path, network: tuple[int, int], sizes: Sequence[tuple[int, int]]) -> dict[str, Path]:
    """--tiny: the onnx.helper stand-ins for the SegNet exports (no torch: quick tests)."""
    models = {"host": host_model(folder / "tiny_plain.onnx", network, width=8, depth=1)}
    for size in sizes:
        models[size_text(size)] = frame_model(folder / f"tiny_frame_{size_text(size)}.onnx", size, network,
                                              ("overlay", "labels"))
    return models


# -- sources and runs ----------------------------------------------------------------------------------
class FreeSource(Source):
    """A source that costs nothing: every slot gets the prepared frame once, then is handed back untouched."""

    live = False

    def __init__(self, frame: np.ndarray, max_frames: int) -> None:
        super().__init__("free://", max_frames=max_frames)
        self.frame = frame
        self.filled: set[int] = set()  # addresses of the arrays that hold the frame already

    def _read(self, into: np.ndarray | None = None) -> np.ndarray:
        if into is None:
            return self.frame
        address = into.__array_interface__["data"][0]
        if address not in self.filled:
            np.copyto(into, self.frame)
            self.filled.add(address)
        return into


def summarize(stats: RunStats) -> dict[str, Any]:
    """The numbers of one pipeline run: stage means, backend p50, host work outside it, FPS, CPU per thread."""
    stages = stats.summaries()
    names = ("capture", "pre", "post", "render", "write")
    means, p50 = {n: stages[n]["mean"] for n in names}, {n: stages[n]["p50"] for n in names}
    return {"frames_in": stats.frames_in, "frames_out": stats.frames_out, "dropped": stats.dropped,
            "wall_s": stats.wall_seconds, "fps": stats.frames_out / stats.wall_seconds, "stages_ms": means,
            "stages_p50_ms": p50, "host_ms": means["pre"] + means["post"] + means["render"],
            "host_p50_ms": p50["pre"] + p50["post"] + p50["render"], "inference_p50_ms": stages["inference"]["p50"],
            "cpu_ms": stats.cpu_ms_per_frame()}


def run_pipeline(segmenter: Segmenter, source: Source, sink: Sink) -> dict[str, Any]:
    """One Pipeline run of `source` through `segmenter` into `sink` (both closed afterwards), summarised."""
    try:
        stats = Pipeline(segmenter, source, [sink], status_stream=None).run()
    finally:
        sink.close()
        source.close()
    return summarize(stats)


def run_variant(segmenter: Segmenter, source: str, video: Path, pool: list[np.ndarray], frames: int,
                out: Path) -> dict[str, Any]:
    """One variant once: the video file into a video sink, or the live replay into a null sink."""
    if source == "file":
        capture = open_source(str(video), max_frames=frames)
        return run_pipeline(segmenter, capture, open_sink(str(out), fps=capture.fps))
    return run_pipeline(segmenter, ReplaySource(pool, fps=LIVE_FPS, max_frames=frames).open(), NullSink("null"))


def warm_up(segmenters: dict[str, Segmenter], video: Path) -> None:
    """A few untimed frames through every segmenter (first-run allocations stay out of the rounds)."""
    for segmenter in segmenters.values():
        run_pipeline(segmenter, open_source(str(video), max_frames=3), NullSink("null"))


def round_order(items: Sequence[Any], index: int) -> list[Any]:
    """`items` in order on even rounds, reversed on odd ones (neither always runs first)."""
    return list(items) if index % 2 == 0 else list(reversed(items))


def measure_size(models: dict[str, Path], size: tuple[int, int], args: argparse.Namespace,
                 folder: Path) -> dict[str, Any]:
    """The four variants at one frame size, in alternating rounds; per-round results and their medians."""
    video = write_test_video(folder / f"input_{size_text(size)}.avi", size, args.frames)
    pool = list(open_source(str(video), max_frames=LIVE_POOL))
    with Segmenter(models["host"], threads=args.threads, log=None) as host, \
            Segmenter(models[size_text(size)], threads=args.threads, log=None) as graph:
        segmenters = {"host": host, "graph": graph}
        warm_up(segmenters, video)
        rounds: list[dict[str, Any]] = []
        for i in range(args.rounds):
            _log(f"{frame_text(size)}: round {i + 1} of {args.rounds}")
            row: dict[str, Any] = {"order": [f"{s}/{p}" for s, p in round_order(VARIANTS, i)]}
            for source, path in round_order(VARIANTS, i):
                row[f"{source}/{path}"] = run_variant(segmenters[path], source, video, pool, args.frames,
                                                      folder / f"out_{size_text(size)}_{path}.avi")
            rounds.append(row)
    return {"size": list(size), "rounds": rounds, "variants": {f"{s}/{p}": medians(rounds, f"{s}/{p}")
                                                               for s, p in VARIANTS},
            "ratios": {source: ratios(rounds, f"{source}/host", f"{source}/graph") for source in SOURCES}}


def measure_ceiling(size: tuple[int, int], network: tuple[int, int], args: argparse.Namespace,
                    folder: Path) -> dict[str, Any]:
    """The pipeline's own ceiling at one frame size: trivial models, the free source, a null sink."""
    models = {"host": host_model(folder / "trivial_plain.onnx", network, width=1, depth=0),
              "graph": frame_model(folder / f"trivial_frame_{size_text(size)}.onnx", size, network, ("overlay",))}
    with open_source(f"synthetic://?frames=1&size={size_text(size)}") as synthetic:
        frame = next(iter(synthetic))
    with Segmenter(models["host"], threads=args.threads, log=None) as host, \
            Segmenter(models["graph"], threads=args.threads, log=None) as graph:
        segmenters = {"host": host, "graph": graph}
        for segmenter in segmenters.values():
            run_pipeline(segmenter, FreeSource(frame, 20), NullSink("null"))  # warm-up
        rounds: list[dict[str, Any]] = []
        for i in range(args.rounds):
            _log(f"{frame_text(size)}: ceiling round {i + 1} of {args.rounds}")
            row: dict[str, Any] = {"order": round_order(PATHS, i)}
            for path in round_order(PATHS, i):
                row[path] = run_pipeline(segmenters[path], FreeSource(frame, args.ceiling_frames), NullSink("null"))
            rounds.append(row)
    return {"size": list(size), "frames": args.ceiling_frames, "rounds": rounds,
            "paths": {path: medians(rounds, path) for path in PATHS}, "ratio": ratios(rounds, "host", "graph")}


# -- medians and ratios ----------------------------------------------------------------------------------
def flat(result: dict[str, Any]) -> dict[str, float]:
    """The numbers of one run as name -> value (stage means as 'stage:NAME', their p50 as 'p50:NAME', threads
    as 'cpu:NAME')."""
    keys = ("fps", "host_ms", "host_p50_ms", "inference_p50_ms", "frames_out", "dropped")
    values = {k: float(result[k]) for k in keys}
    values.update({f"stage:{k}": v for k, v in result["stages_ms"].items()})
    values.update({f"p50:{k}": v for k, v in result["stages_p50_ms"].items()})
    values.update({f"cpu:{k}": v for k, v in result["cpu_ms"].items()})
    return values


def medians(rounds: list[dict[str, Any]], key: str) -> dict[str, float]:
    """Per number of variant `key`, its median over the rounds."""
    runs = [flat(r[key]) for r in rounds]
    return {name: statistics.median(run[name] for run in runs) for name in runs[0]}


def ratios(rounds: list[dict[str, Any]], host: str, graph: str) -> dict[str, float]:
    """Per number, the median over rounds of graph / host in the same round (neighbours share the load)."""
    out: dict[str, float] = {}
    for name in flat(rounds[0][host]):
        values = [_ratio(flat(r[graph]).get(name), flat(r[host]).get(name)) for r in rounds]
        out[name] = statistics.median(values)
    return out


def _ratio(top: float | None, bottom: float | None) -> float:
    if top is None or bottom is None or not bottom or np.isnan(top) or np.isnan(bottom):
        return float("nan")
    return top / bottom


# -- the table -------------------------------------------------------------------------------------------
ROWS = (
    ("host_ms", "**host work outside the backend** (pre + post + render), ms", 3),
    ("stage:pre", "· pre: resize + normalise (in-graph: hand-over only), ms", 3),
    ("stage:post", "· post: argmax + INTER_NEAREST to the frame, ms", 3),
    ("stage:render", "· render: overlay (in-graph: the model's own), ms", 3),
    ("stage:capture", "capture (file: decode into the slot; live: wait for the next frame + copy), ms", 2),
    ("stage:write", "write (file: MJPG encode; live: null sink), ms", 2),
    ("inference_p50_ms", "**backend call** (inference p50), ms", 2),
    ("fps", "**end-to-end FPS** (live: at most the source's 30)", 1),
    ("frames_out", "frames out", 0),
    ("dropped", "frames dropped (live: stale frames replaced)", 0),
)
THREADS = ("capture", "infer", "render", "infer+render", "total")


def _num(value: float | None, digits: int) -> str:
    if value is None or np.isnan(value):
        return "-"
    return f"{value:.{digits}f}"


def _times(value: float | None) -> str:
    if value is None or np.isnan(value):
        return "-"
    return f"{value:.3g}x"


def size_table(result: dict[str, Any], args: argparse.Namespace) -> list[str]:
    """The Markdown table of one frame size: a column per variant, in-graph / host next to each pair."""
    size = tuple(result["size"])
    cells = [f"{frame_text(size)} frames, median of {args.rounds} rounds"]
    for source in SOURCES:
        cells += [f"{SOURCE_TEXT[source]}: host", f"{SOURCE_TEXT[source]}: in-graph", "in-graph / host"]
    lines = ["| " + " | ".join(cells) + " |", "|---" * len(cells) + "|"]
    names = [(key, title, digits) for key, title, digits in ROWS]
    names += [(f"cpu:{t}", f"CPU ms per frame, {'all pipeline threads' if t == 'total' else t + ' thread'}", 2)
              for t in THREADS]
    for key, title, digits in names:
        row = [title]
        for source in SOURCES:
            host, graph = result["variants"][f"{source}/host"], result["variants"][f"{source}/graph"]
            ratio = result["ratios"][source].get(key) if key not in ("frames_out", "dropped") else None
            row += [_num(host.get(key), digits), _num(graph.get(key), digits), _times(ratio)]
        if any(c != "-" for c in row[1:]):
            lines.append("| " + " | ".join(row) + " |")
    return lines


def ceiling_table(ceilings: list[dict[str, Any]], args: argparse.Namespace) -> list[str]:
    """One row per frame size: ceiling FPS of both paths, their ratio, and where the host time goes."""
    lines = [(f"| pipeline ceiling: trivial model, free source, null sink ({args.ceiling_frames} frames, median of "
              f"{args.rounds} rounds) | host path FPS | in-graph FPS | in-graph / host | host work outside the "
              "backend ms, host / in-graph | backend call ms, host / in-graph | CPU ms per frame (all pipeline "
              "threads), host / in-graph |"), "|---|---|---|---|---|---|---|"]
    for c in ceilings:
        host, graph = c["paths"]["host"], c["paths"]["graph"]
        lines.append(f"| {frame_text(tuple(c['size']))} | {host['fps']:.0f} | {graph['fps']:.0f} | "
                     f"{_times(c['ratio']['fps'])} | {host['host_ms']:.3f} / {graph['host_ms']:.3f} | "
                     f"{host['inference_p50_ms']:.3f} / {graph['inference_p50_ms']:.3f} | "
                     f"{_num(host.get('cpu:total'), 2)} / {_num(graph.get('cpu:total'), 2)} |")
    return lines


def targets(sizes: list[dict[str, Any]], ceilings: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The issue's two targets at 720p (None where 720p was not measured)."""
    at = {tuple(r["size"]): r for r in sizes}.get(TARGET_SIZE)
    ceiling = {tuple(c["size"]): c for c in ceilings}.get(TARGET_SIZE)
    host = None if at is None else {s: at["variants"][f"{s}/graph"]["host_ms"] for s in SOURCES}
    fps = None if ceiling is None else ceiling["paths"]["graph"]["fps"]
    return [{"target": (f"host work outside the backend <= {TARGET_HOST_MS} ms per {frame_text(TARGET_SIZE)} frame "
                        "on the in-graph path"), "measured_ms": host,
             "met": None if host is None else max(host.values()) <= TARGET_HOST_MS},
            {"target": (f"pipeline ceiling >= {TARGET_CEILING_FPS:.0f} FPS at {frame_text(TARGET_SIZE)} with the "
                        "trivial model (in-graph path)"), "measured_fps": fps,
             "met": None if fps is None else fps >= TARGET_CEILING_FPS}]


def target_lines(rows: list[dict[str, Any]]) -> list[str]:
    """The targets as a Markdown table: target, measured, met."""
    lines = ["| target (from the issue) | measured | met |", "|---|---|---|"]
    for row in rows:
        if "measured_ms" in row:
            measured = "-" if row["measured_ms"] is None else ", ".join(
                f"{SOURCE_TEXT[s]} {v:.3f} ms" for s, v in row["measured_ms"].items())
        else:
            measured = "-" if row["measured_fps"] is None else f"{row['measured_fps']:.0f} FPS"
        met = "not measured" if row["met"] is None else ("**met**" if row["met"] else "**NOT met**")
        lines.append(f"| {row['target']} | {measured} | {met} |")
    return lines


def markdown(result: dict[str, Any], args: argparse.Namespace) -> str:
    """The whole report: what ran, one table per frame size, the ceiling, the targets, how to read it."""
    meta = result["meta"]
    lines = [(f"Camera frame in, overlay out. Model: {meta['model']}; ONNX Runtime {meta['backend']}, "
              f"{meta['threads']} intra-op thread(s). Host path: the plain export (float NCHW in, logits out) with "
              "OpenCV resize + normalise, argmax, INTER_NEAREST to the frame and the overlay on the host. In-graph "
              "path: the frame export (uint8 BGR frame + alpha in; overlay and labels out at the frame size, resize "
              f"area). Variants alternate in {args.rounds} rounds (order flipped every round), {args.frames} "
              f"frames each; live = pre-decoded frames offered at {LIVE_FPS:.0f} FPS."), "", load_note(meta)]
    for size in result["sizes"]:
        lines += [""] + size_table(size, args)
    lines += [""] + ceiling_table(result["ceiling"], args) + [""] + target_lines(result["targets"])
    lines += ["", ("Stage times are wall-clock means per frame; ratios are in-graph / host taken per round, median "
                   "over rounds. On this CPU the in-graph resize, argmax, upsampling and blend run inside ONNX "
                   "Runtime, so they show up in the backend call (its ratio above 1) instead of the host's rows; "
                   "with TensorRT on a Jetson they run on the GPU. CPU ms per frame are per pipeline thread "
                   "(time.thread_time; with one intra-op thread ONNX Runtime computes on the infer thread) and hold "
                   "on a loaded machine where wall times do not."),
              "", f"Resident memory of this (torch-free) process at the end: {meta['rss_mb']:.0f} MB."]
    return "\n".join(lines)


# -- main ----------------------------------------------------------------------------------------------
def plain(value: Any) -> Any:
    """`value` with NaN floats as None, for standard JSON."""
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if isinstance(value, float) and np.isnan(value):
        return None
    return value


def _log(text: str) -> None:
    print(f"frame_bench: {text}", file=sys.stderr, flush=True)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m segnet.benchmarks.scripts.frame_bench", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--frames", type=int, default=60, help="frames per variant and round (default 60)")
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds (default 3)")
    parser.add_argument("--threads", type=int, default=1, help="ONNX Runtime intra-op threads (default 1)")
    parser.add_argument("--width", type=float, default=0.25, help="SegNet-lite width multiplier (default 0.25)")
    parser.add_argument("--ceiling-frames", type=int, default=3000, help="frames per ceiling run (default 3000)")
    parser.add_argument("--out", type=Path, default=None, help="write frame_bench.md and frame_bench.json here")
    parser.add_argument("--sizes", type=lambda t: [parse_size(s) for s in t.split(",")],
                        default=list(SIZES), help=argparse.SUPPRESS)
    parser.add_argument("--network", type=parse_size, default=NETWORK, help=argparse.SUPPRESS)
    parser.add_argument("--tiny", action="store_true", help=argparse.SUPPRESS)  # onnx.helper models, no torch
    return parser


def make_models(args: argparse.Namespace, folder: Path) -> tuple[dict[str, Path], str]:
    """The host and frame-path models (SegNet-lite exports, or --tiny stand-ins) and their description."""
    net = size_text(args.network)
    if args.tiny:
        return tiny_models(folder, args.network, args.sizes), (
            f"--tiny stand-ins: host a tiny onnx.helper conv net at {net}, in-graph Identity overlay + ArgMax labels")
    _log(f"exporting segnet_lite width {args.width:g} at {net} (plain + {len(args.sizes)} frame sizes) with torch...")
    return export_segnet(folder, args.network, args.width, args.sizes), (
        f"segnet_lite width {args.width:g}, {NUM_CLASSES} classes, random weights, network {net}")


def main(argv: Sequence[str] | None = None) -> int:
    """Export, measure every frame size and the ceiling, print the report (and write it with --out)."""
    from segnet.benchmarks.scripts.common import command_line, publish

    args = build_parser().parse_args(argv)
    meta: dict[str, Any] = {"cpu_count": len(os.sched_getaffinity(0)), "load_before": os.getloadavg()[0],
                            "threads": args.threads, "backend": "CPU provider", "command": command_line(
                                "frame_bench", argv)}
    with tempfile.TemporaryDirectory(prefix="segnet-frame-bench-") as tmp:
        folder = Path(tmp)
        models, meta["model"] = make_models(args, folder)
        sizes = [measure_size(models, size, args, folder) for size in args.sizes]
        ceilings = [measure_ceiling(size, args.network, args, folder) for size in args.sizes]
    meta.update(load_after=os.getloadavg()[0], rss_mb=rss_mb())
    result = {"meta": meta, "sizes": sizes, "ceiling": ceilings, "targets": targets(sizes, ceilings)}
    publish("frame_bench", [markdown(result, args)], plain(result), args.out, argv)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
