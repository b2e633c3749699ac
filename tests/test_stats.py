import math

import pytest

from segnet.runtime.stats import LatencyStats


def test_percentiles_and_cv_of_known_series():
    stats = LatencyStats()
    stats.extend(range(1, 101))
    s = stats.summary()
    assert s["count"] == 100 and s["p50"] == pytest.approx(50.5) and s["p99"] == pytest.approx(99.01)
    assert s["mean"] == pytest.approx(50.5) and stats.unstable


def test_window_bounds_memory_but_counts_all():
    stats = LatencyStats(window=10)
    stats.extend([5.0] * 1000)
    assert len(stats.samples) == 10 and stats.summary()["count"] == 1000 and not stats.unstable


def test_empty_summary_is_nan_not_an_error():
    assert math.isnan(LatencyStats().summary()["p50"])
