"""Frame sources from jetson-inference style URIs: cameras, CSI, network streams, files, images, synthetic.

The URIs: segnet.runtime.uris.SOURCE_URIS.

Live sources (cameras, streams, synthetic with fps) are reopened with backoff when they fail; frames that
cannot be decoded are skipped and counted in `skipped`, never fatal.
"""

from __future__ import annotations

import glob
import os
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import parse_qs, urlsplit

import cv2
import numpy as np

from segnet.errors import SegnetError

if TYPE_CHECKING:
    from typing_extensions import Self  # typing.Self needs Python 3.11

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp", ".ppm", ".pgm", ".pnm")
NETWORK_SCHEMES = ("rtsp", "rtsps", "rtmp", "http", "https", "udp", "tcp")
MAX_BAD_READS = 30  # consecutive failed reads that mean "end of file" (or "camera gone" when live)
BACKOFF = (0.25, 0.5, 1.0, 2.0, 4.0)  # seconds between reopen attempts of a live source
STREAM_TIMEOUT_MS = 5000  # network streams: give up opening / waiting for a frame after this long


def parse_size(text: str) -> tuple[int, int]:
    """'240x320' (height x width) -> (240, 320)."""
    try:
        height, width = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise SegnetError(f"size must look like HEIGHTxWIDTH (e.g. 240x320), got {text!r}") from None
    if height <= 0 or width <= 0:
        raise SegnetError(f"size must be positive, got {text!r}")
    return height, width


def gstreamer_available() -> bool:
    """Whether this OpenCV was built with GStreamer (needed for CSI cameras and raw pipelines)."""
    for line in cv2.getBuildInformation().splitlines():
        if line.strip().startswith("GStreamer:"):
            return "YES" in line
    return False


class Source:
    """Base class: `read()` returns the next BGR uint8 frame or None at the end; handles loop and max_frames.
    `read(into=array)` decodes into `array` where the source can (OpenCV captures of the same frame shape:
    the frame returned is then `array` itself). Subclasses implement `_open`, `_read(into)` (None = end of
    stream) and, for files, `_rewind`."""

    live = False

    def __init__(self, uri: str, loop: bool = False, max_frames: int | None = None) -> None:
        self.uri = uri
        self.loop = loop
        self.max_frames = max_frames
        self.frames = 0  # frames returned
        self.skipped = 0  # frames that could not be decoded
        self.reconnects = 0
        self.fps: float | None = None  # nominal rate when known (video files, cameras, paced synthetic)
        self.is_open = False

    def open(self) -> Source:
        if not self.is_open:
            self._open()
            self.is_open = True
        return self

    def read(self, into: np.ndarray | None = None) -> np.ndarray | None:
        if self.max_frames is not None and self.frames >= self.max_frames:
            return None
        frame = self._read(into)
        if frame is None and self.loop and not self.live and self.frames > 0:
            self._rewind()
            frame = self._read(into)
        if frame is not None:
            self.frames += 1
        return frame

    def close(self) -> None:
        if self.is_open:
            self._close()
            self.is_open = False

    def __iter__(self) -> Iterator[np.ndarray]:
        self.open()
        while True:
            frame = self.read()
            if frame is None:
                return
            yield frame

    def __enter__(self) -> Self:
        self.open()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _open(self) -> None:
        pass

    def _read(self, into: np.ndarray | None = None) -> np.ndarray | None:
        raise NotImplementedError

    def _rewind(self) -> None:
        raise NotImplementedError

    def _close(self) -> None:
        pass

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.uri!r}, live={self.live})"


