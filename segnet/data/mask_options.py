"""How mask files are turned into class maps: the options `segnet train/evaluate/export/bench` pass down.

Plain data (no torch): it travels in the training config and is stored in checkpoints. docs/masks.md has
the mask kinds, the classes.json keys and the cache.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np

from segnet.errors import SegnetError

MASK_FORMATS = ("auto", "index", "color", "onehot")
OVERLAP_CHOICES = ("ignore", "first", "error")  # a pixel set in two or more channels of a one-hot mask
EMPTY_CHOICES = ("ignore", "error")  # a pixel set in no channel
CACHE_ENV = "SEGNET_CACHE"


class MaskDecoder(Protocol):
    """What turns one mask file (or per-class folder) into HxW int64 labels: ColorDecoder, OneHotDecoder, or
    either wrapped in the cache. `cache_key()` names everything the result depends on besides the file."""

    kind: str
    ignore_index: int | None

    def cache_key(self) -> str: ...

    def __call__(self, path: Path) -> np.ndarray: ...


@dataclass(frozen=True)
class MaskOptions:
    """`tolerance`: colour masks, max per-channel difference still mapped to a palette colour (0 = exact);
    `overlap` / `empty`: one-hot pixels in several / no channels (ignore = the ignore index);
    `cache`: folder for converted class maps, "auto" (the user cache folder, never the dataset) or "off"."""

    tolerance: int = 0
    overlap: str = "ignore"
    empty: str = "ignore"
    cache: str = "auto"

    def __post_init__(self) -> None:
        if not isinstance(self.tolerance, int) or not 0 <= self.tolerance <= 64:
            raise SegnetError(f"--mask-tolerance must be an integer from 0 to 64, got {self.tolerance!r}")
        if self.overlap not in OVERLAP_CHOICES:
            raise SegnetError(f"--mask-overlap {self.overlap!r}: choose {', '.join(OVERLAP_CHOICES)}")
        if self.empty not in EMPTY_CHOICES:
            raise SegnetError(f"--mask-empty {self.empty!r}: choose {', '.join(EMPTY_CHOICES)}")

    def cache_dir(self) -> Path | None:
        """Where converted class maps are kept: --mask-cache DIR, else $SEGNET_CACHE/masks, else
        $XDG_CACHE_HOME/segnet/masks (default ~/.cache/segnet/masks); None when caching is off."""
        if self.cache == "off":
            return None
        if self.cache != "auto":
            return Path(self.cache).expanduser()
        if os.environ.get(CACHE_ENV):
            return Path(os.environ[CACHE_ENV]).expanduser() / "masks"
        base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
        return Path(base).expanduser() / "segnet" / "masks"

    def to_dict(self) -> dict[str, object]:
        return dataclasses.asdict(self)
