"""The pipeline benchmark script runs end to end and reports all three measurements (no timing asserts)."""

from __future__ import annotations

import json

from segnet.benchmarks.scripts import pipeline_bench
from segnet.benchmarks.tiny_onnx import build_tiny_onnx, tiny_spec


def test_pipeline_bench_reports_throughput_live_and_soak(tmp_path, capsys):
    model = build_tiny_onnx(tmp_path / "tiny.onnx", tiny_spec(input_size=(48, 64)), outputs=("logits",))
    out = tmp_path / "bench.json"
    code = pipeline_bench.main(["--model", str(model), "--size", "48x64", "--frames", "12", "--rounds", "2",
                                "--live-frames", "30", "--soak-frames", "40", "--threads", "1", "--json", str(out)])
    assert code == 0
    table = capsys.readouterr().out
    for heading in ("bare inference FPS", "end-to-end p99 ms", "RSS max MB", "Rerun: `python -m segnet.benchmarks",
                    "CPU ms per frame", "| 2 | pipeline first |", "cores before the run ("):
        assert heading in table
    doc = json.loads(out.read_text())
    assert doc["throughput"]["frames"] == 12 and doc["soak"]["frames"] == 40
    rounds = doc["throughput"]["rounds"]
    assert [r["order"] for r in rounds] == ["bare first", "pipeline first"]
    assert all(r["ratio"] == r["end_to_end_fps"] / r["bare_fps"] for r in rounds)
    assert set(doc["throughput"]["thread_cpu_ms"]) == {"capture", "infer", "render", "total"}
    assert set(doc["live"]["thread_cpu_ms"]) == {"capture", "infer+render", "total"}
    assert doc["throughput"]["bare_cpu_ms"] > 0 and doc["throughput"]["pipeline_cpu_ms"] > 0
    assert doc["live"]["frames_in"] == 30
    assert doc["live"]["frames_out"] + doc["live"]["dropped"] == 30
    assert doc["soak"]["rss_max"] >= doc["soak"]["rss_start"] > 0


def test_load_note_says_when_wall_clock_figures_are_unreliable():
    loaded = pipeline_bench.load_note({"cpu_count": 2, "load_before": 9.8, "load_after": 11.0})
    quiet = pipeline_bench.load_note({"cpu_count": 2, "load_before": 0.3, "load_after": 1.9})
    assert "LOADED" in loaded and "9.8 on 2 cores" in loaded
    assert "LOADED" not in quiet and "quiet" in quiet
