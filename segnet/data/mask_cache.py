"""A disk cache of converted class maps (colour and one-hot masks), so an epoch does not redo the
conversion. It lives outside the dataset (MaskOptions.cache_dir: the user cache folder by default) and
says where once per process. An entry is keyed by the mask's absolute path and the conversion settings,
and stamped with the file's size, mtime and inode (for a folder of per-class files: each file's): a
changed mask misses, and its stale entry is replaced. Writes are atomic; a cache folder that cannot be
written is reported once and the conversion simply runs every time."""

from __future__ import annotations

import hashlib
import sys
from pathlib import Path

import numpy as np

from segnet import atomic
from segnet.data.mask_options import MaskDecoder

_ANNOUNCED: set[str] = set()


def file_stamp(path: Path) -> str:
    """Size-mtime-inode of a file, or a digest of those of every file in a folder."""
    if path.is_dir():
        parts = sorted(f"{p.name}:{file_stamp(p)}" for p in path.iterdir() if p.is_file())
        return hashlib.sha1("|".join(parts).encode()).hexdigest()[:16]
    st = path.stat()
    return f"{st.st_size}-{st.st_mtime_ns}-{st.st_ino}"


def announce(message: str) -> None:
    """Print `message` once per process (to stderr, so JSON on stdout stays clean)."""
    if message not in _ANNOUNCED:
        _ANNOUNCED.add(message)
        print(message, file=sys.stderr, flush=True)


class CachedDecoder:
    """Wraps a mask decoder with the disk cache at `folder` (itself a MaskDecoder)."""

    def __init__(self, decoder: MaskDecoder, folder: Path) -> None:
        self.decoder = decoder
        self.folder = Path(folder)
        self.writable = True

    @property
    def kind(self) -> str:
        return self.decoder.kind

    @property
    def ignore_index(self) -> int | None:
        return self.decoder.ignore_index

    @ignore_index.setter
    def ignore_index(self, value: int | None) -> None:
        self.decoder.ignore_index = value

    def cache_key(self) -> str:
        return self.decoder.cache_key()

    def entry(self, path: Path) -> tuple[Path, str]:
        """(entry file, its key prefix) of one mask."""
        key = hashlib.sha1(f"{Path(path).resolve()}|{self.cache_key()}".encode()).hexdigest()[:24]
        return self.folder / key[:2] / f"{key}-{file_stamp(Path(path))}.npy", key

    def __call__(self, path: str | Path) -> np.ndarray:
        path = Path(path)
        entry, key = self.entry(path)
        if entry.is_file():
            try:
                return np.load(entry, allow_pickle=False).astype(np.int64)
            except (OSError, ValueError):
                pass  # damaged entry: convert again and rewrite it
        labels = self.decoder(path)
        if self.writable:
            self.store(entry, key, labels)
        return labels

    def store(self, entry: Path, key: str, labels: np.ndarray) -> None:
        dtype = np.uint8 if labels.max(initial=0) < 256 and labels.min(initial=0) >= 0 else np.int32
        try:
            for stale in entry.parent.glob(f"{key}-*.npy"):
                stale.unlink(missing_ok=True)
            with atomic.atomic_path(entry) as tmp, open(tmp, "wb") as handle:
                np.save(handle, labels.astype(dtype))
        except OSError as exc:
            self.writable = False
            announce(f"mask cache: cannot write {self.folder} ({exc.strerror or exc}); converting masks every "
                     "time (choose a folder with --mask-cache DIR, or --mask-cache off)")
