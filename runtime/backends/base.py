"""The one interface every inference backend offers (after Polygraphy's runners).

Life cycle: construct (cheap, nothing loaded) -> `activate()` (load model, allocate) -> `infer(feed)`
any number of times -> `deactivate()`; or use it as a context manager. `infer` takes and returns numpy
arrays keyed by tensor name. After each `infer`, `last_timing` holds that call's times in milliseconds:
always "compute", plus "h2d" and "d2h" where the backend copies to and from a device.
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


class Backend(abc.ABC):
    """Base class of all backends. Subclasses implement the four `_`-less abstract members."""

    name: str = "backend"

    def __init__(self) -> None:
        self.is_active = False
        self.last_timing: dict[str, float] = {}

    @abc.abstractmethod
    def activate(self) -> None:
        """Load the model and allocate what inference needs."""

    @abc.abstractmethod
    def infer(self, feed: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Run one inference; returns outputs by name (arrays owned by the caller)."""

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
