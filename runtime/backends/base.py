"""The one interface every inference backend offers (after Polygraphy's runners).

Life cycle: construct (cheap, nothing loaded) -> `activate()` (load model, allocate) -> `infer(feed)`
any number of times -> `deactivate()`; or use it as a context manager. `infer` takes and returns numpy
arrays keyed by tensor name. After each `infer`, `last_timing` holds that call's times in milliseconds:
always "compute", plus "h2d" and "d2h" where the backend copies to and from a device.

Buffers for streaming: `allocate(shape, dtype)` gives host memory the backend reads and writes without a
copy (plain numpy here, pinned or GPU-mapped memory in TensorRT); `infer(feed, outputs)` writes the
results into the given arrays instead of new ones; `infer_async` starts an inference and returns a
`Pending` (at most `max_in_flight` at once), so a caller can feed frame n+1 while frame n computes.
"""

from __future__ import annotations

import abc
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from typing_extensions import Self  # typing.Self needs Python 3.11


@dataclass(frozen=True)
class TensorInfo:
    name: str
    shape: tuple[int | None, ...]  # None (or -1 in engines) marks a dynamic dimension
    dtype: np.dtype


class Pending:
    """An inference started by `Backend.infer_async`; `result()` waits for it and returns its outputs."""

    def __init__(self, outputs: dict[str, np.ndarray]) -> None:
        self._outputs = outputs

    def result(self) -> dict[str, np.ndarray]:
        return self._outputs


class Backend(abc.ABC):
    """Base class of all backends. Subclasses implement the four `_`-less abstract members."""

    name: str = "backend"
    max_in_flight: int = 1  # inferences infer_async can have running at once

    def __init__(self) -> None:
        self.is_active = False
        self.last_timing: dict[str, float] = {}

    @abc.abstractmethod
    def activate(self) -> None:
        """Load the model and allocate what inference needs."""

    @abc.abstractmethod
    def infer(self, feed: dict[str, np.ndarray],
              outputs: dict[str, np.ndarray] | None = None) -> dict[str, np.ndarray]:
        """Run one inference; returns outputs by name (arrays owned by the caller). With `outputs`
        (arrays of the outputs' shapes and dtypes, e.g. from `allocate`) the results are written into
        those arrays, which are what is returned."""

    def infer_async(self, feed: dict[str, np.ndarray],
                    outputs: dict[str, np.ndarray] | None = None) -> Pending:
        """Start an inference; backends that cannot overlap run it now and return it finished."""
        return Pending(self.infer(feed, outputs))

    def allocate(self, shape: tuple[int, ...], dtype: np.dtype) -> np.ndarray:
        """A host array the backend reads (as an input) or fills (as an output) without a copy of its own."""
        return np.empty(shape, dtype)

    @abc.abstractmethod
    def deactivate(self) -> None:
        """Release everything `activate` took."""

    @property
    @abc.abstractmethod
    def inputs(self) -> list[TensorInfo]:
        """Input tensors (valid after activate)."""

    @property
    @abc.abstractmethod
    def outputs(self) -> list[TensorInfo]:
        """Output tensors (valid after activate)."""

    def __enter__(self) -> Self:
        self.activate()
        self.is_active = True
        return self

    def __exit__(self, *exc: object) -> None:
        self.deactivate()
        self.is_active = False