class CaptureSource(Source):
    """Anything cv2.VideoCapture opens: cameras, streams, video files, GStreamer pipelines."""

    backoff = BACKOFF

    def __init__(self, uri: str, target: str | int, api: int, live: bool, width: int | None = None,
                 height: int | None = None, fps: float | None = None, fallback: str | None = None,
                 **kwargs: object) -> None:
        super().__init__(uri, **kwargs)  # type: ignore[arg-type]
        self.target, self.api, self.live = target, api, live
        self.request = (width, height, fps)
        self.fallback = fallback  # a GStreamer pipeline to try when the first API cannot open the target
        self.capture: cv2.VideoCapture | None = None
        self.frame_count = 0  # frames the container says it holds (files), 0 when unknown

    def _connect(self) -> cv2.VideoCapture | None:
        capture = cv2.VideoCapture(self.target, self.api, self._timeouts())
        if not capture.isOpened() and self.fallback:
            capture = cv2.VideoCapture(self.fallback, cv2.CAP_GSTREAMER)
        if not capture.isOpened():
            return None
        width, height, fps = self.request
        if isinstance(self.target, int) or self.api == cv2.CAP_V4L2:
            if width:
                capture.set(cv2.CAP_PROP_FRAME_WIDTH, width)
            if height:
                capture.set(cv2.CAP_PROP_FRAME_HEIGHT, height)
            if fps:
                capture.set(cv2.CAP_PROP_FPS, fps)
            capture.set(cv2.CAP_PROP_BUFFERSIZE, 1)  # keep the driver from queueing stale frames
        rate = capture.get(cv2.CAP_PROP_FPS)
        self.fps = float(rate) if rate and 0 < rate < 1000 else None
        self.frame_count = 0 if self.live else max(0, int(capture.get(cv2.CAP_PROP_FRAME_COUNT) or 0))
        return capture

    def _timeouts(self) -> list[int]:
        """Open/read timeouts for live FFmpeg streams, so a vanished camera fails fast and gets reopened
        (properties exist from OpenCV 4.6 on; older builds keep FFmpeg's defaults)."""
        if not (self.live and self.api == cv2.CAP_FFMPEG and hasattr(cv2, "CAP_PROP_READ_TIMEOUT_MSEC")):
            return []
        return [cv2.CAP_PROP_OPEN_TIMEOUT_MSEC, STREAM_TIMEOUT_MS, cv2.CAP_PROP_READ_TIMEOUT_MSEC, STREAM_TIMEOUT_MS]

    def _open(self) -> None:
        self.capture = self._connect()
        if self.capture is None:
            raise SegnetError(f"cannot open source {self.uri!r}: check the path, device or URL "
                              "(and that this OpenCV build supports it: `segnet doctor`)")
        self.decoded = 0  # frames decoded in this pass over the file
        self.pass_skipped = 0  # frames skipped in this pass
        self.pending_bad = 0

    def _read(self, into: np.ndarray | None = None) -> np.ndarray | None:
        bad = 0
        while True:
            if self.capture is None:
                ok, frame = False, None
            else:  # OpenCV decodes into `into` when its shape and type fit, else it allocates
                ok, frame = self.capture.read() if into is None else self.capture.read(image=into)
            if ok and frame is not None and frame.size:
                self._skip(self.pending_bad)  # failures followed by a good frame were bad frames
                self.pending_bad = 0
                self.decoded += 1
                return frame
            bad += 1
            self.pending_bad += 1
            if bad < MAX_BAD_READS:
                continue
            if not self.live:
                self._end_of_file()
                return None
            if not self._reconnect():
                return None

    def _skip(self, count: int) -> None:
        self.skipped += count
        self.pass_skipped += count

    def _end_of_file(self) -> None:
        """At the end of a file, frames the container announced but we never decoded were skipped."""
        self.pending_bad = 0
        self._skip(max(0, self.frame_count - self.decoded - self.pass_skipped))

    def _reconnect(self) -> bool:
        """Reopen a live source that stopped delivering, waiting longer between tries; False if it stays gone
        for the whole backoff schedule."""
        self.pending_bad = 0
        if self.capture is not None:
            self.capture.release()
        for delay in self.backoff:
            time.sleep(delay)
            self.capture = self._connect()
            if self.capture is not None:
                self.reconnects += 1
                print(f"segnet: source {self.uri} reconnected", file=sys.stderr)
                return True
        print(f"segnet: source {self.uri} is gone (no frames after {sum(self.backoff):.1f} s of retries)",
              file=sys.stderr)
        return False

    def _rewind(self) -> None:
        if self.capture is not None:
            self.capture.release()
        self.capture = self._connect()
        self.decoded = self.pass_skipped = self.pending_bad = 0

    def _close(self) -> None:
        if self.capture is not None:
            self.capture.release()
            self.capture = None


