"""The streaming pipeline: capture, inference and render/write each in a thread, joined by bounded queues.

Live sources (cameras, streams, paced synthetic) go through one-slot queues where the newest frame replaces
a waiting one (counted as dropped), so latency stays bounded when the model is slower than the source.
Files go through small blocking queues: every frame is processed, none dropped. SIGINT/SIGTERM stop the
run cleanly: capture stops, the queued frames are finished, sinks are closed (videos finalised).
"""

from __future__ import annotations

import signal
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from typing import Any, TextIO

import numpy as np
from segnet.runtime import render
from segnet.runtime.run_stats import RunStats
from segnet.runtime.segmenter import Segmenter
from segnet.runtime.sinks import Sink, SinkFrame
from segnet.runtime.sources import Source


class FrameQueue:
    """Bounded hand-over between two threads. drop_oldest: a full queue discards its oldest item for the
    new one (live mode); otherwise `put` waits for room (file mode) unless the run is stopping."""

    def __init__(self, capacity: int, drop_oldest: bool) -> None:
        self.items: deque[Any] = deque()
        self.capacity = capacity
        self.drop_oldest = drop_oldest
        self.closed = False
        self.condition = threading.Condition()

    def put(self, item: Any, stopping: threading.Event) -> int:
        """Add `item`; returns how many items were dropped to make room (0 or 1)."""
        with self.condition:
            dropped = 0
            if len(self.items) >= self.capacity:
                if self.drop_oldest:
                    self.items.popleft()
                    dropped = 1
                else:
                    while len(self.items) >= self.capacity and not stopping.is_set():
                        self.condition.wait(0.1)
            self.items.append(item)
            self.condition.notify_all()
            return dropped

    def get(self) -> Any:
        """The next item, or None once the queue is closed and empty."""
        with self.condition:
            while not self.items and not self.closed:
                self.condition.wait(0.1)
            item = self.items.popleft() if self.items else None
            self.condition.notify_all()
            return item

    def close(self) -> None:
        with self.condition:
            self.closed = True
            self.condition.notify_all()


