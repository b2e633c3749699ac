"""RunStats' live rate: the status line, the HUD and the sinks see the same end-to-end FPS of the last interval."""

from __future__ import annotations

import io
import re
import time
from types import SimpleNamespace

import pytest

from segnet.runtime.pipeline import Pipeline
from segnet.runtime.run_stats import RunStats


class _Sink:
    def __init__(self) -> None:
        self.stats: list[dict] = []

    def update_stats(self, stats: dict) -> None:
        self.stats.append(stats)


def _reporter(stats: RunStats) -> SimpleNamespace:
    """Just what Pipeline._report_status reads and writes, so the real reporting path runs without threads."""
    return SimpleNamespace(stats=stats, sinks=[_Sink()], status_stream=io.StringIO(), on_status=None, hud_text=[])


def _frames_over_time(stats: RunStats, frames: int = 20, pause: float = 0.01) -> float:
    """Write `frames` frames at a steady pace; the rate they came at."""
    begin = time.perf_counter()
    for _ in range(frames):
        time.sleep(pause)
        stats.record({"end_to_end": 5.0, "inference": 2.0}, frames_out=1)
    return frames / (time.perf_counter() - begin)


def _status_fps(line: str) -> float:
    return float(re.search(r"end-to-end\s+([\d.]+) FPS", line).group(1))


def test_status_line_shows_the_rate_of_the_last_interval():
    stats = RunStats()
    reporter = _reporter(stats)
    Pipeline._report_status(reporter)  # the first interval: nothing written yet
    reporter.status_stream.truncate(0)
    reporter.status_stream.seek(0)
    rate = _frames_over_time(stats)
    Pipeline._report_status(reporter)
    line = reporter.status_stream.getvalue().strip()
    assert _status_fps(line) > 0 and _status_fps(line) == pytest.approx(rate, rel=0.5), line
    # one snapshot feeds all three: the HUD and the sinks show the very number the status line shows
    hud_fps = float(re.search(r"end-to-end ([\d.]+) FPS", reporter.hud_text[0]).group(1))
    assert hud_fps == pytest.approx(_status_fps(line), abs=0.051)
    assert reporter.sinks[0].stats[-1]["recent_fps"] == pytest.approx(hud_fps, abs=0.051)


def test_other_readers_do_not_reset_the_recent_window():
    stats = RunStats()
    reporter = _reporter(stats)
    Pipeline._report_status(reporter)
    rate = _frames_over_time(stats)
    stats.to_dict()
    stats.table()
    stats.snapshot()
    reporter.status_stream = io.StringIO()
    Pipeline._report_status(reporter)
    line = reporter.status_stream.getvalue().strip()
    assert _status_fps(line) == pytest.approx(rate, rel=0.5), line


def test_status_line_alone_reports_the_rate_since_its_last_call():
    stats = RunStats()
    stats.status_line()
    rate = _frames_over_time(stats)
    assert _status_fps(stats.status_line()) == pytest.approx(rate, rel=0.5)
