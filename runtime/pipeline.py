"""The streaming pipeline: capture, inference and render/write in threads joined by bounded queues.

Frames travel in the Segmenter's FrameSlots, a fixed pool of them reused frame after frame: the source
decodes into a slot's frame (straight into the backend's input memory where it can), the backend writes
its outputs into the slot, the sinks get them from there, then the slot goes back to the pool. Backends that
overlap inferences (TensorRT's two buffer sets) get frame n+1 submitted before frame n is collected. Models
with the frame path in their graph give the overlay itself: the host touches no pixel.

Files: three threads (capture+decode, inference, render+write) so decoding and encoding overlap inference;
small blocking queues, every frame is processed, none dropped. Live sources (cameras, streams, paced
synthetic): a capture thread feeding a one-slot queue where the newest frame replaces a waiting one (counted
as dropped), and one thread that takes the newest frame the moment it is free, infers, renders and writes —
no second hand-over on the latency path (set `inline_render` to choose). Each stage thread's CPU time is
recorded (RunStats.cpu_seconds), which stays meaningful on a loaded machine where wall times do not.
SIGINT/SIGTERM stop the run cleanly: capture stops, the queued frames are finished, sinks are closed.
"""

from __future__ import annotations

import functools
import signal
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from typing import Any, TextIO

import numpy as np

from segnet import render
from segnet.errors import SegnetError
from segnet.runtime.run_stats import REMOTE_STAGES, RunStats
from segnet.runtime.segmenter import FrameSlot, Job, Segmenter
from segnet.runtime.sinks import Sink, SinkFrame
from segnet.runtime.sources import Source


class FrameQueue:
    """Bounded hand-over between two threads, woken by notification only (no polling, no timers).
    drop_oldest: a full queue discards its oldest item for the new one (live mode); otherwise `put` waits
    for room (file mode) until `stopping` is set. To wake threads less often (each wake-up is a context
    switch and a GIL hand-over on the inference thread's core), a waiting producer is woken once the queue
    has drained to half its capacity, and a waiting consumer once `wake_consumer_at` items are queued."""

    def __init__(self, capacity: int, drop_oldest: bool, wake_consumer_at: int = 1,
                 on_drop: Callable[[Any], None] | None = None) -> None:
        self.on_drop = on_drop  # gets each item a full live queue discards
        self.items: deque[Any] = deque()
        self.capacity = capacity
        self.drop_oldest = drop_oldest
        self.closed = False
        self.condition = threading.Condition()
        self.refill_at = capacity // 2
        self.wake_consumer_at = max(1, min(wake_consumer_at, capacity))
        self.producer_waiting = self.consumer_waiting = False

    def put(self, item: Any, stopping: threading.Event) -> int:
        """Add `item`; returns how many items were dropped to make room (0 or 1)."""
        with self.condition:
            dropped = 0
            if len(self.items) >= self.capacity:
                if self.drop_oldest:
                    old = self.items.popleft()
                    dropped = 1
                    if self.on_drop is not None:
                        self.on_drop(old)
                else:
                    self.producer_waiting = True
                    while len(self.items) > self.refill_at and not stopping.is_set():
                        self.condition.wait()
                    self.producer_waiting = False
            self.items.append(item)
            if self.consumer_waiting and len(self.items) >= self.wake_consumer_at:
                self.condition.notify_all()
            return dropped

    def get(self) -> Any:
        """The next item, or None once the queue is closed and empty."""
        with self.condition:
            if not self.items:
                self.consumer_waiting = True
                while len(self.items) < self.wake_consumer_at and not self.closed:
                    self.condition.wait()
                self.consumer_waiting = False
            item = self.items.popleft() if self.items else None
            if self.producer_waiting and len(self.items) <= self.refill_at:
                self.condition.notify_all()
            return item

    def wake(self) -> None:
        """Wake every waiting thread so it re-checks its condition (the run is stopping)."""
        with self.condition:
            self.condition.notify_all()

    def ready(self) -> bool:
        """Whether an item is waiting (a hint: another thread may change it right after)."""
        return bool(self.items)

    def close(self) -> None:
        with self.condition:
            self.closed = True
            self.condition.notify_all()


