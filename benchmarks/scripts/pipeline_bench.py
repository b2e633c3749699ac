"""Pipeline benchmarks: does streaming keep up with the backend, is latency bounded, is memory flat?

1. Throughput: video file -> pipeline -> video file, end-to-end FPS (frames written / wall time) against
   the backend's bare inference FPS on the same frames and model, in alternating rounds whose order flips
   every round (requirement: median per-round ratio >= 0.9x).
2. Live: a source faster than the model; end-to-end latency p99 against inference p50 (requirement:
   p99 <= 2x p50) and the number of frames dropped to keep it so.
3. Soak: a long run (10,000 frames by default); resident memory at the start, the end and the maximum.

Wall-clock figures depend on what else the machine runs: the load average before and after is reported,
and a loaded machine is said so. CPU milliseconds per frame (per pipeline thread, and for the whole process
against bare inference) do not depend on load and show where the time outside inference goes.

The model: `--model FILE`, else a SegNet-lite (random weights) exported with torch in a child process
when torch and segnet.models are installed, else the onnx.helper tiny model. This process never imports
torch, so the memory figures are those of the torch-free runtime.

    python -m segnet.benchmarks.scripts.pipeline_bench [--model m.onnx] [--size 120x160] [--width 0.125] [--soak-frames 10000]
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from segnet import atomic
from segnet.benchmarks.tiny_onnx import build_tiny_onnx, tiny_spec
from segnet.runtime.pipeline import Pipeline
from segnet.runtime.run_stats import RunStats
from segnet.runtime.segmenter import Segmenter
from segnet.runtime.sinks import NullSink, open_sink
from segnet.runtime.sources import Source, open_source, parse_size

SEGNET_EXPORT = """
import sys
from segnet.models import create_model
from segnet.export.onnx_export import export_model
from segnet.spec import ModelSpec
height, width, path, mult = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], float(sys.argv[4])
spec = ModelSpec(arch="segnet_lite", num_classes=12, arch_args={"width": mult}, input_size=(height, width),
                 provenance={"weights": "random (pipeline benchmark)"})
model = create_model("segnet_lite", 12, width=mult).eval()
export_model(model, spec, path, embed_preprocess=True, argmax=True, keep_logits=False)
"""


def rss_mb() -> float:
    """Resident set size of this process (VmRSS from /proc/self/status), MB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024.0
    return float("nan")


def make_model(folder: Path, size: tuple[int, int], width: float) -> tuple[Path, str]:
    """SegNet-lite exported with torch in a child process, else the tiny onnx.helper model."""
    path = folder / "segnet_lite.onnx"
    result = subprocess.run([sys.executable, "-c", SEGNET_EXPORT, str(size[0]), str(size[1]), str(path), str(width)],
                            check=False, capture_output=True, text=True)
    if result.returncode == 0 and path.exists():
        return path, (f"segnet_lite width {width:g}, 12 classes, random weights (exported with torch, uint8 in, "
                      "argmax out)")
    reason = (result.stderr.strip().splitlines() or ["unknown"])[-1]
    print(f"note: SegNet export unavailable ({reason}); using the onnx.helper tiny model", file=sys.stderr)
    path = build_tiny_onnx(folder / "tiny.onnx", tiny_spec(num_classes=12, input_size=size), width=16, depth=2,
                           embed_preprocess=True, outputs=("labels",))
    return path, "tiny onnx.helper conv net (width 16, depth 2), 12 classes, random weights"


def write_test_video(path: Path, size: tuple[int, int], frames: int) -> Path:
    """An MJPG video of the synthetic road scene at exactly the network's input size."""
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 30.0, (size[1], size[0]))
    with open_source(f"synthetic://?frames={frames}&size={size[0]}x{size[1]}") as source:
        for frame in source:
            writer.write(frame)
    writer.release()
    return path


class ReplaySource(Source):
    """Pre-decoded frames delivered at a fixed rate, like a camera (whose frames cost no decoding)."""

    live = True

    def __init__(self, frames: list[np.ndarray], fps: float, max_frames: int) -> None:
        super().__init__(f"replay://?fps={fps:g}", max_frames=max_frames)
        self.pool, self.fps, self.next_due, self.position = frames, fps, 0.0, 0

    def _open(self) -> None:
        self.next_due = time.perf_counter()

    def _read(self, into: np.ndarray | None = None) -> np.ndarray:
        self.next_due += 1.0 / self.fps
        delay = self.next_due - time.perf_counter()
        if delay > 0:
            time.sleep(delay)
        else:
            self.next_due = time.perf_counter()
        self.position += 1
        return self.pool[self.position % len(self.pool)]


