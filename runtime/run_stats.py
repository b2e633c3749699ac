"""Statistics of one streaming run: per-stage and end-to-end latency, frame counters, class shares.

Thread-safe (capture, inference and render threads add, the main thread reads) and bounded in memory:
latencies keep the last `window` samples per stage (segnet.runtime.stats.LatencyStats), class shares
the last `class_window` frames plus a running mean over all of them. Two rates, never mixed up:
network FPS = 1000 / mean inference latency (what the backend could do alone) and end-to-end FPS =
frames written / wall time (what the whole pipeline delivered). A remote backend's inference
splits into "server" (its compute) and "transport" (the rest of the round trip). CPU seconds per stage thread
(`add_cpu`) give a cost per frame that, unlike wall times, holds on a loaded machine.
"""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from collections.abc import Sequence
from typing import Any

import numpy as np

from segnet import render
from segnet.runtime.stats import LatencyStats

STAGES = ("capture", "pre", "inference", "post", "render", "write", "end_to_end")
# a remote backend (Triton) splits inference into the server's compute and the rest of the round trip
REMOTE_STAGES = ("server", "transport")


def _fps(ms: float) -> float:
    return 1000.0 / ms if ms and not math.isnan(ms) and ms > 0 else float("nan")


class RunStats:
    """Counters and latency windows of a pipeline run."""

    def __init__(self, window: int = 10_000, class_names: Sequence[str] | None = None,
                 class_window: int = 1000) -> None:
        self.lock = threading.Lock()
        self.stages: dict[str, LatencyStats] = {name: LatencyStats(window) for name in STAGES + REMOTE_STAGES}
        self.frames_in = 0
        self.frames_out = 0
        self.dropped = 0
        self.skipped = 0
        self.reconnects = 0
        self.start = time.perf_counter()
        self.end: float | None = None
        self.class_names = list(class_names) if class_names is not None else None
        self.class_frames: deque[tuple[int, list[float]]] = deque(maxlen=class_window)
        self.class_sum: np.ndarray | None = None
        self.class_count = 0
        self._tick: tuple[float, int] = (self.start, 0)
        self.cpu_seconds: dict[str, float] = {}

    def add(self, stage: str, milliseconds: float) -> None:
        with self.lock:
            self.stages[stage].add(milliseconds)

    def add_times(self, times: dict[str, float]) -> None:
        with self.lock:
            for stage, milliseconds in times.items():
                self.stages[stage].add(milliseconds)

    def record(self, times: dict[str, float], **increments: int) -> None:
        """add_times and count in one locked step (one lock round per stage and frame on the hot path)."""
        with self.lock:
            for stage, milliseconds in times.items():
                self.stages[stage].add(milliseconds)
            for name, value in increments.items():
                setattr(self, name, getattr(self, name) + value)

    def add_cpu(self, thread: str, seconds: float) -> None:
        """CPU time a stage thread used (time.thread_time), added up per thread name."""
        with self.lock:
            self.cpu_seconds[thread] = self.cpu_seconds.get(thread, 0.0) + seconds

    def cpu_ms_per_frame(self) -> dict[str, float]:
        """CPU milliseconds per frame written, per stage thread and in total."""
        with self.lock:
            cpu = dict(self.cpu_seconds)
        frames = max(1, self.frames_out)
        per_frame = {name: 1000.0 * seconds / frames for name, seconds in cpu.items()}
        if per_frame:
            per_frame["total"] = sum(per_frame.values())
        return per_frame

    def count(self, **increments: int) -> None:
        """Add to counters: frames_in, frames_out, dropped."""
        with self.lock:
            for name, value in increments.items():
                setattr(self, name, getattr(self, name) + value)

    def add_class_map(self, index: int, class_map: np.ndarray) -> None:
        """Record the share of pixels of each class in one frame."""
        labels = len(self.class_names) if self.class_names else 256
        counts = render.class_counts(class_map, labels)
        share = counts / max(1, class_map.size)
        with self.lock:
            self.class_frames.append((index, [round(float(v), 6) for v in share]))
            self.class_sum = share if self.class_sum is None else self.class_sum + share
            self.class_count += 1

    def finish(self) -> None:
        self.end = time.perf_counter()

    @property
    def wall_seconds(self) -> float:
        return (self.end or time.perf_counter()) - self.start

    def summaries(self) -> dict[str, dict[str, float]]:
        with self.lock:
            return {name: stats.summary() for name, stats in self.stages.items()}

    def snapshot(self, advance: bool = False) -> dict[str, Any]:
        """The headline numbers (for the status line, the HUD and the live view).

        `recent_fps` is the end-to-end rate since the last advancing snapshot (the run's start before the
        first). Only the status reporter passes advance=True, once per status interval, and hands that one
        snapshot to the HUD, the sinks and `status_line`; every other reader (to_dict, table, a final
        report) leaves the window alone, so reading the stats never shortens it."""
        summaries = self.summaries()
        with self.lock:
            now = time.perf_counter()
            last_time, last_out = self._tick
            last_time = max(last_time, self.start)  # the pipeline restarts the clock when it starts its threads
            frames_in, frames_out = self.frames_in, self.frames_out
            dropped, skipped, reconnects = self.dropped, self.skipped, self.reconnects
            if advance:
                self._tick = (now, frames_out)
        recent = (frames_out - last_out) / (now - last_time) if now > last_time else float("nan")
        wall = (self.end or now) - self.start
        return {
            "frames_in": frames_in, "frames_out": frames_out, "dropped": dropped,
            "skipped": skipped, "reconnects": reconnects, "wall_s": round(wall, 3),
            "end_to_end_fps": frames_out / wall if wall > 0 else float("nan"),
            "recent_fps": recent,
            "network_fps": _fps(summaries["inference"]["mean"]),
            "inference_p50_ms": summaries["inference"]["p50"],
            "latency_p50_ms": summaries["end_to_end"]["p50"],
            "latency_p99_ms": summaries["end_to_end"]["p99"],
        }

    def status_line(self, snapshot: dict[str, Any] | None = None) -> str:
        """One line of live status from `snapshot` (the one the reporter just took for the HUD and the sinks);
        without one it takes an advancing snapshot itself, as the only reporter."""
        s = snapshot if snapshot is not None else self.snapshot(advance=True)
        return (f"frames {s['frames_out']:>6} | end-to-end {s['recent_fps']:6.1f} FPS | network "
                f"{s['network_fps']:6.1f} FPS | latency p50 {s['latency_p50_ms']:6.1f} p99 "
                f"{s['latency_p99_ms']:6.1f} ms | dropped {s['dropped']} | skipped {s['skipped']}")

    def to_dict(self) -> dict[str, Any]:
        """Everything, for `segnet run --json` (JSON)."""
        data = self.snapshot()
        data.pop("recent_fps")
        data["latency_window"] = self.stages["end_to_end"].samples.maxlen
        data["stages_ms"] = self.summaries()
        data["cpu_ms_per_frame"] = self.cpu_ms_per_frame()
        if self.class_sum is not None:
            with self.lock:
                mean = (self.class_sum / self.class_count).tolist()
                frames = list(self.class_frames)
            names = self.class_names or [f"class{i}" for i in range(len(mean))]
            data["class_share"] = {
                "names": names,
                "mean": {name: round(v, 6) for name, v in zip(names, mean)},
                "frames": [{"index": i, "share": share} for i, share in frames],
                "frames_window": self.class_frames.maxlen,
            }
        return data

    def table(self) -> str:
        """The final report: stage latencies and both FPS figures."""
        summaries = self.summaries()
        s = self.snapshot()
        lines = [f"{'stage':<12}{'count':>8}{'mean':>9}{'p50':>9}{'p90':>9}{'p99':>9}{'max':>9}  (ms)"]
        remote = [name for name in REMOTE_STAGES if summaries[name]["count"]]
        for name in STAGES + tuple(remote):
            m = summaries[name]
            lines.append(f"{name:<12}{int(m['count']):>8}{m['mean']:>9.2f}{m['p50']:>9.2f}{m['p90']:>9.2f}"
                         f"{m['p99']:>9.2f}{m['max']:>9.2f}")
        lines += [
            (f"frames in {s['frames_in']}, out {s['frames_out']}, dropped {s['dropped']} (live: stale frames "
             f"replaced by newer ones), skipped {s['skipped']} (undecodable), reconnects {s['reconnects']}"),
            f"end-to-end FPS {s['end_to_end_fps']:.1f} (frames out / {s['wall_s']:.1f} s wall time)",
            f"network FPS    {s['network_fps']:.1f} (1000 / mean inference latency)",
        ]
        if remote:
            lines.append("inference on a server: server = its compute for the frame's batch, transport = the rest of "
                         "the round trip (transfer, serialisation, queueing)")
        cpu = self.cpu_ms_per_frame()
        if cpu:
            lines.append("CPU ms per frame by thread: " + ", ".join(f"{k} {v:.2f}" for k, v in cpu.items()))
        return "\n".join(lines)
