"""`segnet run` as users run it: a subprocess stopped by a signal leaves a playable video and final stats."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading
import time

import pytest
from runtime_helpers import count_video_frames, write_video

from segnet.benchmarks.tiny_onnx import build_tiny_onnx


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    return build_tiny_onnx(tmp_path_factory.mktemp("cli") / "tiny.onnx", outputs=("labels", "logits"))


def segnet(*args):
    return [sys.executable, "-m", "segnet", *map(str, args)]


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_signal_stops_cleanly_with_playable_video_and_stats(model, tmp_path, signum):
    out, stats = tmp_path / "live.mp4", tmp_path / "stats.json"
    proc = subprocess.Popen(segnet("run", model, "--source", "synthetic://?size=64x96", "--output", out,
                                   "--json", stats, "--hud", "--legend"),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    status_lines = []

    def read_stderr():
        status_lines.extend(proc.stderr)

    reader = threading.Thread(target=read_stderr, daemon=True)
    reader.start()
    deadline = time.monotonic() + 60
    while not any(line.startswith("frames") for line in status_lines) and time.monotonic() < deadline:
        assert proc.poll() is None, "".join(status_lines)
        time.sleep(0.2)
    time.sleep(1.0)
    proc.send_signal(signum)
    stdout, _ = proc.communicate(timeout=60)
    reader.join(5)
    assert proc.returncode == 0, "".join(status_lines)
    assert "end-to-end FPS" in stdout and "network FPS" in stdout and "end_to_end" in stdout
    frames = count_video_frames(out)
    assert frames > 0
    doc = json.loads(stats.read_text())
    assert doc["frames_out"] == frames and doc["dropped"] == 0 and not doc["live"]
    assert doc["stages_ms"]["inference"]["count"] == frames
    assert not list(tmp_path.glob(".*tmp*")), "no temporary file left behind"


def test_file_to_folder_with_stats(model, tmp_path):
    video = write_video(tmp_path / "in.avi", frames=6)
    result = subprocess.run(segnet("run", model, "--source", video, "--output", tmp_path / "out" / "",
                                   "--visualize", "mask", "--class-stats", "--json", tmp_path / "s.json", "-q",
                                   "--threads", "1", "--no-spinning"),
                            check=False, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert len(list((tmp_path / "out").glob("*_classes.png"))) == 6
    doc = json.loads((tmp_path / "s.json").read_text())
    assert doc["frames_out"] == 6 and len(doc["class_share"]["frames"]) == 6


@pytest.mark.parametrize("args, message", [
    (["missing.onnx", "--source", "synthetic://"], "model file not found"),
    (["{model}", "--source", "nowhere.mp4"], "not found"),
    (["{model}", "--source", "synthetic://", "--visualize", "heatmap"], "--visualize"),
    (["{model}", "--source", "synthetic://", "--output", "display://0"], "display"),
])
def test_user_mistakes_are_one_line_errors(model, tmp_path, args, message):
    args = [a.format(model=model) for a in args]
    env_free = {"PATH": "/usr/bin:/bin"}  # no DISPLAY
    result = subprocess.run(segnet("run", *args), check=False, capture_output=True, text=True, timeout=60, cwd=tmp_path,
                            env=env_free)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert result.stderr.startswith("segnet run: error:") and message in result.stderr


def test_help_shows_examples():
    result = subprocess.run(segnet("run", "--help"), check=False, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0 and "examples:" in result.stdout and "synthetic://" in result.stdout
