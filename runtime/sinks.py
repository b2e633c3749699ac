"""Outputs from URIs, jetson-inference style: where rendered frames (and class maps) go.

The URIs: segnet.runtime.uris.SINK_URIS.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import cv2
import numpy as np

from segnet import atomic
from segnet.errors import SegnetError

if TYPE_CHECKING:
    from typing_extensions import Self  # typing.Self needs Python 3.11

VIDEO_CODECS = {".mp4": "mp4v", ".m4v": "mp4v", ".mov": "mp4v", ".avi": "MJPG", ".mkv": "mp4v"}


@dataclass
class SinkFrame:
    """One processed frame as sinks receive it. Its arrays live in buffers the pipeline reuses for later
    frames: valid during `write`, a sink that keeps one for later copies it."""

    index: int  # position in the source
    image: np.ndarray  # the rendered picture (overlay / mask / both, HUD, legend), BGR uint8
    class_map: np.ndarray | None  # H x W uint8 class indices at the frame's size (None: the model gives none)


class Sink:
    """Base class. `write` gets every processed frame; `update_stats` a statistics snapshot about once a
    second; `stop_requested` turns True when the user asks the sink to end the run (display: `q`)."""

    def __init__(self, uri: str) -> None:
        self.uri = uri
        self.stop_requested = False
        self.written = 0

    def write(self, frame: SinkFrame) -> None:
        raise NotImplementedError

    def update_stats(self, stats: dict[str, Any]) -> None:
        """Receive live statistics (only sinks that show them care)."""

    def close(self) -> None:
        """Finish the output (finalise files, stop servers)."""

    def describe(self) -> str:
        return self.uri

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class NullSink(Sink):
    """Discards frames (but counts them)."""

    def write(self, frame: SinkFrame) -> None:
        self.written += 1


class VideoSink(Sink):
    """A video file, opened on the first frame (its size) and renamed into place on close."""

    def __init__(self, uri: str, path: Path, fps: float = 30.0, codec: str | None = None) -> None:
        super().__init__(uri)
        self.path = path
        self.fps = fps if fps and fps > 0 else 30.0
        suffix = path.suffix.lower()
        if codec is None and suffix not in VIDEO_CODECS:
            raise SegnetError(f"{path}: unknown video type {suffix!r}; use {', '.join(VIDEO_CODECS)} or a folder/")
        self.codec = codec or VIDEO_CODECS[suffix]
        self.writer: cv2.VideoWriter | None = None
        self.size: tuple[int, int] | None = None
        self._stack = contextlib.ExitStack()

    def _start(self, width: int, height: int) -> None:
        tmp = self._stack.enter_context(atomic.atomic_path(self.path))
        self.writer = cv2.VideoWriter(str(tmp), cv2.VideoWriter.fourcc(*self.codec), self.fps, (width, height))
        if not self.writer.isOpened():
            self._stack.close()
            raise SegnetError(f"{self.path}: OpenCV cannot write {self.codec} video here; try an .avi (MJPG) "
                              "or a folder/ of PNGs")
        self.size = (width, height)

    def write(self, frame: SinkFrame) -> None:
        image = frame.image
        height, width = image.shape[:2]
        if self.writer is None:
            self._start(width, height)
        elif (width, height) != self.size:
            image = cv2.resize(image, self.size)
        assert self.writer is not None
        self.writer.write(image)
        self.written += 1

    def close(self) -> None:
        if self.writer is not None:
            self.writer.release()
            self.writer = None
            self._stack.close()  # renames the finished file into place

    def describe(self) -> str:
        return f"{self.path} ({self.codec}, {self.fps:g} fps)"


class FolderSink(Sink):
    """PNG per frame: NNNNNN.png (rendered) and NNNNNN_classes.png (class indices as pixel values)."""

    def __init__(self, uri: str, folder: Path, class_maps: bool = True) -> None:
        super().__init__(uri)
        self.folder = folder
        self.class_maps = class_maps
        folder.mkdir(parents=True, exist_ok=True)

    def _png(self, name: str, image: np.ndarray) -> None:
        with atomic.atomic_path(self.folder / name) as tmp:
            if not cv2.imwrite(str(tmp), image):
                raise SegnetError(f"{self.folder / name}: cannot write PNG")

    def write(self, frame: SinkFrame) -> None:
        self._png(f"{frame.index:06d}.png", frame.image)
        if self.class_maps and frame.class_map is not None:
            self._png(f"{frame.index:06d}_classes.png", frame.class_map)
        self.written += 1

    def describe(self) -> str:
        return f"{self.folder}/ (PNG)"


class DisplaySink(Sink):
    """An OpenCV window; `q` or Esc sets stop_requested."""

    def __init__(self, uri: str, title: str = "segnet") -> None:
        super().__init__(uri)
        self.title = title
        if sys.platform.startswith("linux") and not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
            raise SegnetError("display:// needs a screen (no DISPLAY is set); write a video or use "
                              "--output http://127.0.0.1:8080 to watch in a browser")
        try:
            cv2.namedWindow(title, cv2.WINDOW_NORMAL)
        except cv2.error:
            raise SegnetError("display:// needs OpenCV with GUI support (opencv-python-headless has none): "
                              "pip install opencv-python, or use --output http://127.0.0.1:8080") from None

    def write(self, frame: SinkFrame) -> None:
        cv2.imshow(self.title, frame.image)
        if cv2.waitKey(1) & 0xFF in (ord("q"), 27):
            self.stop_requested = True
        self.written += 1

    def close(self) -> None:
        with contextlib.suppress(cv2.error):
            cv2.destroyWindow(self.title)


def open_sink(uri: str, fps: float | None = None, codec: str | None = None, class_maps: bool = True) -> Sink:
    """Create the sink for `uri` (see the module docstring). fps: the video's frame rate (default 30)."""
    text = str(uri).strip()
    scheme = text.split("://", 1)[0].lower() if "://" in text else ""
    if text in ("null", "null://", "none"):
        return NullSink(text)
    if scheme == "display":
        return DisplaySink(text)
    if scheme in ("http", "https"):
        if scheme == "https":
            raise SegnetError(f"{text}: the live view serves plain http (put a TLS proxy in front if needed)")
        from segnet.runtime.http_view import HttpSink

        return HttpSink(text)
    if scheme == "folder":
        return FolderSink(text, Path(text[len("folder://"):]), class_maps=class_maps)
    if scheme == "file":
        text = text[len("file://"):]
    elif scheme:
        raise SegnetError(f"unknown output {text!r}: use a video file, a folder/, display://, http://HOST:PORT "
                          "or null")
    path = Path(text)
    if text.endswith(("/", os.sep)) or path.is_dir() or not path.suffix:
        return FolderSink(text, path, class_maps=class_maps)
    return VideoSink(text, path, fps=fps or 30.0, codec=codec)


def open_sinks(uris: Sequence[str], fps: float | None = None, **options: Any) -> list[Sink]:
    """Several sinks at once; on failure the ones already opened are closed again."""
    sinks: list[Sink] = []
    try:
        for uri in uris:
            sinks.append(open_sink(uri, fps=fps, **options))
    except BaseException:
        for sink in sinks:
            sink.close()
        raise
    return sinks