def cpu_time() -> float:
    """CPU seconds used by this process so far (all threads, ONNX Runtime's workers included)."""
    return time.process_time()


def bare_run(segmenter: Segmenter, feeds: list[dict[str, np.ndarray]], count: int) -> dict[str, float]:
    """Backend-only inference of `count` prepared inputs, cycling through `feeds` (no capture, pre/post,
    render or write): FPS, p50 ms and process CPU ms per frame."""
    backend = segmenter.backend
    times = []
    cpu0, start = cpu_time(), time.perf_counter()
    for i in range(count):
        t0 = time.perf_counter()
        backend.infer(feeds[i % len(feeds)])
        times.append(time.perf_counter() - t0)
    elapsed, cpu = time.perf_counter() - start, cpu_time() - cpu0
    return {"fps": count / elapsed, "p50_ms": 1000.0 * float(np.median(times)), "cpu_ms": 1000.0 * cpu / count}


def prepared_inputs(segmenter: Segmenter, frames: list[np.ndarray]) -> list[dict[str, np.ndarray]]:
    """The network inputs of `frames`, preprocessed once (bare inference measures the backend alone)."""
    return [{segmenter.io.input_name: np.array(segmenter.preprocess([frame]))} for frame in frames]


def pipeline_run(segmenter: Segmenter, video: Path, out: Path) -> tuple[RunStats, float]:
    """The file -> file pipeline once: its statistics and the process CPU ms per frame written."""
    with open_source(str(video)) as source:
        sink = open_sink(str(out), fps=source.fps)
        cpu0 = cpu_time()
        try:
            stats = Pipeline(segmenter, source, [sink], status_stream=None).run()
        finally:
            sink.close()
        cpu = cpu_time() - cpu0
    return stats, 1000.0 * cpu / max(1, stats.frames_out)


def throughput(segmenter: Segmenter, video: Path, folder: Path, rounds: int) -> dict[str, Any]:
    """`rounds` rounds of bare inference and the full file->file pipeline over the same frames, the order
    flipped every round (neither always runs first); the ratio is taken per round (neighbours share the
    machine's load) and its median reported."""
    frames = list(open_source(str(video)))
    feeds = prepared_inputs(segmenter, frames)
    bare_run(segmenter, feeds, min(len(feeds), 20))  # warm-up
    rows = []
    for i in range(rounds):
        row: dict[str, Any] = {"order": "bare first" if i % 2 == 0 else "pipeline first"}
        for part in (("bare", "pipeline") if i % 2 == 0 else ("pipeline", "bare")):
            if part == "bare":
                bare = bare_run(segmenter, feeds, len(frames))
                row.update(bare_fps=bare["fps"], bare_cpu_ms=bare["cpu_ms"])
            else:
                stats, cpu_ms = pipeline_run(segmenter, video, folder / f"out{i}.avi")
                row.update(end_to_end_fps=stats.frames_out / stats.wall_seconds, pipeline_cpu_ms=cpu_ms,
                           network_fps=stats.snapshot()["network_fps"], frames=stats.frames_out,
                           thread_cpu_ms=stats.cpu_ms_per_frame())
        row["ratio"] = row["end_to_end_fps"] / row["bare_fps"]
        rows.append(row)
    threads = {name: statistics.median(r["thread_cpu_ms"][name] for r in rows) for name in rows[0]["thread_cpu_ms"]}
    return {"rounds": rows, "bare_fps": [r["bare_fps"] for r in rows],
            "end_to_end_fps": [r["end_to_end_fps"] for r in rows], "ratios": [r["ratio"] for r in rows],
            "bare_median": statistics.median(r["bare_fps"] for r in rows),
            "end_to_end_median": statistics.median(r["end_to_end_fps"] for r in rows),
            "ratio": statistics.median(r["ratio"] for r in rows), "frames": rows[-1]["frames"],
            "bare_cpu_ms": statistics.median(r["bare_cpu_ms"] for r in rows),
            "pipeline_cpu_ms": statistics.median(r["pipeline_cpu_ms"] for r in rows), "thread_cpu_ms": threads}


