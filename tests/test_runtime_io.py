"""Sources and sinks on real files written by the tests (no mocks of OpenCV)."""

from __future__ import annotations

import json
import urllib.request

import cv2
import numpy as np
import pytest
from runtime_helpers import corrupt_mjpeg, count_video_frames, scene, write_video

from segnet.errors import SegnetError
from segnet.runtime.http_view import HttpSink, is_loopback, parse_address
from segnet.runtime.sinks import (
    FolderSink,
    NullSink,
    SinkFrame,
    VideoSink,
    open_sink,
    open_sinks,
)
from segnet.runtime.sources import gstreamer_available, open_source, parse_size


def _frame(i, h=64, w=96):
    image = scene(i, h, w)
    return SinkFrame(index=i, image=image, class_map=(image[..., 0] // 64).astype(np.uint8))


def test_video_file_is_read_frame_by_frame(tmp_path):
    video = write_video(tmp_path / "clip.avi", frames=12)
    with open_source(str(video)) as source:
        frames = list(source)
    assert len(frames) == 12 and not source.live and source.skipped == 0
    assert frames[0].shape == (64, 96, 3) and frames[0].dtype == np.uint8
    assert source.fps == pytest.approx(10.0)


def test_video_loop_and_max_frames(tmp_path):
    video = write_video(tmp_path / "clip.avi", frames=5)
    with open_source(f"file://{video}", loop=True, max_frames=13) as source:
        assert sum(1 for _ in source) == 13


def test_corrupt_frames_are_skipped_and_counted(tmp_path):
    video = corrupt_mjpeg(write_video(tmp_path / "bad.avi", frames=30), frames=[8, 9, 20])
    with open_source(str(video)) as source:
        frames = list(source)
    assert len(frames) == 27
    assert source.skipped == 3


def test_image_folder_glob_and_single_image(tmp_path):
    folder = tmp_path / "images"
    folder.mkdir()
    for i in range(4):
        cv2.imwrite(str(folder / f"{i:03d}.png"), scene(i))
    (folder / "004.jpg").write_bytes(b"not really a jpeg")
    (folder / "notes.txt").write_text("ignored")
    with open_source(str(folder)) as source:
        frames = list(source)
    assert len(frames) == 4 and source.skipped == 1
    np.testing.assert_array_equal(frames[2], scene(2))
    with open_source(str(folder / "*.png")) as source:
        assert sum(1 for _ in source) == 4
    with open_source(str(folder / "001.png"), loop=True, max_frames=3) as source:
        assert [f.mean() for f in source] == [scene(1).mean()] * 3
    with open_source(str(folder / "001.png")) as source:
        assert sum(1 for _ in source) == 1


def test_synthetic_source(tmp_path):
    with open_source("synthetic://?frames=5&size=48x64&seed=2") as source:
        frames = list(source)
    assert len(frames) == 5 and frames[0].shape == (48, 64, 3) and not source.live
    assert not np.array_equal(frames[0], frames[4]), "the scene should move"
    with open_source("synthetic://?size=48x64&fps=50", max_frames=3) as live:
        assert live.live and live.fps == 50 and sum(1 for _ in live) == 3


def test_bad_sources_give_clear_errors(tmp_path):
    with pytest.raises(SegnetError, match="not found"):
        open_source(str(tmp_path / "missing.mp4"))
    with pytest.raises(SegnetError, match="no images"):
        open_source(str(tmp_path / "*.png"))
    (tmp_path / "broken.mp4").write_bytes(b"\x00" * 100)
    with pytest.raises(SegnetError, match="cannot open source"):
        open_source(str(tmp_path / "broken.mp4"))
    with pytest.raises(SegnetError, match="unknown option"):
        open_source("synthetic://?frame=3")
    with pytest.raises(SegnetError, match="HEIGHTxWIDTH"):
        parse_size("320")
    if not gstreamer_available():
        with pytest.raises(SegnetError, match="GStreamer"):
            open_source("csi://0")
        with pytest.raises(SegnetError, match="GStreamer"):
            open_source("videotestsrc ! appsink")


def test_video_sink_is_finalised_on_close(tmp_path):
    path = tmp_path / "out.mp4"
    sink = open_sink(str(path), fps=15)
    assert isinstance(sink, VideoSink)
    for i in range(7):
        sink.write(_frame(i))
    assert not path.exists(), "the video appears only when complete"
    sink.close()
    assert count_video_frames(path) == 7
    assert [p.name for p in tmp_path.iterdir()] == ["out.mp4"], "no temporary file left behind"
    avi = tmp_path / "out.avi"
    with open_sink(str(avi)) as sink:
        for i in range(3):
            sink.write(_frame(i))
    assert count_video_frames(avi) == 3
    with pytest.raises(SegnetError, match="unknown video type"):
        open_sink(str(tmp_path / "out.xyz"))


def test_folder_sink_writes_overlays_and_raw_class_maps(tmp_path):
    for uri in (str(tmp_path / "a") + "/", f"folder://{tmp_path / 'b'}"):
        sink = open_sink(uri)
        assert isinstance(sink, FolderSink)
        frames = [_frame(i) for i in range(3)]
        for frame in frames:
            sink.write(frame)
        sink.close()
        names = sorted(p.name for p in sink.folder.iterdir())
        assert names == ["000000.png", "000000_classes.png", "000001.png", "000001_classes.png",
                         "000002.png", "000002_classes.png"]
        classes = cv2.imread(str(sink.folder / "000001_classes.png"), cv2.IMREAD_UNCHANGED)
        np.testing.assert_array_equal(classes, frames[1].class_map)
        np.testing.assert_array_equal(cv2.imread(str(sink.folder / "000002.png")), frames[2].image)


def test_null_sink_and_several_sinks(tmp_path):
    sinks = open_sinks(["null", str(tmp_path / "v.avi")], fps=5)
    assert isinstance(sinks[0], NullSink)
    for sink in sinks:
        sink.write(_frame(0))
        sink.close()
    assert sinks[0].written == 1 and count_video_frames(tmp_path / "v.avi") == 1
    with pytest.raises(SegnetError, match="unknown output"):
        open_sinks(["null", "ftp://x"])


def test_display_sink_explains_when_it_cannot_work(monkeypatch):
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    with pytest.raises(SegnetError, match="display"):
        open_sink("display://0")


def test_http_sink_serves_frames_and_stats():
    sink = open_sink("http://127.0.0.1:0")
    assert isinstance(sink, HttpSink) and sink.url.startswith("http://127.0.0.1:")
    try:
        sink.write(_frame(5))
        sink.update_stats({"frames_out": 5, "end_to_end_fps": 12.5})
        with urllib.request.urlopen(sink.url + "frame.jpg", timeout=10) as response:
            assert response.headers["Content-Type"] == "image/jpeg"
            image = cv2.imdecode(np.frombuffer(response.read(), np.uint8), cv2.IMREAD_COLOR)
        assert image.shape == (64, 96, 3)
        with urllib.request.urlopen(sink.url + "stats.json", timeout=10) as response:
            assert json.load(response) == {"frames_out": 5, "end_to_end_fps": 12.5}
        with urllib.request.urlopen(sink.url, timeout=10) as response:
            assert b"/stream.mjpg" in response.read()
    finally:
        sink.close()


def test_http_address_parsing():
    assert parse_address("http://127.0.0.1:8080") == ("127.0.0.1", 8080)
    assert parse_address("http://:9000") == ("127.0.0.1", 9000)
    assert is_loopback("localhost") and is_loopback("::1") and not is_loopback("0.0.0.0")


def _serve(port, stop, shade):
    """An MJPEG server (our own live view) fed with frames of one grey level until `stop` is set."""
    import threading
    import time

    sink = HttpSink(f"http://127.0.0.1:{port}")

    def feed():
        while not stop.is_set():
            sink.write(SinkFrame(0, np.full((48, 64, 3), shade, np.uint8), np.zeros((48, 64), np.uint8)))
            time.sleep(0.02)

    threading.Thread(target=feed, daemon=True).start()
    return sink


def test_network_stream_that_goes_away_is_reopened():
    """A live MJPEG stream over HTTP (FFmpeg) stops and comes back on the same port: the source reconnects."""
    import threading

    stop_first, stop_second = threading.Event(), threading.Event()
    first = _serve(0, stop_first, 50)
    port = first.port
    try:
        with open_source(f"http://127.0.0.1:{port}/stream.mjpg") as source:
            assert source.live
            source.backoff = (0.3, 0.5, 1.0, 2.0)
            assert abs(float(source.read().mean()) - 50) < 3
            stop_first.set()
            first.close()
            second = _serve(port, stop_second, 200)
            try:
                shades = [float(source.read().mean()) for _ in range(40)]
            finally:
                stop_second.set()
                second.close()
        assert source.reconnects >= 1
        assert abs(shades[-1] - 200) < 3, "frames come from the restarted stream"
    finally:
        stop_first.set()
        first.close()