class ImageFilesSource(Source):
    """Still images in order (one file, a folder or a glob); unreadable images are skipped and counted."""

    def __init__(self, uri: str, paths: list[Path], **kwargs: object) -> None:
        super().__init__(uri, **kwargs)  # type: ignore[arg-type]
        if not paths:
            raise SegnetError(f"no images found for source {uri!r} (extensions: {', '.join(IMAGE_EXTENSIONS)})")
        self.paths = paths
        self.position = 0

    def _read(self, into: np.ndarray | None = None) -> np.ndarray | None:
        while self.position < len(self.paths):
            path = self.paths[self.position]
            self.position += 1
            frame = cv2.imread(str(path), cv2.IMREAD_COLOR)
            if frame is not None:
                return frame
            self.skipped += 1
            print(f"segnet: skipping unreadable image {path}", file=sys.stderr)
        return None

    def _rewind(self) -> None:
        self.position = 0


class SyntheticSource(Source):
    """The built-in moving road scene (segnet.data.synthetic.SceneSequence); paced to `fps` when given,
    which makes it a live source (frames appear in real time like a camera's)."""

    def __init__(self, uri: str, size: tuple[int, int] = (240, 320), seed: int = 0, frames: int | None = None,
                 fps: float | None = None, **kwargs: object) -> None:
        super().__init__(uri, **kwargs)  # type: ignore[arg-type]
        self.size, self.seed, self.limit = size, seed, frames
        self.fps = fps
        self.live = fps is not None
        self.produced = 0
        self.next_due = 0.0

    def _open(self) -> None:
        from segnet.data.synthetic import SceneSequence  # numpy + OpenCV, like the runtime
        self.scenes = iter(SceneSequence(size=self.size, seed=self.seed))
        self.next_due = time.perf_counter()

    def _read(self, into: np.ndarray | None = None) -> np.ndarray | None:
        if self.limit is not None and self.produced >= self.limit:
            return None
        if self.fps:
            self.next_due += 1.0 / self.fps
            delay = self.next_due - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
            else:
                self.next_due = time.perf_counter()  # fell behind: do not burst to catch up
        frame, _mask = next(self.scenes)
        self.produced += 1
        return frame

    def _rewind(self) -> None:
        self.produced = 0
        self._open()


def _synthetic(uri: str, **kwargs: object) -> SyntheticSource:
    query = {k: v[-1] for k, v in parse_qs(urlsplit(uri).query).items()}
    known = {"frames", "size", "seed", "fps"}
    unknown = set(query) - known
    if unknown:
        raise SegnetError(f"{uri}: unknown option(s) {sorted(unknown)}; synthetic:// takes {sorted(known)}")
    try:
        frames = int(query["frames"]) if "frames" in query else None
        seed = int(query.get("seed", 0))
        fps = float(query["fps"]) if "fps" in query else None
    except ValueError as exc:
        raise SegnetError(f"{uri}: bad option value ({exc})") from None
    size = parse_size(query["size"]) if "size" in query else (240, 320)
    return SyntheticSource(uri, size=size, seed=seed, frames=frames, fps=fps, **kwargs)