class Pipeline:
    """Streams `source` through `segmenter` into `sinks`. `run()` blocks until the source ends, a sink asks
    to stop, `stop()` is called or SIGINT/SIGTERM arrive, and returns the run's statistics."""

    def __init__(self, segmenter: Segmenter, source: Source, sinks: Sequence[Sink],
                 visualize: Sequence[str] = ("overlay",), alpha: float = 0.5, legend: bool = False,
                 ignore_class: int | None = None, hud: bool = False, class_stats: bool = False,
                 queue_size: int = 4, status_interval: float = 1.0, status_stream: TextIO | None = sys.stderr,
                 stats_window: int = 10_000, on_status: Callable[[RunStats], None] | None = None) -> None:
        self.segmenter, self.source, self.sinks = segmenter, source, list(sinks)
        self.visualize = tuple(visualize)
        self.alpha, self.legend, self.ignore_class, self.hud = alpha, legend, ignore_class, hud
        self.class_stats = class_stats
        self.status_interval, self.status_stream = status_interval, status_stream
        self.on_status = on_status
        spec = segmenter.spec
        self.stats = RunStats(window=stats_window, class_names=spec.class_names)
        live = source.live
        self.captured = FrameQueue(1 if live else queue_size, drop_oldest=live)
        self.segmented = FrameQueue(1 if live else queue_size, drop_oldest=live)
        self.stopping = threading.Event()
        self.errors: list[BaseException] = []
        self.hud_text: list[str] = []
        self.lut = render.color_lut(spec.palette)

    def stop(self) -> None:
        """Ask the run to end (safe from signal handlers and other threads)."""
        self.stopping.set()

    # -- the three stages ------------------------------------------------------------------------------
    def _guard(self, body: Callable[[], None], closes: FrameQueue | None) -> Callable[[], None]:
        """Run a stage; on error remember it and stop the run; always close the stage's output queue."""
        def target() -> None:
            try:
                body()
            except BaseException as exc:  # noqa: BLE001 (re-raised by run() in the main thread)
                self.errors.append(exc)
                self.stop()
            finally:
                if closes is not None:
                    closes.close()
        return target

    def _capture(self) -> None:
        index = 0
        while not self.stopping.is_set():
            start = time.perf_counter()
            frame = self.source.read()
            stamp = time.perf_counter()
            self.stats.skipped, self.stats.reconnects = self.source.skipped, self.source.reconnects
            if frame is None:
                break
            self.stats.add("capture", (stamp - start) * 1000.0)
            self.stats.count(frames_in=1)
            self.stats.count(dropped=self.captured.put((index, frame, stamp), self.stopping))
            index += 1

    def _infer(self) -> None:
        while True:
            item = self.captured.get()
            if item is None:
                return
            index, frame, stamp = item
            class_map = self.segmenter.predict(frame)
            timing = self.segmenter.last_timing
            self.stats.add_times({"pre": timing["pre"], "inference": timing["infer"], "post": timing["post"]})
            self.stats.count(dropped=self.segmented.put((index, frame, stamp, class_map), self.stopping))

    def _render_and_write(self) -> None:
        while True:
            item = self.segmented.get()
            if item is None:
                return
            index, frame, stamp, class_map = item
            start = time.perf_counter()
            image = self.render(frame, class_map)
            mid = time.perf_counter()
            out = SinkFrame(index=index, image=image, class_map=class_map)
            for sink in self.sinks:
                sink.write(out)
            end = time.perf_counter()
            self.stats.add_times({"render": (mid - start) * 1000.0, "write": (end - mid) * 1000.0,
                                  "end_to_end": (end - stamp) * 1000.0})
            self.stats.count(frames_out=1)
            if self.class_stats:
                self.stats.add_class_map(index, class_map)
            if any(sink.stop_requested for sink in self.sinks):
                self.stop()

    def render(self, frame: np.ndarray, class_map: np.ndarray) -> np.ndarray:
        """The picture sinks get: overlay and/or mask, with legend and HUD when asked for."""
        image = render.compose(frame, class_map, self.lut, self.visualize, self.alpha, self.ignore_class)
        if self.legend:
            spec = self.segmenter.spec
            present = np.flatnonzero(np.bincount(class_map.ravel(), minlength=spec.num_labels)).tolist()
            render.draw_legend(image, spec.class_names, spec.palette, present)
        if self.hud and self.hud_text:
            render.draw_hud(image, self.hud_text)
        return image

    # -- driving the run -------------------------------------------------------------------------------
    def run(self) -> RunStats:
        threads = [
            threading.Thread(target=self._guard(self._capture, self.captured), name="segnet-capture", daemon=True),
            threading.Thread(target=self._guard(self._infer, self.segmented), name="segnet-infer", daemon=True),
            threading.Thread(target=self._guard(self._render_and_write, None),
                             name="segnet-render", daemon=True),
        ]
        restore = self._install_signal_handlers()
        try:
            self.stats.start = time.perf_counter()
            for thread in threads:
                thread.start()
            while threads[-1].is_alive():
                threads[-1].join(self.status_interval)
                if threads[-1].is_alive():
                    self._report_status()
            self.stats.finish()
        finally:
            self.stop()
            for thread in threads:
                thread.join(5.0)
            restore()
            for sink in self.sinks:
                sink.update_stats(self.stats.snapshot())
        if self.status_stream is not None and self.status_stream.isatty():
            print(file=self.status_stream)
        if self.errors:
            raise self.errors[0]
        return self.stats

    def _report_status(self) -> None:
        snapshot = self.stats.snapshot()
        self.hud_text = [f"end-to-end {snapshot['recent_fps']:.1f} FPS  network {snapshot['network_fps']:.1f} FPS",
                         f"latency p50 {snapshot['latency_p50_ms']:.0f} ms  p99 {snapshot['latency_p99_ms']:.0f} ms"]
        for sink in self.sinks:
            sink.update_stats(snapshot)
        if self.status_stream is not None:
            line = self.stats.status_line()
            tty = self.status_stream.isatty()
            self.status_stream.write(("\r" + line) if tty else line + "\n")
            self.status_stream.flush()
        if self.on_status is not None:
            self.on_status(self.stats)

    def _install_signal_handlers(self) -> Callable[[], None]:
        """SIGINT/SIGTERM -> stop() (main thread only); returns a function restoring the old handlers.
        A second signal while stopping gets the previous handler (Ctrl+C twice forces the exit)."""
        if threading.current_thread() is not threading.main_thread():
            return lambda: None
        previous = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}

        def handler(signum: int, _frame: Any) -> None:
            if self.stopping.is_set():
                old = previous[signal.Signals(signum)]
                if callable(old):
                    old(signum, _frame)
                return
            print(f"\nsegnet: {signal.Signals(signum).name} received, finishing queued frames...", file=sys.stderr)
            self.stop()

        for sig in previous:
            signal.signal(sig, handler)

        def restore() -> None:
            for sig, old in previous.items():
                signal.signal(sig, old)
        return restore
