"""The bench harness: time several formats side by side in one process, in alternating order.

Every format is a `Runner` (set up, run once on a prepared input, tear down; like Polygraphy's runners).
`benchmark()` sets them all up, warms each one, then measures in round-robin blocks (A B C A B C ...),
so a machine that gets busier or quieter during the run slows every format alike and the ratios between
formats survive. Each block runs about the same wall time (block length follows each runner's warm-up
latency), and the loop stops when every runner has at least `iterations` samples and `min_time` seconds
of measured time. Per-format statistics are `segnet.runtime.stats.LatencyStats` (p50/p90/p99, mean, cv).

Torch-free: the PyTorch runner lives in `segnet.benchmarks.torch_runner` and imports torch itself.
Tables, JSON, CSV and the chart are written by `segnet.benchmarks.report` (re-exported here).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

from segnet.errors import MissingDependencyError, SegnetError
from segnet.runtime.stats import UNSTABLE_CV, LatencyStats

OK, SKIPPED, FAILED = "ok", "skipped", "failed"
BLOCK_SECONDS = 0.1  # target wall time of one round-robin block per runner


class Runner:
    """One format to time. Subclasses override `setup`, `run` and optionally `teardown`, `timing_split`
    (per-call h2d/compute/d2h from a backend's `last_timing`) and `predict` (RGB image -> class map, for
    mIoU). `setup` raising MissingDependencyError marks the format skipped; any other error, failed."""

    def __init__(self, name: str, file: Path | None = None, batch: int = 1) -> None:
        self.name = name
        self.file = Path(file) if file else None
        self.batch = batch

    def setup(self) -> None:
        """Load the model and prepare the input it will be timed on."""

    def run(self) -> None:
        """One inference on the prepared input (this is what is timed)."""
        raise NotImplementedError

    def teardown(self) -> None:
        """Release what `setup` took."""

    def timing_split(self) -> dict[str, float]:
        """The last call's stage times in ms (h2d/compute/d2h) when the backend reports them."""
        return {}

    predict: Callable[[np.ndarray], np.ndarray] | None = None


class SkippedRunner(Runner):
    """A format that cannot run here, known before setup (e.g. 'needs a checkpoint')."""

    def __init__(self, name: str, reason: str, file: Path | None = None) -> None:
        super().__init__(name, file)
        self.reason = reason

    def setup(self) -> None:
        raise MissingDependencyError(self.reason)


@dataclass
class TimingSettings:
    """How long to measure: `warmup` untimed calls, then at least `iterations` calls and `min_time`
    seconds of measured time per format."""

    warmup: int = 10
    iterations: int = 50
    min_time: float = 2.0

    def __post_init__(self) -> None:
        if self.warmup < 0 or self.iterations < 1 or self.min_time < 0:
            raise ValueError(f"need warmup >= 0, iterations >= 1, min_time >= 0; got {self}")


def add_timing_arguments(parser: Any, min_time: float, per: str) -> None:
    """--threads (ONNX Runtime, default 1), --warmup, --iterations and --min-time (seconds per `per`)."""
    parser.add_argument("--threads", type=int, default=1, help="ONNX Runtime threads (default: 1)")
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--iterations", type=int, default=30)
    parser.add_argument("--min-time", type=float, default=min_time, help=f"seconds per {per} (default: {min_time:g})")


@dataclass
class FormatResult:
    """What was measured for one format. `status` is ok / skipped / failed with `reason`."""

    name: str
    status: str = OK
    reason: str = ""
    file: str | None = None
    size_bytes: int | None = None
    batch: int = 1
    stats: LatencyStats = field(default_factory=lambda: LatencyStats(window=None))
    split_sums: dict[str, float] = field(default_factory=dict)
    miou: float | None = None
    gflops: float | None = None  # arithmetic per inference (2 x MACs, whole batch)

    @property
    def ok(self) -> bool:
        return self.status == OK

    @property
    def status_text(self) -> str:
        return self.status if not self.reason else f"{self.status}: {self.reason}"

    def latency(self) -> dict[str, float]:
        return self.stats.summary()

    @property
    def fps(self) -> float:
        """Images per second from the mean latency (batch / mean)."""
        mean = self.latency()["mean"]
        return self.batch * 1000.0 / mean if mean and not math.isnan(mean) else float("nan")

    @property
    def split(self) -> dict[str, float]:
        """Mean h2d/compute/d2h per call (ms) over the measured calls, when the backend reported them."""
        count = self.stats.count
        return {k: v / count for k, v in self.split_sums.items()} if count else {}

    @property
    def unstable(self) -> bool:
        return self.stats.unstable

    def achieved_gflops(self) -> float | None:
        """GFLOP/s actually sustained: arithmetic per call over the median latency."""
        p50 = self.latency()["p50"]
        if self.gflops is None or not self.ok or math.isnan(p50) or p50 <= 0:
            return None
        return self.gflops / (p50 / 1000.0)


@dataclass
class BenchRun:
    """All formats of one run, plus the order blocks ran in (for inspection and tests)."""

    results: list[FormatResult]
    settings: TimingSettings
    schedule: list[str] = field(default_factory=list)

    def by_name(self, name: str) -> FormatResult:
        for result in self.results:
            if result.name == name:
                return result
        raise KeyError(name)