def _csi_pipeline(sensor: int, width: int | None, height: int | None, fps: float | None) -> str:
    width, height, rate = width or 1280, height or 720, int(fps or 30)
    return (f"nvarguscamerasrc sensor-id={sensor} ! video/x-raw(memory:NVMM), width={width}, height={height}, "
            f"framerate={rate}/1, format=NV12 ! nvvidconv ! video/x-raw, format=BGRx ! videoconvert ! "
            "video/x-raw, format=BGR ! appsink drop=true max-buffers=1 sync=false")


def open_source(uri: str | int, width: int | None = None, height: int | None = None,
                fps: float | None = None, loop: bool = False, max_frames: int | None = None) -> Source:
    """Create and open the source for `uri` (see the module docstring for the forms)."""
    text = str(uri).strip()
    common = {"loop": loop, "max_frames": max_frames}
    capture = {"width": width, "height": height, "fps": fps}
    scheme = text.split("://", 1)[0].lower() if "://" in text else ""
    if "!" in text:
        if not gstreamer_available():
            raise SegnetError("a GStreamer pipeline needs OpenCV built with GStreamer (this one is not: on Jetson "
                              "use the system OpenCV, python3-opencv)")
        source: Source = CaptureSource(text, text, cv2.CAP_GSTREAMER, live=True, **common)  # type: ignore[arg-type]
    elif text.isdigit():
        source = CaptureSource(text, int(text), _camera_api(), live=True, **capture, **common)  # type: ignore[arg-type]
    elif scheme == "v4l2" or text.startswith("/dev/video"):
        device = text[len("v4l2://"):] if scheme == "v4l2" else text
        source = CaptureSource(text, device, cv2.CAP_V4L2, live=True, **capture, **common)  # type: ignore[arg-type]
    elif scheme == "csi":
        if not gstreamer_available():
            raise SegnetError(f"{text}: CSI cameras need OpenCV built with GStreamer; this OpenCV has none (on Jetson "
                              "use JetPack's python3-opencv, not opencv-python from PyPI)")
        sensor = text[len("csi://"):] or "0"
        if not sensor.isdigit():
            raise SegnetError(f"{text}: expected csi://N with N the sensor number")
        pipeline = _csi_pipeline(int(sensor), width, height, fps)
        source = CaptureSource(text, pipeline, cv2.CAP_GSTREAMER, live=True, **common)  # type: ignore[arg-type]
    elif scheme in NETWORK_SCHEMES:
        fallback = (f"uridecodebin uri={text} ! videoconvert ! video/x-raw, format=BGR ! appsink drop=true "
                    "max-buffers=1 sync=false") if gstreamer_available() else None
        source = CaptureSource(text, text, cv2.CAP_FFMPEG, live=True, fallback=fallback, **common)  # type: ignore[arg-type]
    elif scheme == "synthetic":
        source = _synthetic(text, **common)
    else:
        source = _file_source(text[len("file://"):] if scheme == "file" else text, common)
    return source.open()


def _camera_api() -> int:
    return cv2.CAP_V4L2 if sys.platform.startswith("linux") else cv2.CAP_ANY


def _file_source(text: str, common: dict) -> Source:
    """A video file, an image file, a folder of images or a glob."""
    path = Path(text)
    if any(ch in text for ch in "*?["):
        paths = sorted(Path(p) for p in glob.glob(text) if p.lower().endswith(IMAGE_EXTENSIONS))
        return ImageFilesSource(text, paths, **common)
    if path.is_dir():
        paths = sorted(p for p in path.iterdir() if p.suffix.lower() in IMAGE_EXTENSIONS)
        return ImageFilesSource(text, paths, **common)
    if not path.exists():
        raise SegnetError(f"source {text!r} not found: give a camera (0, /dev/video0, csi://0), a URL, a video, "
                          "an image, a folder, a glob or synthetic://")
    if path.suffix.lower() in IMAGE_EXTENSIONS:
        return ImageFilesSource(text, [path], **common)
    if not os.access(path, os.R_OK):
        raise SegnetError(f"{path}: not readable")
    return CaptureSource(text, str(path), cv2.CAP_FFMPEG, live=False, **common)
