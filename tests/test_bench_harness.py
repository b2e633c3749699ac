"""The bench harness: alternation order, statistics, skip/fail reasons, scoring and the files it writes.

Fake runners advance a fake clock instead of sleeping, so latencies are exact and nothing depends on the
machine's speed (no timing assertions: these check structure, order, arithmetic and outputs)."""

from __future__ import annotations

import csv
import importlib.util
import json
import sys

import pytest

from segnet.benchmarks import harness, report
from segnet.benchmarks.harness import (
    Runner,
    SkippedRunner,
    TimingSettings,
    benchmark,
    speedups,
)
from segnet.errors import MissingDependencyError, SegnetError


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch):
    fake = FakeClock()
    monkeypatch.setattr(harness.time, "perf_counter", fake)
    return fake


class FakeRunner(Runner):
    """Each call 'takes' `latency_ms` on the fake clock and is appended to the shared `calls` log."""

    def __init__(self, name, latency_ms, clock, calls, fail_at=None, split=None):
        super().__init__(name)
        self.latency, self.clock, self.calls, self.fail_at = latency_ms / 1000.0, clock, calls, fail_at
        self.split = split or {}
        self.count = 0
        self.torn_down = False

    def run(self):
        self.count += 1
        if self.fail_at is not None and self.count >= self.fail_at:
            raise RuntimeError("device lost")
        self.calls.append(self.name)
        self.clock.now += self.latency

    def timing_split(self):
        return dict(self.split)

    def teardown(self):
        self.torn_down = True


