"""Segmenter: BGR frames in, class maps at the frame's own size out, on any backend (no torch).

Preprocessing: resize with OpenCV (INTER_AREA when shrinking, INTER_LINEAR otherwise), then either feed
uint8 NHWC BGR (models with embedded preprocessing) or normalise with the spec's mean/std in its colour
order into float NCHW. Postprocessing: the model's "labels" (argmax in the graph) or an argmax of its
"logits" (logit > 0 for binary models), scaled to the frame with INTER_NEAREST; filter_mode="linear"
upsamples the logits bilinearly before the argmax for smooth edges.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import cv2
import numpy as np
from segnet.runtime import model_io, render
from segnet.runtime.backends import Backend, open_backend

from segnet.errors import SegnetError
from segnet.spec import ModelSpec

if TYPE_CHECKING:
    from typing_extensions import Self  # typing.Self needs Python 3.11

FILTER_MODES = ("point", "linear")
MAX_RESIZE_CHANNELS = 512  # OpenCV's channel limit for cv2.resize


def _note(message: str) -> None:
    print(f"segnet: note: {message}", file=sys.stderr)


class Segmenter:
    """Opens `model_path` (.onnx or .engine) and segments frames. mean/std/classes/color_order/input_size
    override the model's spec (and are what a foreign model needs); `notes` lists assumptions made, which
    are passed once to `log` (stderr by default)."""

    def __init__(self, model_path: str | Path, backend: str = "auto", device: str = "cpu",
                 mean: Sequence[float] | None = None, std: Sequence[float] | None = None,
                 classes: model_io.ClassesOption = None, color_order: str | None = None,
                 input_size: tuple[int, int] | None = None, filter_mode: str = "point",
                 threads: int | None = None, log: Callable[[str], None] | None = _note,
                 **backend_options: Any) -> None:
        if filter_mode not in FILTER_MODES:
            raise SegnetError(f"filter_mode must be point or linear, got {filter_mode!r}")
        if color_order is not None and color_order not in ("RGB", "BGR"):
            raise SegnetError(f"color order must be RGB or BGR, got {color_order!r}")
        self.model_path = Path(model_path)
        if threads is not None:
            backend_options["threads"] = threads
        self.backend: Backend = open_backend(model_path, backend=backend, device=device, **backend_options)
        self.backend.activate()
        self.backend.is_active = True
        try:
            self.io = model_io.resolve(model_path, self.backend, mean=mean, std=std, classes=classes,
                                       color_order=color_order, input_size=input_size)
        except BaseException:
            self.close()
            raise
        if filter_mode == "linear" and self.io.logits_name is None:
            self.close()
            raise SegnetError(f"{model_path}: filter mode 'linear' needs a logits output and this model only "
                              "outputs labels; re-export with logits kept, or use --filter-mode point")
        self.filter_mode = filter_mode
        self.notes = list(self.io.notes)
        for message in self.notes if log else ():
            log(message)  # type: ignore[misc]
        spec = self.io.spec
        std_arr = np.asarray(spec.std, np.float32)
        self._scale = (1.0 / (255.0 * std_arr)).astype(np.float32)
        self._shift = (-np.asarray(spec.mean, np.float32) / std_arr).astype(np.float32)
        self._lut = render.color_lut(spec.palette)
        self.last_timing: dict[str, float] = {}

    @property
    def spec(self) -> ModelSpec:
        return self.io.spec

    @property
    def input_size(self) -> tuple[int, int]:
        """(height, width) of the network input."""
        return self.io.input_size

    def close(self) -> None:
        """Release the backend."""
        if self.backend.is_active:
            self.backend.deactivate()
            self.backend.is_active = False

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- preprocessing -------------------------------------------------------------------------------
    def _to_input(self, frame: np.ndarray) -> np.ndarray:
        """One frame -> one input sample (HWC uint8 BGR for embedded models, CHW float32 otherwise)."""
        if frame is None or frame.ndim not in (2, 3) or frame.size == 0:
            raise SegnetError(f"expected an HxW or HxWx3 image, got {None if frame is None else frame.shape}")
        if frame.dtype != np.uint8:
            raise SegnetError(f"expected a uint8 image, got {frame.dtype}")
        height, width = self.io.input_size
        channels = self.spec.in_channels
        if channels == 1 and frame.ndim == 3 and frame.shape[2] == 3:
            frame = cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY)
        elif channels == 3:
            frame = render.as_bgr(frame)
        if frame.shape[:2] != (height, width):
            shrink = frame.shape[0] >= height and frame.shape[1] >= width
            frame = cv2.resize(frame, (width, height), interpolation=cv2.INTER_AREA if shrink else cv2.INTER_LINEAR)
        if frame.ndim == 2:
            frame = frame[..., None]
        if self.io.embedded_preprocess:
            return frame
        if channels == 3 and self.spec.color_order == "RGB":
            frame = frame[..., ::-1]
        sample = frame.astype(np.float32) * self._scale + self._shift
        return sample.transpose(2, 0, 1)

    def preprocess(self, frames: Sequence[np.ndarray]) -> np.ndarray:
        """Frames -> the input batch tensor, in the dtype the model takes. One frame is a view of its
        sample (no copy: the hot path of streaming), several are stacked."""
        if len(frames) == 1:
            batch = self._to_input(frames[0])[None]
        else:
            batch = np.stack([self._to_input(f) for f in frames])
        return np.ascontiguousarray(batch, dtype=self.io.input_dtype)

    # -- inference -----------------------------------------------------------------------------------
    def _infer(self, batch: np.ndarray) -> dict[str, np.ndarray]:
        """Run the backend on a batch, chunked/padded to a fixed batch size when the model has one."""
        fixed = self.io.batch
        if fixed is None or fixed == len(batch):
            return self.backend.infer({self.io.input_name: batch})
        parts: list[dict[str, np.ndarray]] = []
        for start in range(0, len(batch), fixed):
            chunk = batch[start:start + fixed]
            if len(chunk) < fixed:
                chunk = np.concatenate([chunk, np.repeat(chunk[-1:], fixed - len(chunk), axis=0)])
            parts.append(self.backend.infer({self.io.input_name: chunk}))
        return {name: np.concatenate([p[name] for p in parts])[:len(batch)] for name in parts[0]}

    def _run(self, frames: Sequence[np.ndarray]) -> dict[str, np.ndarray]:
        start = time.perf_counter()
        batch = self.preprocess(frames)
        mid = time.perf_counter()
        outputs = self._infer(batch)
        end = time.perf_counter()
        self.last_timing = {"pre": (mid - start) * 1000.0, "infer": (end - mid) * 1000.0}
        self.last_timing.update(self.backend.last_timing)
        return outputs

    # -- postprocessing ------------------------------------------------------------------------------
    def _logits_to_map(self, logits: np.ndarray, size: tuple[int, int]) -> np.ndarray:
        """C x h x w logits -> H x W uint8 class map at `size` (height, width)."""
        height, width = size
        if self.filter_mode == "linear" and (height > logits.shape[1] or width > logits.shape[2]):
            logits = self._resize_logits(logits, size)
        if logits.shape[0] == 1:
            class_map = (logits[0] > 0).astype(np.uint8)
        else:
            class_map = logits.argmax(axis=0).astype(np.uint8)
        return self._to_size(class_map, size)

    @staticmethod
    def _resize_logits(logits: np.ndarray, size: tuple[int, int]) -> np.ndarray:
        """Bilinear resize of C x h x w logits to C x H x W (OpenCV, up to 512 channels per call)."""
        height, width = size
        hwc = np.ascontiguousarray(logits.transpose(1, 2, 0), dtype=np.float32)
        chunks = [cv2.resize(hwc[..., i:i + MAX_RESIZE_CHANNELS], (width, height), interpolation=cv2.INTER_LINEAR)
                  for i in range(0, hwc.shape[2], MAX_RESIZE_CHANNELS)]
        chunks = [c[..., None] if c.ndim == 2 else c for c in chunks]
        return np.concatenate(chunks, axis=2).transpose(2, 0, 1)

    @staticmethod
    def _to_size(class_map: np.ndarray, size: tuple[int, int]) -> np.ndarray:
        height, width = size
        if class_map.shape != (height, width):
            class_map = cv2.resize(class_map, (width, height), interpolation=cv2.INTER_NEAREST)
        return class_map

    def _class_map(self, outputs: dict[str, np.ndarray], i: int, size: tuple[int, int]) -> np.ndarray:
        use_logits = self.io.logits_name and (self.filter_mode == "linear" or not self.io.labels_name)
        if use_logits:
            return self._logits_to_map(outputs[self.io.logits_name][i], size)  # type: ignore[index]
        labels = outputs[self.io.labels_name][i]  # type: ignore[index]
        labels = labels.reshape(labels.shape[-2:]).astype(np.uint8, copy=False)
        return self._to_size(labels, size)

    # -- public API ----------------------------------------------------------------------------------
    def predict_batch(self, frames: Sequence[np.ndarray]) -> list[np.ndarray]:
        """Class maps (H x W uint8, each at its frame's size) for several frames in one inference."""
        if not len(frames):
            return []
        outputs = self._run(frames)
        start = time.perf_counter()
        maps = [self._class_map(outputs, i, f.shape[:2]) for i, f in enumerate(frames)]
        self.last_timing["post"] = (time.perf_counter() - start) * 1000.0
        return maps

    def predict(self, frame_bgr: np.ndarray) -> np.ndarray:
        """The class map (H x W uint8) of one BGR frame, at the frame's size."""
        return self.predict_batch([frame_bgr])[0]

    def predict_logits(self, frame_bgr: np.ndarray) -> np.ndarray:
        """Per-class logits (C x H x W float32) of one frame, scaled bilinearly to the frame's size."""
        if not self.io.logits_name:
            raise SegnetError(f"{self.model_path}: the model has no logits output (only a class map); "
                              "re-export it with logits kept")
        outputs = self._run([frame_bgr])
        start = time.perf_counter()
        logits = outputs[self.io.logits_name][0].astype(np.float32, copy=False)
        if logits.shape[1:] != frame_bgr.shape[:2]:
            logits = self._resize_logits(logits, frame_bgr.shape[:2])
        self.last_timing["post"] = (time.perf_counter() - start) * 1000.0
        return logits

    def colorize(self, class_map: np.ndarray) -> np.ndarray:
        """Class map -> BGR image in the model's palette."""
        return render.colorize(class_map, self._lut)

    def overlay(self, frame: np.ndarray, class_map: np.ndarray, alpha: float = 0.5,
                ignore: int | None = None) -> np.ndarray:
        """The frame with class colours blended in; class `ignore` left as it is."""
        return render.overlay(frame, class_map, self._lut, alpha, ignore)
