"""Latency statistics: percentiles, mean and stability of a series of timings (milliseconds)."""

from __future__ import annotations

import math
from collections import deque
from typing import Iterable

import numpy as np

UNSTABLE_CV = 0.15  # coefficient of variation above which a run is flagged as unstable


class LatencyStats:
    """Keeps the last `window` samples (all of them when None) so long runs use bounded memory."""

    def __init__(self, window: int | None = 100_000) -> None:
        self.samples: deque[float] = deque(maxlen=window)
        self.count = 0

    def add(self, milliseconds: float) -> None:
        self.samples.append(float(milliseconds))
        self.count += 1

    def extend(self, values: Iterable[float]) -> None:
        for value in values:
            self.add(value)

    def summary(self) -> dict[str, float]:
        """count, mean, std, cv, min, p50, p90, p99, max (ms); NaN everywhere when empty."""
        if not self.samples:
            nan = float("nan")
            return {"count": 0, "mean": nan, "std": nan, "cv": nan, "min": nan,
                    "p50": nan, "p90": nan, "p99": nan, "max": nan}
        a = np.fromiter(self.samples, dtype=np.float64)
        p50, p90, p99 = np.percentile(a, [50, 90, 99])
        mean = float(a.mean())
        std = float(a.std())
        return {"count": self.count, "mean": mean, "std": std, "cv": std / mean if mean else math.nan,
                "min": float(a.min()), "p50": float(p50), "p90": float(p90), "p99": float(p99),
                "max": float(a.max())}

    @property
    def unstable(self) -> bool:
        cv = self.summary()["cv"]
        return not math.isnan(cv) and cv > UNSTABLE_CV