class SlotPool:
    """The FrameSlots of a run: at most `size` exist; `acquire` hands out a free one (None: make one, while
    fewer than `size` exist) and waits when all are in use, until `release` or the run stops."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.free: deque[FrameSlot] = deque()
        self.issued = 0
        self.condition = threading.Condition()

    def acquire(self, stopping: threading.Event) -> tuple[bool, FrameSlot | None]:
        """(True, slot or None to make) or (False, None) when the run stops first."""
        with self.condition:
            while not self.free and self.issued >= self.size and not stopping.is_set():
                self.condition.wait()
            if stopping.is_set():
                return False, None
            if self.free:
                return True, self.free.popleft()
            self.issued += 1
            return True, None

    def release(self, slot: FrameSlot) -> None:
        with self.condition:
            self.free.append(slot)
            self.condition.notify()

    def fill(self, make: Callable[[], FrameSlot]) -> None:
        """Make every slot not made yet now (at the first frame), so none is allocated mid-stream."""
        while True:
            with self.condition:
                if self.issued >= self.size:
                    return
                self.issued += 1
            self.release(make())

    def wake(self) -> None:
        with self.condition:
            self.condition.notify_all()


class Pipeline:
    """Streams `source` through `segmenter` into `sinks`. `run()` blocks until the source ends, a sink asks
    to stop, `stop()` is called or SIGINT/SIGTERM arrive, and returns the run's statistics.
    inline_render: render and write on the inference thread (lowest latency, the default for live sources)
    instead of a thread of their own (overlaps encoding with inference: the default for files)."""

    def __init__(self, segmenter: Segmenter, source: Source, sinks: Sequence[Sink],
                 visualize: Sequence[str] = ("overlay",), alpha: float = 0.5, legend: bool = False,
                 ignore_class: int | None = None, hud: bool = False, class_stats: bool = False,
                 queue_size: int = 4, status_interval: float = 1.0, status_stream: TextIO | None = sys.stderr,
                 stats_window: int = 10_000, on_status: Callable[[RunStats], None] | None = None,
                 inline_render: bool | None = None) -> None:
        self.segmenter, self.source, self.sinks = segmenter, source, list(sinks)
        self.visualize = tuple(visualize)
        self.alpha, self.legend, self.ignore_class, self.hud = alpha, legend, ignore_class, hud
        self.class_stats = class_stats
        self.status_interval, self.status_stream = status_interval, status_stream
        self.on_status = on_status
        spec = segmenter.spec
        self.stats = RunStats(window=stats_window, class_names=spec.class_names)
        live = source.live
        self.inline_render = live if inline_render is None else inline_render
        self.captured = FrameQueue(1 if live else queue_size, drop_oldest=live, on_drop=self._dropped)
        self.segmented = FrameQueue(1 if live else queue_size, drop_oldest=live,
                                    wake_consumer_at=1 if live else queue_size // 2, on_drop=self._dropped)
        self.in_flight = max(1, segmenter.backend.max_in_flight)
        # every slot a frame can be in: both queues, in flight, being captured, being written
        self.slots = SlotPool(self.captured.capacity + self.segmented.capacity + self.in_flight + 2)
        self._check_outputs()
        self.stopping = threading.Event()
        self.errors: list[BaseException] = []
        self.hud_text: list[str] = []
        self.lut = render.color_lut(spec.palette)

    def stop(self) -> None:
        """Ask the run to end (safe from signal handlers and other threads)."""
        self.stopping.set()
        self.captured.wake()
        self.segmented.wake()
        self.slots.wake()

    def _check_outputs(self) -> None:
        """What the run asks for must be there: a class map for the class statistics and host panels."""
        frame = self.segmenter.frame_path
        if frame is None or "labels" in frame.outputs:
            return
        missing = [m for m in self.visualize if m not in frame.outputs]
        if self.class_stats or missing:
            what = "--class-stats" if self.class_stats else f"--visualize {','.join(missing)}"
            raise SegnetError(f"{self.segmenter.model_path}: {what} needs a class map or that output, and the "
                              f"model outputs {','.join(frame.outputs)}; re-export with --outputs "
                              f"{','.join(dict.fromkeys([*frame.outputs, *missing, 'labels']))}")

    def _dropped(self, item: tuple[Any, ...]) -> None:
        """A live queue replaced this frame by a newer one: its slot is free again."""
        self.slots.release(item[1])

    # -- the three stages ------------------------------------------------------------------------------
    def _guard(self, name: str, body: Callable[[], None], closes: FrameQueue | None) -> Callable[[], None]:
        """Run a stage; on error remember it and stop the run; always close the stage's output queue and
        record the thread's CPU time under `name`."""
        def target() -> None:
            cpu_start = time.thread_time()
            try:
                body()
            except BaseException as exc:  # noqa: BLE001 (re-raised by run() in the main thread)
                self.errors.append(exc)
                self.stop()
            finally:
                self.stats.add_cpu(name, time.thread_time() - cpu_start)
                if closes is not None:
                    closes.close()
        return target

    def _capture(self) -> None:
        index = 0
        while not self.stopping.is_set():
            ok, slot = self.slots.acquire(self.stopping)
            if not ok:
                break
            start = time.perf_counter()
            frame = self.source.read(into=None if slot is None else self.segmenter.capture_target(slot))
            if frame is not None:
                made = slot is None
                slot = self.segmenter.load(slot, frame)
                if made and index == 0:
                    self.slots.fill(functools.partial(self.segmenter.new_slot, frame.shape))
            stamp = time.perf_counter()  # when the frame was grabbed: end-to-end latency starts here
            self.stats.skipped, self.stats.reconnects = self.source.skipped, self.source.reconnects
            if frame is None:
                if slot is not None:
                    self.slots.release(slot)
                break
            assert slot is not None
            dropped = self.captured.put((index, slot, stamp), self.stopping)
            self.stats.record({"capture": (stamp - start) * 1000.0}, frames_in=1, dropped=dropped)
            index += 1

    def _infer(self) -> None:
        """Submit each frame; collect the oldest once `in_flight` are running, or when nothing is waiting
        to overlap with (so a live frame is never held back for the next one)."""
        running: deque[tuple[int, Job, float]] = deque()
        while True:
            if running and not self.captured.ready():
                self._collect(*running.popleft())
                continue
            item = self.captured.get()
            if item is None:
                break
            index, slot, stamp = item
            running.append((index, self.segmenter.submit(slot, self.alpha, self.ignore_class), stamp))
            while len(running) >= self.in_flight:
                self._collect(*running.popleft())
        while running:
            self._collect(*running.popleft())

    def _collect(self, index: int, job: Job, stamp: float) -> None:
        slot = job.result()
        timing = job.timing
        times = {"pre": timing["pre"], "inference": timing["infer"], "post": timing["post"]}
        times.update({stage: timing[stage] for stage in REMOTE_STAGES if stage in timing})
        if self.inline_render:
            self.stats.add_times(times)
            self._emit(index, slot, stamp)
        else:
            dropped = self.segmented.put((index, slot, stamp), self.stopping)
            self.stats.record(times, dropped=dropped)

    def _render_and_write(self) -> None:
        while True:
            item = self.segmented.get()
            if item is None:
                return
            self._emit(*item)

    def _emit(self, index: int, slot: FrameSlot, stamp: float) -> None:
        """Render one frame, hand it to every sink, record its times and free its slot."""
        try:
            start = time.perf_counter()
            image = self.render(slot)
            mid = time.perf_counter()
            out = SinkFrame(index=index, image=image, class_map=slot.labels)
            for sink in self.sinks:
                sink.write(out)
            end = time.perf_counter()
            self.stats.record({"render": (mid - start) * 1000.0, "write": (end - mid) * 1000.0,
                               "end_to_end": (end - stamp) * 1000.0}, frames_out=1)
            if self.class_stats and slot.labels is not None:
                self.stats.add_class_map(index, slot.labels)
        finally:
            self.slots.release(slot)
        if any(sink.stop_requested for sink in self.sinks):
            self.stop()

    def render(self, slot: FrameSlot) -> np.ndarray:
        """The picture sinks get: overlay and/or mask (the model's own outputs where it gives them, else
        drawn on the host into the slot's buffers), with legend and HUD when asked for."""
        outputs = slot.outputs if self.segmenter.frame_path is not None else {}
        if all(mode in outputs for mode in self.visualize):
            image = render.side_by_side([outputs[mode][0] for mode in self.visualize], slot.buffers)
        else:
            assert slot.labels is not None
            image = render.compose(slot.frame, slot.labels, self.lut, self.visualize, self.alpha, self.ignore_class,
                                   slot.buffers)
        if self.legend:
            spec = self.segmenter.spec
            present = None if slot.labels is None else np.flatnonzero(
                render.class_counts(slot.labels, spec.num_labels)).tolist()
            render.draw_legend(image, spec.class_names, spec.palette, present)
        if self.hud and self.hud_text:
            render.draw_hud(image, self.hud_text)
        return image

    # -- driving the run -------------------------------------------------------------------------------
    def run(self) -> RunStats:
        stages: list[tuple[str, Callable[[], None], FrameQueue | None]] = [("capture", self._capture, self.captured)]
        if self.inline_render:
            stages.append(("infer+render", self._infer, None))
        else:
            stages += [("infer", self._infer, self.segmented), ("render", self._render_and_write, None)]
        threads = [threading.Thread(target=self._guard(name, body, closes), name=f"segnet-{name}", daemon=True)
                   for name, body, closes in stages]
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
        snapshot = self.stats.snapshot(advance=True)  # one per interval: HUD, sinks and status line share it
        self.hud_text = [f"end-to-end {snapshot['recent_fps']:.1f} FPS  network {snapshot['network_fps']:.1f} FPS",
                         f"latency p50 {snapshot['latency_p50_ms']:.0f} ms  p99 {snapshot['latency_p99_ms']:.0f} ms"]
        for sink in self.sinks:
            sink.update_stats(snapshot)
        if self.status_stream is not None:
            line = self.stats.status_line(snapshot)
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
