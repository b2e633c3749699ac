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

from segnet.errors import SegnetError

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
    """Base class of all backends. The public life cycle (`activate`, `infer`, `infer_async`, `deactivate`,
    the context manager) does the bookkeeping: whether the backend is active, and that a feed names exactly
    the model's inputs. Subclasses implement `_activate_impl`, `_infer_impl`, `_deactivate_impl` (and may
    override `_infer_async_impl`), plus `inputs` and `outputs`; they set `last_timing` in their inference."""

    name: str = "backend"
    max_in_flight: int = 1  # inferences infer_async can have running at once
    remote: bool = False  # the model lives on a server (its spec comes from there, not from a local sidecar)

    def __init__(self) -> None:
        self._active = False
        self._input_names: list[str] = []
        self.last_timing: dict[str, float] = {}

    @property
    def is_active(self) -> bool:
        """True between a successful `activate()` and `deactivate()`."""
        return self._active

    # -- public life cycle ------------------------------------------------------------------------
    def activate(self) -> None:
        """Load the model and allocate what inference needs; a no-op when already active."""
        if self._active:
            return
        self._activate_impl()
        self._input_names = [info.name for info in self.inputs]  # asked once, not per frame
        self._active = True

    def infer(self, feed: dict[str, np.ndarray],
              outputs: dict[str, np.ndarray] | None = None) -> dict[str, np.ndarray]:
        """Run one inference; returns outputs by name (arrays owned by the caller). With `outputs`
        (arrays of the outputs' shapes and dtypes, e.g. from `allocate`) the results are written into
        those arrays, which are what is returned."""
        self._check_feed(feed)
        return self._infer_impl(feed, outputs)

    def infer_async(self, feed: dict[str, np.ndarray],
                    outputs: dict[str, np.ndarray] | None = None) -> Pending:
        """Start an inference; backends that cannot overlap run it now and return it finished."""
        self._check_feed(feed)
        return self._infer_async_impl(feed, outputs)

    def deactivate(self) -> None:
        """Release everything `activate` took; a no-op when not active."""
        if not self._active:
            return
        self._deactivate_impl()
        self._active = False
        self._input_names = []

    def allocate(self, shape: tuple[int, ...], dtype: np.dtype) -> np.ndarray:
        """A host array the backend reads (as an input) or fills (as an output) without a copy of its own."""
        return np.empty(shape, dtype)

    def _label(self) -> str:
        """How errors name this backend's model (subclasses: the model file's name)."""
        return self.name

    def _check_feed(self, feed: dict[str, np.ndarray]) -> None:
        if not self._active:
            raise SegnetError("backend is not active: call activate() or use it as a context manager")
        expected = self._input_names
        if len(feed) != len(expected) or any(name not in feed for name in expected):
            raise SegnetError(f"{self._label()}: expected inputs {sorted(expected)}, got {sorted(feed)}")

    # -- what subclasses implement ----------------------------------------------------------------
    @abc.abstractmethod
    def _activate_impl(self) -> None:
        """Load the model and allocate what inference needs (called only when not active)."""

    @abc.abstractmethod
    def _infer_impl(self, feed: dict[str, np.ndarray],
                    outputs: dict[str, np.ndarray] | None) -> dict[str, np.ndarray]:
        """Run one inference on a checked feed (see `infer`)."""

    def _infer_async_impl(self, feed: dict[str, np.ndarray],
                          outputs: dict[str, np.ndarray] | None) -> Pending:
        """Start an inference on a checked feed; by default run it now and return it finished."""
        return Pending(self._infer_impl(feed, outputs))

    @abc.abstractmethod
    def _deactivate_impl(self) -> None:
        """Release everything `_activate_impl` took (called only when active)."""

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
        return self

    def __exit__(self, *exc: object) -> None:
        self.deactivate()
