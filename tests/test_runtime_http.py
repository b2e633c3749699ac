"""The live view in a real browser: headless Chromium loads the page and receives MJPEG frames."""

from __future__ import annotations

import re
import shutil
import subprocess
import threading

import pytest

from segnet.benchmarks.tiny_onnx import build_tiny_onnx
from segnet.runtime import Segmenter
from segnet.runtime.http_view import HttpSink
from segnet.runtime.pipeline import Pipeline
from segnet.runtime.sinks import open_sink
from segnet.runtime.sources import open_source

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.mark.skipif(CHROMIUM is None, reason="needs headless Chromium (Debian: apt-get install -y chromium)")
def test_browser_receives_frames_and_statistics(tmp_path):
    model = build_tiny_onnx(tmp_path / "tiny.onnx", outputs=("logits",))
    with Segmenter(model, threads=1) as seg, open_source("synthetic://?size=64x96&fps=20") as source:
        sink = open_sink("http://127.0.0.1:0")
        assert isinstance(sink, HttpSink)
        pipeline = Pipeline(seg, source, [sink], status_stream=None, status_interval=0.2)
        runner = threading.Thread(target=pipeline.run, daemon=True)
        runner.start()
        try:
            result = subprocess.run(
                [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 f"--user-data-dir={tmp_path / 'profile'}", "--virtual-time-budget=4000", "--dump-dom", sink.url],
                check=False, capture_output=True, text=True, timeout=120)
        finally:
            pipeline.stop()
            runner.join(30)
            sink.close()
    dom = result.stdout
    assert "<title>segnet live: frame 96x64</title>" in dom, f"no frame reached the browser:\n{dom[:500]}"
    assert 'data-frame="loaded"' in dom
    frames_out = re.search(r"frames out (\d+)", dom)
    assert frames_out and int(frames_out.group(1)) > 0, "the page should show the polled statistics"
    assert pipeline.stats.frames_out > 0
