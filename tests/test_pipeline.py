"""The threaded pipeline: files processed completely, live sources drop stale frames, clean stops."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest
from runtime_helpers import corrupt_mjpeg, count_video_frames, write_video

from segnet.benchmarks.tiny_onnx import build_tiny_onnx
from segnet.runtime import Segmenter
from segnet.runtime.pipeline import FrameQueue, Pipeline
from segnet.runtime.run_stats import STAGES
from segnet.runtime.sinks import NullSink, Sink, open_sink
from segnet.runtime.sources import open_source


@pytest.fixture(scope="module")
def segmenter(tmp_path_factory):
    path = build_tiny_onnx(tmp_path_factory.mktemp("m") / "tiny.onnx", outputs=("logits",))
    with Segmenter(path, threads=1) as seg:
        yield seg


def _run(segmenter, source, sinks, **options):
    return Pipeline(segmenter, source, sinks, status_stream=None, **options).run()


def test_file_source_every_frame_reaches_the_sinks(segmenter, tmp_path):
    video = write_video(tmp_path / "in.avi", frames=15)
    out = tmp_path / "out.mp4"
    with open_source(str(video)) as source:
        sinks = [open_sink(str(out), fps=source.fps), open_sink(str(tmp_path / "png") + "/"), NullSink("null")]
        stats = _run(segmenter, source, sinks)
        for sink in sinks:
            sink.close()
    assert stats.frames_in == stats.frames_out == 15 and stats.dropped == 0
    assert count_video_frames(out) == 15
    assert len(list((tmp_path / "png").glob("*_classes.png"))) == 15
    summaries = stats.summaries()
    assert all(summaries[stage]["count"] == 15 for stage in STAGES if stage != "capture")
    table = stats.table()
    assert "end-to-end FPS" in table and "network FPS" in table and "p99" in table


def test_corrupt_frames_do_not_stop_the_pipeline(segmenter, tmp_path):
    video = corrupt_mjpeg(write_video(tmp_path / "bad.avi", frames=25), frames=[5, 6, 17])
    with open_source(str(video)) as source:
        sink = NullSink("null")
        stats = _run(segmenter, source, [sink])
    assert stats.frames_out == 22 == sink.written
    assert stats.skipped == 3


def test_live_source_drops_stale_frames(segmenter):
    class Slow(NullSink):
        """At least 20 ms a frame, four times the source's 5 ms on any machine (a fast CI runner once ran a
        small model alone faster than the source)."""

        def write(self, frame):
            time.sleep(0.02)
            super().write(frame)

    sink = Slow("slow")
    with open_source("synthetic://?size=96x128&fps=200", max_frames=60) as source:
        assert source.live
        stats = _run(segmenter, source, [sink])
    assert stats.frames_in == 60
    assert stats.dropped > 0, "a source faster than its consumer must lose stale frames"
    assert stats.frames_out + stats.dropped == stats.frames_in, "every frame is either shown or counted as dropped"
    assert sink.written == stats.frames_out


def test_stop_finishes_the_video(segmenter, tmp_path):
    out = tmp_path / "endless.avi"
    with open_source("synthetic://?size=64x96") as source:
        sink = open_sink(str(out), fps=10)
        pipeline = Pipeline(segmenter, source, [sink], status_stream=None)
        timer = threading.Timer(1.0, pipeline.stop)
        timer.start()
        stats = pipeline.run()
        sink.close()
    assert stats.frames_out > 0
    assert count_video_frames(out) == stats.frames_out


def test_rendering_options_and_class_stats(segmenter, tmp_path):
    class Keep(Sink):
        def write(self, frame):
            self.last = frame

    plain, dressed = Keep("keep"), Keep("keep")
    with open_source("synthetic://?frames=3&size=64x96") as source:
        _run(segmenter, source, [plain])
    with open_source("synthetic://?frames=3&size=64x96") as source:
        stats = _run(segmenter, source, [dressed], visualize=("overlay", "mask"), legend=True, hud=True,
                     class_stats=True)
    assert plain.last.image.shape == (64, 96, 3)
    assert dressed.last.image.shape == (64, 192, 3), "overlay and mask side by side"
    right = segmenter.colorize(dressed.last.class_map)
    assert (dressed.last.image[:, 96:] != right).any(), "the legend is drawn over the mask panel"
    doc = stats.to_dict()
    shares = doc["class_share"]
    assert len(shares["frames"]) == 3 and shares["names"] == segmenter.spec.class_names
    for entry in shares["frames"]:
        assert sum(entry["share"]) == pytest.approx(1.0, abs=1e-4)
    assert sum(shares["mean"].values()) == pytest.approx(1.0, abs=1e-4)


def test_a_failing_sink_stops_the_run_with_its_error(segmenter):
    class Broken(Sink):
        def write(self, frame):
            raise OSError("disk full")

    with open_source("synthetic://?size=64x96") as source, pytest.raises(OSError, match="disk full"):
            _run(segmenter, source, [Broken("broken")])


def test_frame_queue_modes():
    stop = threading.Event()
    live = FrameQueue(1, drop_oldest=True)
    assert live.put(1, stop) == 0 and live.put(2, stop) == 1
    assert live.get() == 2
    files = FrameQueue(2, drop_oldest=False)
    files.put(1, stop)
    files.put(2, stop)
    blocked = threading.Thread(target=files.put, args=(3, stop))
    blocked.start()
    blocked.join(0.3)
    assert blocked.is_alive(), "a full file queue waits for room"
    assert files.get() == 1
    blocked.join(5)
    assert not blocked.is_alive()
    files.close()
    assert [files.get(), files.get(), files.get()] == [2, 3, None]


def test_class_share_memory_is_bounded(segmenter):
    from segnet.runtime.run_stats import RunStats

    stats = RunStats(window=50, class_names=["a", "b"], class_window=20)
    for i in range(500):
        stats.add("inference", float(i))
        stats.add_class_map(i, np.full((4, 4), i % 2, np.uint8))
    assert len(stats.stages["inference"].samples) == 50 and len(stats.class_frames) == 20
    assert stats.to_dict()["class_share"]["mean"] == {"a": 0.5, "b": 0.5}


def _blocked(target, *args):
    thread = threading.Thread(target=target, args=args, daemon=True)
    thread.start()
    thread.join(0.3)
    return thread


def test_frame_queue_wakes_producer_at_half_and_consumer_at_its_mark():
    stop = threading.Event()
    files = FrameQueue(4, drop_oldest=False)
    for i in range(4):
        files.put(i, stop)
    producer = _blocked(files.put, 4, stop)
    assert files.get() == 0
    producer.join(0.3)
    assert producer.is_alive(), "one free slot does not wake the producer yet"
    assert files.get() == 1
    producer.join(5)
    assert not producer.is_alive(), "drained to half: the producer refills"
    batched = FrameQueue(4, drop_oldest=False, wake_consumer_at=2)
    got = []
    consumer = _blocked(lambda: got.append(batched.get()))
    batched.put("a", stop)
    consumer.join(0.3)
    assert consumer.is_alive() and not got, "the consumer waits for two items"
    batched.put("b", stop)
    consumer.join(5)
    assert got == ["a"]


def test_stop_wakes_a_producer_waiting_for_room(segmenter):
    with open_source("synthetic://?frames=5&size=64x96") as source:
        pipeline = Pipeline(segmenter, source, [NullSink("null")], status_stream=None, queue_size=1)
        pipeline.captured.put("first", pipeline.stopping)
        producer = _blocked(pipeline.captured.put, "second", pipeline.stopping)
        assert producer.is_alive()
        pipeline.stop()
        producer.join(5)
        assert not producer.is_alive(), "stop() wakes waiting threads (no polling timer)"


def test_inline_and_threaded_rendering_give_the_same_frames(segmenter, tmp_path):
    class Keep(Sink):
        def __init__(self, uri):
            super().__init__(uri)
            self.images = []

        def write(self, frame):
            self.images.append((frame.index, frame.image.copy()))

    video = write_video(tmp_path / "in.avi", frames=12)
    results = {}
    for inline in (False, True):
        with open_source(str(video)) as source:
            sink = Keep("keep")
            stats = _run(segmenter, source, [sink], visualize=("overlay", "mask"), inline_render=inline)
        results[inline] = sink.images
        threads = {"capture", "infer+render"} if inline else {"capture", "infer", "render"}
        cpu = stats.cpu_ms_per_frame()
        assert set(cpu) == threads | {"total"} and cpu["total"] > 0
        assert stats.frames_out == 12 and "CPU ms per frame" in stats.table()
        assert set(stats.to_dict()["cpu_ms_per_frame"]) == set(cpu)
    assert [i for i, _ in results[True]] == [i for i, _ in results[False]] == list(range(12))
    assert all((a == b).all() for (_, a), (_, b) in zip(results[True], results[False]))


def test_live_sources_render_on_the_inference_thread(segmenter):
    with open_source("synthetic://?size=64x96&fps=500", max_frames=40) as source:
        stats = _run(segmenter, source, [NullSink("null")])
    assert set(stats.cpu_seconds) == {"capture", "infer+render"}
    assert stats.frames_out + stats.dropped == stats.frames_in == 40


def test_compose_colourises_once_and_matches_the_separate_panels(segmenter):
    from segnet import render

    rng = np.random.default_rng(0)
    frame = rng.integers(0, 256, (20, 30, 3), dtype=np.uint8)
    class_map = rng.integers(0, 5, (20, 30), dtype=np.uint8)
    lut = render.color_lut(segmenter.spec.palette)
    both = render.compose(frame, class_map, lut, ("overlay", "mask"), alpha=0.4, ignore=2)
    expected = np.hstack([render.overlay(frame, class_map, lut, 0.4, 2), render.colorize(class_map, lut)])
    assert (both == expected).all()
    small = class_map[::2, ::2]
    assert (render.overlay(frame, small, lut, 0.4) ==
            render.overlay(frame, np.repeat(np.repeat(small, 2, 0), 2, 1), lut, 0.4)).all()