def live(segmenter: Segmenter, video: Path, frames: int) -> dict[str, Any]:
    """A source at ~3x the model's rate: bounded latency, frames dropped."""
    pool = list(open_source(str(video)))
    network = bare_run(segmenter, prepared_inputs(segmenter, pool), len(pool))["fps"]
    rate = min(300.0, 3.0 * network)
    source = ReplaySource(pool, fps=rate, max_frames=frames).open()
    stats = Pipeline(segmenter, source, [NullSink("null")], status_stream=None).run()
    s = stats.summaries()
    return {"source_fps": rate, "frames_in": stats.frames_in, "frames_out": stats.frames_out,
            "dropped": stats.dropped, "thread_cpu_ms": stats.cpu_ms_per_frame(), "inference_p50": s["inference"]["p50"],
            "inference_p99": s["inference"]["p99"], "e2e_p50": s["end_to_end"]["p50"],
            "e2e_p99": s["end_to_end"]["p99"], "ratio": s["end_to_end"]["p99"] / s["inference"]["p50"]}


def soak(segmenter: Segmenter, video: Path, frames: int) -> dict[str, Any]:
    """A long looped file run; RSS sampled about twice a second."""
    samples = [rss_mb()]
    with open_source(str(video), loop=True, max_frames=frames) as source:
        pipeline = Pipeline(segmenter, source, [NullSink("null")], status_stream=None, status_interval=0.5,
                            on_status=lambda _stats: samples.append(rss_mb()))
        stats = pipeline.run()
    samples.append(rss_mb())
    tenth = max(1, len(samples) // 10)
    return {"frames": stats.frames_out, "seconds": stats.wall_seconds, "rss_start": samples[0],
            "rss_after_warmup": samples[min(tenth, len(samples) - 1)], "rss_end": samples[-1],
            "rss_max": max(samples), "samples": len(samples)}


LOADED_SHARE = 0.5  # other work using more than this share of the cores makes wall-clock figures unreliable


def load_note(meta: dict[str, Any]) -> str:
    """One line saying whether the machine was loaded (wall-clock figures) or quiet."""
    cores, before, after = meta["cpu_count"], meta["load_before"], meta["load_after"]
    if before > LOADED_SHARE * cores:
        return (f"**Machine LOADED**: load average {before:.1f} on {cores} cores before the run ({after:.1f} after); "
                "wall-clock FPS and latencies below are depressed and noisy; CPU ms per frame are not.")
    return f"Machine quiet: load average {before:.1f} on {cores} cores before the run ({after:.1f} after, this run included)."


def _cpu_cells(per_thread: dict[str, float]) -> str:
    return ", ".join(f"{name} {ms:.2f}" for name, ms in per_thread.items())


def report(meta: dict[str, Any], tp: dict[str, Any], lv: dict[str, Any], sk: dict[str, Any] | None) -> str:
    """Markdown tables of the three measurements, every throughput round, and CPU time per frame."""
    lines = [(f"Model: {meta['model']}; input {meta['size']}; backend {meta['backend']} (threads "
              f"{meta['threads']}, spinning {meta['spinning']})."), "", load_note(meta), "",
             "| throughput (file -> file) | bare inference FPS | end-to-end FPS | median ratio (per round) | requirement |",
             "|---|---|---|---|---|",
             (f"| median of {len(tp['ratios'])} alternating rounds, {tp['frames']} frames each | "
              f"{tp['bare_median']:.1f} | {tp['end_to_end_median']:.1f} | {tp['ratio']:.2f} | >= 0.90 "
              f"{'met' if tp['ratio'] >= 0.9 else 'NOT met'} |"), "",
             "| round | order | bare FPS | end-to-end FPS | ratio |", "|---|---|---|---|---|"]
    lines += [f"| {i + 1} | {r['order']} | {r['bare_fps']:.1f} | {r['end_to_end_fps']:.1f} | {r['ratio']:.2f} |"
              for i, r in enumerate(tp["rounds"])]
    lines += ["", ("| CPU ms per frame (medians over rounds) | bare inference (process) | pipeline (process) | "
              "pipeline by Python stage thread (ORT workers only in the process figure) |"), "|---|---|---|---|",
              (f"| file -> file | {tp['bare_cpu_ms']:.2f} | {tp['pipeline_cpu_ms']:.2f} | "
               f"{_cpu_cells(tp['thread_cpu_ms'])} |"), "",
              ("| live (source faster than model) | source FPS | frames in / out / dropped | inference p50 / p99 ms | "
               "end-to-end p50 ms | end-to-end p99 ms | p99 / inference p50 | requirement |"),
              "|---|---|---|---|---|---|---|---|",
              (f"| replayed frames at a fixed rate | {lv['source_fps']:.0f} | {lv['frames_in']} / {lv['frames_out']} / "
               f"{lv['dropped']} | {lv['inference_p50']:.1f} / {lv['inference_p99']:.1f} | {lv['e2e_p50']:.1f} | "
               f"{lv['e2e_p99']:.1f} | {lv['ratio']:.2f} | <= 2.0 {'met' if lv['ratio'] <= 2.0 else 'NOT met'} |"),
              "", (f"Live: the pipeline adds {lv['e2e_p50'] - lv['inference_p50']:.1f} ms at the median (frame age "
                   "+ pre/post + render/write); the backend's own jitter, inference p99 / p50, is "
                   f"{lv['inference_p99'] / lv['inference_p50']:.2f} of the 2.0 bound. CPU ms per frame shown, by "
                   f"thread: {_cpu_cells(lv['thread_cpu_ms'])}")]
    if sk:
        lines += ["", "| soak | frames | seconds | RSS start MB | RSS after 10% MB | RSS end MB | RSS max MB |",
                  "|---|---|---|---|---|---|---|",
                  (f"| looped video -> null | {sk['frames']} | {sk['seconds']:.0f} | {sk['rss_start']:.1f} | "
                   f"{sk['rss_after_warmup']:.1f} | {sk['rss_end']:.1f} | {sk['rss_max']:.1f} |")]
    lines += ["", f"Rerun: `{meta['command']}`"]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", help="ONNX model to use (default: build one)")
    parser.add_argument("--size", type=parse_size, default=(120, 160), help="frame and input HxW (default 120x160)")
    parser.add_argument("--width", type=float, default=0.125, help="SegNet-lite width multiplier (default 0.125)")
    parser.add_argument("--frames", type=int, default=300, help="frames of the test video (default 300)")
    parser.add_argument("--rounds", type=int, default=5, help="alternating throughput rounds (default 5)")
    parser.add_argument("--live-frames", type=int, default=3000,
                        help="frames offered by the live source (default 3000: ~10 s, enough samples for a p99)")
    parser.add_argument("--soak-frames", type=int, default=10_000, help="soak run length; 0 skips it")
    parser.add_argument("--threads", type=int, default=None, help="ONNX Runtime threads (default: all cores)")
    parser.add_argument("--no-spinning", dest="spinning", action="store_const", const=False, default=None,
                        help="ONNX Runtime workers sleep between runs (both measurements)")
    parser.add_argument("--json", help="also write the results as JSON here")
    args = parser.parse_args(argv)
    command = "python -m segnet.benchmarks.scripts.pipeline_bench " + " ".join(shlex.quote(a) for a in (argv or sys.argv[1:]))
    with tempfile.TemporaryDirectory(prefix="segnet-pipeline-bench-") as tmp:
        folder = Path(tmp)
        model, what = (Path(args.model), args.model) if args.model else make_model(folder, args.size, args.width)
        video = write_test_video(folder / "input.avi", args.size, args.frames)
        backend_options = {} if args.spinning is None else {"spinning": args.spinning}
        with Segmenter(model, threads=args.threads, log=None, **backend_options) as segmenter:
            size = segmenter.input_size
            meta = {"model": what, "size": f"{size[0]}x{size[1]}", "backend": segmenter.backend.name,
                    "threads": args.threads or "default", "spinning": "off" if args.spinning is False else "default",
                    "cpu_count": len(os.sched_getaffinity(0)), "load_before": os.getloadavg()[0],
                    "command": command.strip()}
            print(f"measuring throughput ({args.rounds} alternating rounds)...", file=sys.stderr)
            tp = throughput(segmenter, video, folder, args.rounds)
            print("measuring live mode...", file=sys.stderr)
            lv = live(segmenter, video, args.live_frames)
            sk = None
            if args.soak_frames:
                print(f"soak run of {args.soak_frames} frames...", file=sys.stderr)
                sk = soak(segmenter, video, args.soak_frames)
    meta["load_after"] = os.getloadavg()[0]
    print(report(meta, tp, lv, sk))
    if args.json:
        atomic.write_text(args.json, json.dumps({"meta": meta, "throughput": tp, "live": lv, "soak": sk},
                                                indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
