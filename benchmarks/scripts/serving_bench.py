"""Serving benchmark: N concurrent clients of one `segnet serve` (Triton, dynamic batching) against N
independent local processes with the same model, N = 1, 2, 4, 8 by default, in one run.

Each client is its own process (spawned, so none shares a GIL or a session with another) with its own
Segmenter: `backend="triton"` for the server's clients, ONNX Runtime for the local ones. All clients of a
round start together and each segments `--frames` frames one after another (predict: send, wait, next);
reported per N: total FPS (all frames / wall time of the round) and the per-client latency p50 and p99 of
one frame (pooled over the round's clients). Threads: the server's ONNX Runtime gets all cores; a local
process gets cores // N (at least 1), so both sides use the same CPUs. The model is an onnx.helper conv net
with random weights and a dynamic batch axis (so Triton's batches run as one inference); `--model` takes
another. The server is started from the server environment (.venv-serve, `make serve-venv`).

    python -m segnet.benchmarks.scripts.serving_bench [--clients 1,2,4,8] [--frames 40] [--out DIR]
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from segnet.benchmarks.scripts.common import publish
from segnet.benchmarks.tiny_onnx import build_tiny_onnx, tiny_spec
from segnet.runtime.sources import open_source
from segnet.runtime.stats import LatencyStats
from segnet.runtime.triton_process import ServerProcess

ROOT = Path(__file__).resolve().parents[2]


def client(mode: str, target: str, url: str, threads: int, frames: list[np.ndarray], start: Any,
           results: Any) -> None:
    """One client process: segment every frame in turn, report the per-frame latencies (ms)."""
    from segnet.runtime import Segmenter

    options: dict[str, Any] = {"backend": "triton", "url": url} if mode == "server" else {"threads": threads}
    with Segmenter(target, log=None, **options) as seg:
        seg.predict(frames[0])  # warm up (first request, session arenas)
        start.wait()
        latencies = []
        for frame in frames:
            begin = time.perf_counter()
            seg.predict(frame)
            latencies.append((time.perf_counter() - begin) * 1000.0)
    results.put(latencies)


def round_of(mode: str, count: int, target: str, url: str, frames: list[np.ndarray]) -> dict[str, float]:
    """`count` clients at once; total FPS and pooled per-frame latency percentiles."""
    context = multiprocessing.get_context("spawn")
    start, results = context.Barrier(count + 1), context.Queue()
    threads = max(1, len(os.sched_getaffinity(0)) // count)
    processes = [context.Process(target=client, args=(mode, target, url, threads, frames, start, results))
                 for _ in range(count)]
    for process in processes:
        process.start()
    start.wait()
    begin = time.perf_counter()
    latencies = [results.get(timeout=600) for _ in processes]
    wall = time.perf_counter() - begin
    for process in processes:
        process.join(30)
    stats = LatencyStats(None)
    for values in latencies:
        stats.extend(values)
    summary = stats.summary()
    return {"clients": count, "fps": count * len(frames) / wall, "p50_ms": summary["p50"], "p99_ms": summary["p99"]}


def table(rows: list[dict[str, Any]]) -> str:
    header = ("| clients | server: total FPS | server: p50 / p99 ms | local processes: total FPS | "
              "local: p50 / p99 ms |")
    lines = [header, "|---:|---:|---:|---:|---:|"]
    for row in rows:
        s, lo = row["server"], row["local"]
        lines.append(f"| {row['clients']} | {s['fps']:.1f} | {s['p50_ms']:.1f} / {s['p99_ms']:.1f} | "
                     f"{lo['fps']:.1f} | {lo['p50_ms']:.1f} / {lo['p99_ms']:.1f} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", default="1,2,4,8", help="client counts (default 1,2,4,8)")
    parser.add_argument("--frames", type=int, default=40, help="frames per client per round (default 40)")
    parser.add_argument("--size", default="240x320", help="frame size HxW (default 240x320)")
    parser.add_argument("--model", type=Path, default=None, help="model file (default: the conv net above)")
    parser.add_argument("--queue-delay-us", type=int, default=2000, help="the server's queue delay (default 2000)")
    parser.add_argument("--server-python", type=Path, default=ROOT / ".venv-serve" / "bin" / "python")
    parser.add_argument("--out", type=Path, default=None, help="also write serving_bench.md/.json in this folder")
    args = parser.parse_args(argv)
    counts = [int(v) for v in args.clients.split(",")]
    height, width = (int(v) for v in args.size.split("x"))
    if not args.server_python.is_file():
        print(f"error: {args.server_python} not found: run `make serve-venv`", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        model = args.model or build_tiny_onnx(folder / "bench.onnx", tiny_spec(num_classes=12, input_size=(120, 160)),
                                              width=16, depth=2, batch=None)
        with open_source(f"synthetic://?frames={args.frames}&size={height}x{width}&seed=3") as source:
            frames = [frame.copy() for frame in source]
        cores = len(os.sched_getaffinity(0))
        extra = ["--threads", str(cores), "--queue-delay-us", str(args.queue_delay_us), "--max-batch", str(max(counts))]
        rows = []
        with ServerProcess(args.server_python, model, "bench", folder / "serve.log", extra=extra) as server:
            for count in counts:
                rows.append({"clients": count, "server": round_of("server", count, "bench", server.url, frames),
                             "local": round_of("local", count, str(model), "", frames)})
                print(f"{count} clients: server {rows[-1]['server']['fps']:.1f} FPS, local "
                      f"{rows[-1]['local']['fps']:.1f} FPS", file=sys.stderr)
    meta = {"model": str(args.model) if args.model else "onnx.helper conv net (width 16, depth 2), 12 classes, "
            "120x160 input, random weights, dynamic batch", "frame_size": [height, width], "frames_per_client":
            args.frames, "cpu_count": cores, "queue_delay_us": args.queue_delay_us, "load_after": os.getloadavg()[0]}
    note = (f"({meta['model']}; {height}x{width} frames; {args.frames} frames per client; {cores} CPU cores; "
            f"load average after {meta['load_after']:.2f})")
    publish("serving_bench", [table(rows), note], {"meta": meta, "rows": rows}, args.out, argv)
    return 0


if __name__ == "__main__":
    sys.exit(main())