def test_formats_run_in_round_robin_blocks_until_each_has_enough(clock):
    calls: list = []
    runners = [FakeRunner("a", 2.0, clock, calls), FakeRunner("b", 10.0, clock, calls),
               FakeRunner("c", 50.0, clock, calls)]
    run = benchmark(runners, TimingSettings(warmup=3, iterations=30, min_time=0.5))
    # the block schedule cycles a b c a b c ... from start to end
    assert run.schedule == ["a", "b", "c"] * (len(run.schedule) // 3)
    assert len(run.schedule) >= 6
    # block lengths follow each runner's latency (~0.1 s per block): 50 x 2 ms, 10 x 10 ms, 2 x 50 ms
    timed = calls[3 * 3:]  # after the 3 warm-up calls of each runner
    assert timed[:50] == ["a"] * 50 and timed[50:60] == ["b"] * 10 and timed[60:62] == ["c"] * 2
    for result in run.results:
        assert result.ok and result.stats.count >= 30
        assert result.stats.count * {"a": 2.0, "b": 10.0, "c": 50.0}[result.name] >= 500.0  # >= min_time
    assert all(r.torn_down for r in runners)


def test_statistics_fps_and_speedup_are_exact(clock):
    calls: list = []
    runners = [FakeRunner("pytorch", 8.0, clock, calls), FakeRunner("onnx", 2.0, clock, calls)]
    run = benchmark(runners, TimingSettings(warmup=1, iterations=5, min_time=0.0))
    torch_row, onnx_row = run.by_name("pytorch"), run.by_name("onnx")
    assert torch_row.latency()["p50"] == pytest.approx(8.0)
    assert onnx_row.latency()["p99"] == pytest.approx(2.0)
    assert onnx_row.fps == pytest.approx(500.0)
    assert speedups(run.results) == pytest.approx({"pytorch": 1.0, "onnx": 4.0})
    onnx_row.gflops = 0.5
    assert onnx_row.achieved_gflops() == pytest.approx(250.0)  # 0.5 GFLOP in 2 ms


def test_skipped_and_failed_formats_keep_their_reasons(clock):
    calls: list = []

    class NoTensorRT(Runner):
        def setup(self):
            raise MissingDependencyError("TensorRT not installed")

    class BadFile(Runner):
        def setup(self):
            raise SegnetError("model.fp16.onnx: ONNX Runtime cannot load it")

    runners = [FakeRunner("onnx", 1.0, clock, calls), SkippedRunner("pytorch", "needs a checkpoint"),
               NoTensorRT("engine"), BadFile("onnx-fp16"), FakeRunner("flaky", 1.0, clock, calls, fail_at=20)]
    run = benchmark(runners, TimingSettings(warmup=2, iterations=250, min_time=0.0))
    status = {r.name: r.status_text for r in run.results}
    assert status == {"onnx": "ok", "pytorch": "skipped: needs a checkpoint",
                      "engine": "skipped: TensorRT not installed",
                      "onnx-fp16": "failed: model.fp16.onnx: ONNX Runtime cannot load it",
                      "flaky": "failed: RuntimeError: device lost"}
    assert run.by_name("flaky").stats.count == 0  # a half-measured format reports no numbers
    assert run.by_name("onnx").stats.count >= 250
    assert run.schedule[:2] == ["onnx", "flaky"] and set(run.schedule[2:]) == {"onnx"}  # flaky left the rotation


def test_score_fills_miou_and_a_scoring_error_keeps_the_timings(clock):
    calls: list = []
    runners = [FakeRunner("good", 1.0, clock, calls), FakeRunner("bad", 1.0, clock, calls)]

    def score(runner):
        if runner.name == "bad":
            raise ValueError("classes differ")
        return 0.625

    run = benchmark(runners, TimingSettings(warmup=1, iterations=3, min_time=0.0), score=score)
    assert run.by_name("good").miou == 0.625
    bad = run.by_name("bad")
    assert bad.ok and bad.miou is None and "classes differ" in bad.reason and bad.stats.count >= 3


def test_backend_split_is_averaged(clock):
    calls: list = []
    runner = FakeRunner("engine", 3.0, clock, calls, split={"h2d": 0.5, "compute": 2.0, "d2h": 0.25})
    run = benchmark([runner], TimingSettings(warmup=1, iterations=4, min_time=0.0))
    assert run.by_name("engine").split == pytest.approx({"h2d": 0.5, "compute": 2.0, "d2h": 0.25})


def test_settings_reject_nonsense():
    with pytest.raises(ValueError):
        TimingSettings(warmup=-1)
    with pytest.raises(ValueError):
        TimingSettings(iterations=0)


def test_outputs_table_json_csv_png(clock, tmp_path):
    calls: list = []
    runners = [FakeRunner("pytorch", 4.0, clock, calls), FakeRunner("onnx", 2.0, clock, calls),
               SkippedRunner("engine", "TensorRT not installed")]
    run = benchmark(runners, TimingSettings(warmup=1, iterations=5, min_time=0.0),
                    score=lambda r: {"pytorch": 0.5, "onnx": 0.49}[r.name])
    for result in run.results:
        result.gflops = 1.0
    paths = report.write_outputs(run, tmp_path / "out", {"model": "m.pt"}, peak_gflops=1000.0)
    table = paths["markdown"].read_text()
    assert table.splitlines()[0].startswith("| format | status |")
    assert "| onnx | ok |" in table and "skipped: TensorRT not installed" in table
    assert "2.00x" in table  # onnx vs pytorch
    assert "h2d/compute/d2h" not in table  # no backend reported a split: column left out
    rows = list(csv.DictReader(paths["csv"].open()))
    assert [r["format"] for r in rows] == ["pytorch", "onnx", "engine"]
    assert float(rows[1]["p50_ms"]) == pytest.approx(2.0)
    assert float(rows[1]["gflops_per_s"]) == pytest.approx(500.0)
    assert float(rows[1]["pct_of_peak"]) == pytest.approx(50.0)
    assert rows[2]["p50_ms"] == "" and rows[2]["status"] == "skipped: TensorRT not installed"
    doc = json.loads(paths["json"].read_text())
    assert doc["model"] == "m.pt" and doc["settings"]["iterations"] == 5
    assert doc["formats"][0]["miou"] == 0.5 and doc["formats"][0]["latency"]["count"] >= 5
    if importlib.util.find_spec("matplotlib") is not None:  # not in a Jetson's runtime-only install
        assert paths["png"].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert not list((tmp_path / "out").glob(".*tmp*"))  # atomic writes leave no temporaries


def test_chart_without_any_measured_format(tmp_path):
    pytest.importorskip("matplotlib")
    run = benchmark([SkippedRunner("engine", "no TensorRT")], TimingSettings(warmup=0, iterations=1, min_time=0))
    path = report.write_chart(run, tmp_path / "chart.png")
    assert path.read_bytes()[:4] == b"\x89PNG"


def test_outputs_without_matplotlib_leave_the_chart_out_and_keep_the_tables(clock, tmp_path, monkeypatch, capsys):
    """A Jetson's runtime-only install has no matplotlib: `segnet bench` still writes its results."""
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # None in sys.modules: the import fails
    run = benchmark([FakeRunner("onnx", 2.0, clock, [])], TimingSettings(warmup=1, iterations=3, min_time=0.0))
    paths = report.write_outputs(run, tmp_path / "out", {"model": "m.onnx"})
    assert set(paths) == {"markdown", "json", "csv"} and all(p.is_file() for p in paths.values())
    assert not (tmp_path / "out" / "chart.png").exists()
    assert "note: no chart.png (matplotlib is needed (benchmark charts)" in capsys.readouterr().err
