"""`segnet demo`: step orchestration (fast, fake steps) and the real --fast run end to end (slow)."""

from __future__ import annotations

import json

import pytest

from segnet.cli.demo_job import Demo, DemoConfig, summary_markdown
from segnet.errors import SegnetError


class ScriptedDemo(Demo):
    """Every step records that it ran; `export` fails like a real export error would."""

    def __init__(self, config, fail=()):
        super().__init__(config, log=lambda message: None)
        self.ran = []
        for name in self.STEPS:
            setattr(self, f"step_{name}", self._scripted(name, name in fail))

    def _scripted(self, name, fail):
        def step(step):
            self.ran.append(name)
            if fail:
                raise SegnetError(f"{name} broke")
            step.detail = {"marker": name}
        return step


def test_a_failed_step_skips_what_needs_it_and_the_summary_says_so(tmp_path):
    demo = ScriptedDemo(DemoConfig.fast(tmp_path / "out"), fail=("export",))
    summary = demo.run()
    assert demo.ran == ["data", "train", "evaluate", "export"]  # int8, bench, video, grid need export
    steps = summary["steps"]
    assert steps["export"]["status"] == "failed: export broke"
    assert steps["bench"]["status"] == "skipped: needs the export step, which failed"
    assert steps["evaluate"]["status"] == "ok" and steps["evaluate"]["marker"] == "evaluate"
    assert summary["ok"] is False
    written = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert written["steps"]["export"]["status"] == "failed: export broke"
    assert set(written["files"]) == {"summary.json", "summary.md"}
    text = (tmp_path / "out" / "summary.md").read_text()
    assert "| export | failed: export broke |" in text


def test_all_steps_ok_gives_ok_summary(tmp_path):
    demo = ScriptedDemo(DemoConfig.fast(tmp_path / "out"))
    summary = demo.run()
    assert demo.ran == list(Demo.STEPS) and summary["ok"] is True


def test_summary_markdown_reports_the_measured_numbers():
    summary = {"seconds": 12.0, "files": {"overlay.mp4": "d/overlay.mp4"}, "steps": {
        "evaluate": {"status": "ok", "seconds": 1.0, "images": 8, "miou": 0.5, "global_acc": 0.8,
                     "class_avg_acc": 0.6},
        "bench": {"status": "ok", "seconds": 2.0, "formats": {
            "onnx": {"status": "ok", "p50_ms": 1.25, "fps": 800.0, "miou": 0.5},
            "engine": {"status": "skipped: TensorRT not installed"}}},
        "video": {"status": "ok", "seconds": 3.0, "model": "model.onnx", "backend": "onnxruntime", "frames": 12,
                  "end_to_end_fps": 30.0, "network_fps": 90.0, "latency_p50_ms": 20.0}}}
    text = summary_markdown(summary)
    assert "mIoU 50.0%" in text and "onnx: latency p50 1.25 ms, 800.0 FPS (from the mean latency), mIoU 50.0%" in text
    assert "engine: skipped: TensorRT not installed" in text and "`d/overlay.mp4`" in text


@pytest.mark.slow
def test_fast_demo_end_to_end(tmp_path):
    """The real thing at smoke size: every step's library code, the files a newcomer gets."""
    pytest.importorskip("torch")
    from segnet.cli import main

    out = tmp_path / "demo"
    code = main(["demo", "--out", str(out), "--fast"])
    summary = json.loads((out / "summary.json").read_text())
    assert code == (0 if summary["ok"] else 1)
    steps = summary["steps"]
    for name in ("data", "train", "evaluate", "export", "bench", "video", "grid"):
        assert steps[name]["status"] == "ok", (name, steps[name]["status"])
    assert steps["export"]["trt_check_ok"] is True
    assert steps["bench"]["formats"]["onnx"]["status"] == "ok"
    assert steps["bench"]["formats"]["engine"]["status"].startswith(("ok", "skipped"))
    for name in ("overlay.mp4", "benchmark.md", "benchmark.png", "training_curves.png", "predictions.png",
                 "summary.md", "model.onnx"):
        assert (out / name).stat().st_size > 0, name
    assert steps["video"]["frames"] == 12


def test_busy_machine_gets_one_thread(monkeypatch):
    from segnet.cli import demo_job as demo

    monkeypatch.setattr(demo, "_usable_cpus", lambda: 2)
    monkeypatch.setattr(demo.os, "getloadavg", lambda: (9.0, 8.0, 7.0))
    assert demo.busy_machine_threads() == 1
    monkeypatch.setattr(demo.os, "getloadavg", lambda: (0.5, 0.4, 0.3))
    assert demo.busy_machine_threads() is None