def benchmark(runners: list[Runner], settings: TimingSettings,
              log: Callable[[str], None] = lambda message: None,
              score: Callable[[Runner], float | None] | None = None) -> BenchRun:
    """Set up every runner, warm each, then time them in alternating blocks; never raises for a
    runner's own failure (it becomes a failed row). After timing, `score(runner)` (e.g. mIoU on a
    dataset) fills `miou` of each measured format. Runners are torn down at the end."""
    results = [FormatResult(name=r.name, batch=r.batch, file=str(r.file) if r.file else None,
                            size_bytes=_file_size(r.file)) for r in runners]
    active: list[int] = []
    try:
        for index, runner in enumerate(runners):
            if _guard(results[index], runner.setup, log):
                active.append(index)
        blocks = {}
        for index in list(active):
            latency = _warm_up(runners[index], settings.warmup, results[index], log)
            if latency is None:
                active.remove(index)
            else:
                blocks[index] = max(1, min(1000, round(BLOCK_SECONDS / max(latency, 1e-6))))
        run = BenchRun(results=results, settings=settings)
        _alternate(runners, results, active, blocks, settings, run.schedule, log)
        for index in active if score is not None else ():
            _score(runners[index], results[index], score, log)
        return run
    finally:
        for runner in runners:
            try:
                runner.teardown()
            except Exception as exc:  # noqa: BLE001 - teardown problems must not hide the measurements
                log(f"{runner.name}: teardown failed: {exc}")


def _guard(result: FormatResult, step: Callable[[], Any], log: Callable[[str], None]) -> bool:
    """Run `step`; on error mark the result skipped (missing dependency) or failed. True on success."""
    try:
        step()
        return True
    except MissingDependencyError as exc:
        result.status, result.reason = SKIPPED, str(exc)
    except SegnetError as exc:  # a user-facing error already says what is wrong
        result.status, result.reason = FAILED, str(exc)
    except Exception as exc:  # noqa: BLE001 - a broken format must not take the whole run down
        result.status, result.reason = FAILED, f"{type(exc).__name__}: {exc}".strip()
    log(f"{result.name}: {result.status_text}")
    return False


def _score(runner: Runner, result: FormatResult, score: Callable[[Runner], float | None],
           log: Callable[[str], None]) -> None:
    """Fill `result.miou`; a scoring error keeps the timings and says why the mIoU is missing."""
    try:
        result.miou = score(runner)
    except Exception as exc:  # noqa: BLE001 - a failed mIoU must not drop the timings
        result.reason = f"mIoU not measured ({type(exc).__name__}: {exc})"
        log(f"{runner.name}: {result.reason}")


def _warm_up(runner: Runner, warmup: int, result: FormatResult, log: Callable[[str], None]) -> float | None:
    """Run the untimed warm-up calls; return the last call's latency in seconds (None if it failed)."""
    latency: list[float] = []

    def calls() -> None:
        for _ in range(max(1, warmup)):
            start = time.perf_counter()
            runner.run()
            latency.append(time.perf_counter() - start)

    return latency[-1] if _guard(result, calls, log) else None


def _alternate(runners: list[Runner], results: list[FormatResult], active: list[int], blocks: dict[int, int],
               settings: TimingSettings, schedule: list[str], log: Callable[[str], None]) -> None:
    """Round-robin blocks over the active runners until every one has enough samples and time."""
    measured = {index: 0.0 for index in active}

    def satisfied(index: int) -> bool:
        return (results[index].stats.count >= settings.iterations
                and measured[index] >= settings.min_time)

    while active and not all(satisfied(i) for i in active):
        for index in list(active):
            runner, result = runners[index], results[index]
            schedule.append(runner.name)
            if not _guard(result, partial(_time_block, runner, result, blocks[index], measured, index), log):
                result.stats = LatencyStats(window=None)  # a half-measured format reports no numbers
                active.remove(index)
    for index in active:
        summary = results[index].latency()
        log(f"{results[index].name}: p50 {summary['p50']:.3f} ms over {results[index].stats.count} calls")
        if results[index].unstable:
            log(f"warning: {results[index].name} is unstable (cv {summary['cv']:.3f} > {UNSTABLE_CV}): "
                "the machine was busy; rerun with a longer --min-time")


def _time_block(runner: Runner, result: FormatResult, count: int, measured: dict[int, float], index: int) -> None:
    """`count` timed calls of one runner, added to its statistics and stage-time sums."""
    for _ in range(count):
        start = time.perf_counter()
        runner.run()
        elapsed = time.perf_counter() - start
        result.stats.add(elapsed * 1000.0)
        measured[index] += elapsed
        for stage, ms in runner.timing_split().items():
            result.split_sums[stage] = result.split_sums.get(stage, 0.0) + float(ms)


def _file_size(path: Path | None) -> int | None:
    if path is None:
        return None
    try:
        return Path(path).stat().st_size
    except OSError:
        return None


def speedups(results: list[FormatResult], baseline: str = "pytorch") -> dict[str, float]:
    """Median-latency speed-up of each measured format over `baseline` (empty when it was not measured)."""
    base = next((r for r in results if r.name == baseline and r.ok and r.stats.count), None)
    if base is None:
        return {}
    base_p50 = base.latency()["p50"]
    return {r.name: base_p50 / r.latency()["p50"] for r in results if r.ok and r.stats.count}
