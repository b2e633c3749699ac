"""Segmenter: BGR frames in, class maps at the frame's own size out, on any backend (no torch).

Preprocessing: resize with OpenCV by segnet.preprocess's rule (INTER_AREA when shrinking), then either feed
uint8 NHWC BGR (models with embedded preprocessing) or normalise with the spec's mean/std in its colour
order into float NCHW. Postprocessing: the model's "labels" (argmax in the graph) or an argmax of its
"logits" (logit > 0 for binary models), scaled to the frame with INTER_NEAREST; filter_mode="linear"
upsamples the logits bilinearly before the argmax for smooth edges.

Models exported with the frame path in the graph (`segnet export --frame-size`) take the frame itself and
give the class map / overlay at the frame's size: the host does no per-pixel work. Streaming goes through
`FrameSlot`s (`new_slot`, `submit`): memory for one frame in flight, allocated once per frame shape from
the backend (pinned or GPU-mapped for TensorRT), written by the source and the backend in place.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import cv2
import numpy as np

from segnet import preprocess, render
from segnet.errors import SegnetError
from segnet.runtime import model_io
from segnet.runtime.backends import Backend, open_backend
from segnet.runtime.backends.base import Pending
from segnet.spec import FramePath, ModelSpec

if TYPE_CHECKING:
    from typing_extensions import Self  # typing.Self needs Python 3.11

FILTER_MODES = ("point", "linear")
MAX_RESIZE_CHANNELS = 512  # OpenCV's channel limit for cv2.resize


@dataclass
class FrameSlot:
    """Memory for one frame in flight, reused frame after frame: `frame` is where the source writes the
    frame (H x W x C uint8), `outputs` what the backend writes, `labels` the H x W class map at the frame's
    size (a view of the "labels" output when the graph gives it there; None when the model has none) and
    `buffers` the reused arrays of host rendering (segnet.render.buffer)."""

    frame: np.ndarray
    feed: np.ndarray  # the array the backend reads (frame models: frame with a batch axis)
    outputs: dict[str, np.ndarray]
    labels: np.ndarray | None
    buffers: dict[str, np.ndarray] = field(default_factory=dict)

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(self.frame.shape)


class Job:
    """A frame submitted to the backend; `result()` waits for it and returns its slot, filled in."""

    def __init__(self, slot: FrameSlot, pending: Pending, finish: Callable[[Job], None], pre_ms: float) -> None:
        self.slot, self._pending, self._finish = slot, pending, finish
        self.submitted = time.perf_counter()
        self.timing: dict[str, float] = {"pre": pre_ms, "infer": 0.0, "post": 0.0}  # ms, complete after result()
        self.done = False

    def result(self) -> FrameSlot:
        if not self.done:
            self._pending.result()
            self._finish(self)
            self.done = True
        return self.slot


def _note(message: str) -> None:
    print(f"segnet: note: {message}", file=sys.stderr)


class Segmenter:
    """Opens `model_path` (.onnx or .engine) and segments frames. mean/std/classes/color_order/input_size
    override the model's spec (and are what a foreign model needs); `layout` (NCHW/NHWC) overrides the float
    input's and the logits' layout read from the graph, `input_range` ("0-1", "0-255", "-1-1") stands for
    mean/std; `notes` lists assumptions made, which are passed once to `log` (stderr by default)."""

    def __init__(self, model_path: str | Path, backend: str = "auto", device: str = "cpu",
                 mean: Sequence[float] | None = None, std: Sequence[float] | None = None,
                 classes: model_io.ClassesOption = None, color_order: str | None = None,
                 input_size: tuple[int, int] | None = None, filter_mode: str = "point",
                 threads: int | None = None, log: Callable[[str], None] | None = _note,
                 layout: str | None = None, input_range: str | None = None,
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
        try:
            self.io = model_io.resolve(model_path, self.backend, mean=mean, std=std, classes=classes,
                                       color_order=color_order, input_size=input_size, layout=layout,
                                       input_range=input_range)
        except BaseException:
            self.close()
            raise
        if filter_mode == "linear" and self.io.logits_name is None and self.io.frame is None:
            self.close()
            raise SegnetError(f"{model_path}: filter mode 'linear' needs a logits output and this model only "
                              "outputs labels; re-export with logits kept, or use --filter-mode point")
        self.filter_mode = filter_mode
        self.log = log
        self.notes = list(self.io.notes)
        if self.io.frame is not None and filter_mode == "linear" and self.io.frame.upsample != "linear":
            self.notes.append("the model scales its class map to the frame itself (nearest); --filter-mode linear "
                              "needs a re-export with --upsample linear")
        for message in self.notes if log else ():
            log(message)  # type: ignore[misc]
        spec = self.io.spec
        self._scale, self._shift = preprocess.normalization(spec)
        self._lut = render.color_lut(spec.palette)
        self._resize_noted = False
        self.last_timing: dict[str, float] = {}
        self._host: dict[str, np.ndarray] = {}  # reused network-size arrays of the host path
        self._slots: dict[tuple[int, ...], FrameSlot] = {}  # predict()'s slots of frame-path models
        self._alpha: dict[tuple[float, int | None], np.ndarray] = {}

    @property
    def spec(self) -> ModelSpec:
        return self.io.spec

    @property
    def input_size(self) -> tuple[int, int]:
        """(height, width) of the network input."""
        return self.io.input_size

    @property
    def frame_path(self) -> FramePath | None:
        """The frame path in the model's graph (frames in, outputs at the frame's size), if it has one."""
        return self.io.frame

    def close(self) -> None:
        """Release the backend."""
        self.backend.deactivate()  # a no-op when not active

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- preprocessing -------------------------------------------------------------------------------
    def preprocess(self, frames: Sequence[np.ndarray]) -> np.ndarray:
        """Frames -> the input batch tensor, in the dtype the model takes (a copy; the streaming path
        preprocesses into one reused array instead)."""
        if len(frames) == 1:
            return self._preprocess_into(frames[0]).copy()
        return np.concatenate([self._preprocess_into(f).copy() for f in frames])

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

    def _chw(self, logits: np.ndarray) -> np.ndarray:
        """One frame's logits as C x H x W (a view of H x W x C logits from an NHWC model)."""
        return logits.transpose(2, 0, 1) if self.io.logits_layout == "NHWC" else logits

    def _class_map(self, outputs: dict[str, np.ndarray], i: int, size: tuple[int, int]) -> np.ndarray:
        use_logits = self.io.logits_name and (self.filter_mode == "linear" or not self.io.labels_name)
        if use_logits:
            return self._logits_to_map(self._chw(outputs[self.io.logits_name][i]), size)  # type: ignore[index]
        labels = outputs[self.io.labels_name][i]  # type: ignore[index]
        labels = labels.reshape(labels.shape[-2:]).astype(np.uint8, copy=False)
        return self._to_size(labels, size)

    # -- public API ----------------------------------------------------------------------------------
    def predict_batch(self, frames: Sequence[np.ndarray]) -> list[np.ndarray]:
        """Class maps (H x W uint8, each at its frame's size) for several frames in one inference."""
        if not len(frames):
            return []
        if self.io.frame is not None:
            return [self._predict_frame(f) for f in frames]
        outputs = self._run(frames)
        start = time.perf_counter()
        maps = [self._class_map(outputs, i, f.shape[:2]) for i, f in enumerate(frames)]
        self.last_timing["post"] = (time.perf_counter() - start) * 1000.0
        return maps

    def _predict_frame(self, frame: np.ndarray) -> np.ndarray:
        """The class map of one frame through a frame-path model (a copy of its slot's labels)."""
        if self.io.labels_name is None:
            raise SegnetError(f"{self.model_path}: the model outputs no class map ({', '.join(self.io.output_names)}); "
                              "re-export it with 'labels' in --outputs")
        if frame is None or frame.size == 0:
            raise SegnetError(f"expected an HxW or HxWx3 image, got {None if frame is None else frame.shape}")
        slot = self._slots.get(self.frame_shape_for(frame.shape))
        slot = self.load(slot if slot is not None else self.new_slot(frame.shape), frame)
        self._slots[slot.shape] = slot
        labels = self.segment(slot).labels
        assert labels is not None
        if labels.shape != frame.shape[:2]:
            return cv2.resize(labels, frame.shape[1::-1], interpolation=cv2.INTER_NEAREST)
        return labels.copy()

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
        logits = np.ascontiguousarray(self._chw(outputs[self.io.logits_name][0]), dtype=np.float32)
        if logits.shape[1:] != frame_bgr.shape[:2]:
            logits = self._resize_logits(logits, frame_bgr.shape[:2])
        self.last_timing["post"] = (time.perf_counter() - start) * 1000.0
        return logits

    # -- streaming: slots ---------------------------------------------------------------------------
    def frame_shape_for(self, shape: tuple[int, ...]) -> tuple[int, int, int]:
        """The frame shape a slot takes for source frames of `shape`: their own, or the fixed frame size of a
        frame-path model (frames of another size are then resized on the host), with the model's channels."""
        frame = self.io.frame
        channels = (1 if frame.channels == "gray" else 3) if frame else 3
        height, width = shape[:2]
        if frame is not None and frame.size is not None:
            height, width = frame.size
        elif frame is not None:
            lo, hi = frame.min_size or (1, 1), frame.max_size or (height, width)
            if not (lo[0] <= height <= hi[0] and lo[1] <= width <= hi[1]):
                raise SegnetError(f"{self.model_path}: frames of {height}x{width} are outside the model's frame "
                                  f"sizes {lo[0]}x{lo[1]} to {hi[0]}x{hi[1]}; re-export with a wider "
                                  "--frame-min/--frame-max")
        return int(height), int(width), channels

    def new_slot(self, shape: tuple[int, ...]) -> FrameSlot:
        """Memory for frames of `shape` (see frame_shape_for), from the backend where it reads or writes it."""
        height, width, channels = self.frame_shape_for(shape)
        allocate = self.backend.allocate
        frame = self.io.frame
        if frame is None:
            image = np.empty((height, width, channels), np.uint8)
            return FrameSlot(frame=image, feed=image, outputs=self._host_outputs(allocate),
                             labels=np.empty((height, width), np.uint8))
        feed = allocate((1, height, width, channels), np.dtype(np.uint8))
        outputs = {name: allocate(self._output_shape(name, height, width), self._output_dtype(name))
                   for name in frame.outputs}
        labels = None
        if "labels" in outputs:
            labels = outputs["labels"][0] if frame.labels_size == "frame" else np.empty((height, width), np.uint8)
        return FrameSlot(frame=feed[0], feed=feed, outputs=outputs, labels=labels)

    def _output_shape(self, name: str, height: int, width: int) -> tuple[int, ...]:
        net_h, net_w = self.io.input_size
        classes = self.spec.num_classes
        return {"overlay": (1, height, width, 3), "mask": (1, height, width, 3), "logits": (1, classes, net_h, net_w),
                "probs": (1, classes, net_h, net_w),
                "labels": (1, height, width) if self.io.frame.labels_size == "frame" else (1, net_h, net_w),  # type: ignore[union-attr]
                }[name]

    def _output_dtype(self, name: str) -> np.dtype:
        by_name = {o.name: o.dtype for o in self.backend.outputs}
        return np.dtype(by_name.get(name, np.float32))

    def _host_outputs(self, allocate: Callable[..., np.ndarray]) -> dict[str, np.ndarray]:
        """Backend outputs of a plain model for one frame (batch 1): its labels or its logits."""
        if self.io.batch not in (None, 1):
            return {}  # a fixed batch above 1 goes through predict (padding), without reused outputs
        net_h, net_w = self.io.input_size
        use_logits = self.io.logits_name and (self.filter_mode == "linear" or not self.io.labels_name)
        name = self.io.logits_name if use_logits else self.io.labels_name
        info = {o.name: o for o in self.backend.outputs}[name]  # type: ignore[index]
        if use_logits:
            classes = self.spec.num_classes
            shape: tuple[int, ...] = ((1, net_h, net_w, classes) if self.io.logits_layout == "NHWC"
                                      else (1, classes, net_h, net_w))
        else:
            shape = (1, net_h, net_w) if len(info.shape) == 3 else (1, 1, net_h, net_w)
        return {name: allocate(shape, info.dtype)}  # type: ignore[dict-item]

    def capture_target(self, slot: FrameSlot) -> np.ndarray | None:
        """The array a source should read the next frame into: the slot's frame where frames go in as
        OpenCV captures them (BGR), else the slot's staging buffer (None until the first frame)."""
        frame = self.io.frame
        if frame is None or frame.channels == "bgr":
            return slot.frame
        return slot.buffers.get("capture")

    def load(self, slot: FrameSlot | None, frame: np.ndarray) -> FrameSlot:
        """Put a captured BGR frame into `slot` (nothing to do when the source wrote it there), converting it
        to the model's frame format and size where they differ; returns the slot, a new one when the frame
        shape changed (dynamic sizes, plain models)."""
        if frame.dtype != np.uint8 or frame.ndim not in (2, 3):
            raise SegnetError(f"expected a uint8 HxW or HxWx3 frame, got {frame.dtype} {frame.shape}")
        if slot is not None and np.shares_memory(frame, slot.frame):
            return slot
        if slot is None or self.frame_shape_for(frame.shape) != slot.shape:
            slot = self.new_slot(frame.shape)
        path = self.io.frame
        channels = path.channels if path is not None else "bgr"
        if path is not None and channels != "bgr":
            slot.buffers["capture"] = frame  # the source reads the next frame into it
        if frame.ndim == 2 or frame.shape[2] == 1:
            frame = frame.reshape(frame.shape[:2])
            if channels != "gray":
                frame = cv2.cvtColor(frame, cv2.COLOR_GRAY2BGR if channels == "bgr" else cv2.COLOR_GRAY2RGB,
                                     dst=render.buffer(slot.buffers, "color", (*frame.shape, 3)))
        elif channels == "gray":
            frame = cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY, dst=render.buffer(slot.buffers, "color", frame.shape[:2]))
        elif channels == "rgb":
            frame = cv2.cvtColor(frame, cv2.COLOR_BGR2RGB, dst=render.buffer(slot.buffers, "color", frame.shape))
        target = slot.frame if slot.frame.shape[2] == 3 else slot.frame[..., 0]
        if frame.shape[:2] == target.shape[:2]:
            np.copyto(target, frame.reshape(target.shape))
        else:  # a fixed-size frame-path model fed frames of another size
            self._note_resize(frame.shape[:2], target.shape[:2])
            preprocess.resize(frame, target.shape[:2], dst=target)
        return slot

    def _note_resize(self, got: tuple[int, ...], want: tuple[int, ...]) -> None:
        if not self._resize_noted and self.log:
            self.log(f"frames are {got[0]}x{got[1]}, the model takes {want[0]}x{want[1]}: resizing them on the "
                     f"host (export with --frame-size {got[0]} {got[1]}, or dynamic, to avoid it)")
        self._resize_noted = True

    def alpha_weights(self, alpha: float = 0.5, ignore: int | None = None) -> np.ndarray:
        """The "alpha" input of a frame-path model: `alpha` for every class, 0 for `ignore` (cached)."""
        key = (float(alpha), ignore)
        if key not in self._alpha:
            if not 0.0 <= alpha <= 1.0:
                raise SegnetError(f"alpha must be within [0, 1], got {alpha}")
            weights = np.full(self.spec.num_labels, alpha, np.float32)
            if ignore is not None and 0 <= ignore < len(weights):
                weights[ignore] = 0.0
            self._alpha[key] = weights
        return self._alpha[key]

    def frame_feed(self, slot: FrameSlot, alpha: float = 0.5, ignore: int | None = None) -> dict[str, np.ndarray]:
        """A frame-path model's inputs for the frame in `slot`: the frame itself and, with an overlay, alpha."""
        feed = {self.io.input_name: slot.feed}
        if self.io.alpha_name:
            feed[self.io.alpha_name] = self.alpha_weights(alpha, ignore)
        return feed

    def submit(self, slot: FrameSlot, alpha: float = 0.5, ignore: int | None = None) -> Job:
        """Start segmenting the frame in `slot.frame`; the job's result() is the slot with its outputs,
        `labels` and `last_timing` filled in. At most `backend.max_in_flight` jobs may be open at once."""
        start = time.perf_counter()
        if self.io.frame is not None:
            feed = self.frame_feed(slot, alpha, ignore)
            outputs, finish = slot.outputs, self._finish_frame_model
        elif not slot.outputs:  # a fixed batch above 1: predict pads it
            assert slot.labels is not None
            np.copyto(slot.labels, self.predict(slot.frame))
            return Job(slot, Pending({}), self._timed(self._finish_nothing), (time.perf_counter() - start) * 1000.0)
        else:
            feed = {self.io.input_name: self._preprocess_into(slot.frame)}
            outputs, finish = slot.outputs, self._finish_host
        pre_ms = (time.perf_counter() - start) * 1000.0
        submitted = time.perf_counter()
        job = Job(slot, self.backend.infer_async(feed, outputs), self._timed(finish), pre_ms)
        job.submitted = submitted  # a backend that cannot overlap has run it already: that is inference time
        return job

    def segment(self, slot: FrameSlot, alpha: float = 0.5, ignore: int | None = None) -> FrameSlot:
        """submit(...).result(): the slot with its outputs and class map."""
        return self.submit(slot, alpha, ignore).result()

    def _timed(self, finish: Callable[[FrameSlot], None]) -> Callable[[Job], None]:
        """`finish` (the host's share after the backend) with the job's times recorded; last_timing too."""
        def run(job: Job) -> None:
            waited = time.perf_counter()
            backend_times = dict(self.backend.last_timing)
            finish(job.slot)
            end = time.perf_counter()
            job.timing.update(backend_times, infer=(waited - job.submitted) * 1000.0, post=(end - waited) * 1000.0)
            self.last_timing = job.timing
        return run

    @staticmethod
    def _finish_nothing(slot: FrameSlot) -> None:
        return None

    def _finish_frame_model(self, slot: FrameSlot) -> None:
        """Class maps the graph gave at the network size are scaled to the frame (nearest) on the host."""
        frame = self.io.frame
        if slot.labels is not None and frame is not None and frame.labels_size == "network":
            cv2.resize(slot.outputs["labels"][0], slot.labels.shape[::-1], dst=slot.labels,
                       interpolation=cv2.INTER_NEAREST)

    def _preprocess_into(self, frame: np.ndarray) -> np.ndarray:
        """One BGR (or gray) frame -> the network input batch (1 x ...), in reused arrays: colour conversion,
        resize by segnet.preprocess's rule, then the spec's normalisation in its colour order (models with
        embedded preprocessing get the resized uint8 frame)."""
        if frame is None or frame.ndim not in (2, 3) or frame.size == 0:
            raise SegnetError(f"expected an HxW or HxWx3 image, got {None if frame is None else frame.shape}")
        if frame.dtype != np.uint8:
            raise SegnetError(f"expected a uint8 image, got {frame.dtype}")
        height, width = self.io.input_size
        channels = self.spec.in_channels
        if channels == 1 and frame.ndim == 3 and frame.shape[2] == 3:
            frame = cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY, dst=self._array("gray", frame.shape[:2], np.uint8))
        elif channels == 3 and (frame.ndim == 2 or frame.shape[2] == 1):
            frame = cv2.cvtColor(frame.reshape(frame.shape[:2]), cv2.COLOR_GRAY2BGR,
                                 dst=self._array("bgr", (*frame.shape[:2], 3), np.uint8))
        if frame.ndim == 3 and frame.shape[2] == 1:
            frame = frame.reshape(frame.shape[:2])
        if frame.shape[:2] != (height, width):
            frame = preprocess.resize(frame, (height, width),
                                      dst=self._array("resized", (height, width, *frame.shape[2:]), np.uint8))
        if frame.ndim == 2:
            frame = frame[..., None]
        if self.io.embedded_preprocess:
            batch = self._array("input", (1, height, width, channels), np.uint8)
            np.copyto(batch[0], frame)
            return batch
        nhwc = self.io.input_layout == "NHWC"
        batch = self._array("input", (1, height, width, channels) if nhwc else (1, channels, height, width),
                            np.float32)
        rgb = channels == 3 and self.spec.color_order == "RGB"
        for c in range(channels):
            plane = batch[0, ..., c] if nhwc else batch[0, c]
            np.multiply(frame[..., (2 - c) if rgb else c], self._scale[c], out=plane)
            np.add(plane, self._shift[c], out=plane)
        return batch

    def _finish_host(self, slot: FrameSlot) -> None:
        """The backend's labels or logits -> the class map at the frame's size, in reused arrays."""
        assert slot.labels is not None
        name, values = next(iter(slot.outputs.items()))
        height, width = slot.labels.shape
        if name == self.io.logits_name:
            logits = self._chw(values[0])
            if self.filter_mode == "linear" and (height > logits.shape[1] or width > logits.shape[2]):
                self._argmax_into(self._resize_logits_into(logits, (height, width)), slot.labels, channel_axis=2)
                return
            small = self._array("labels", logits.shape[1:], np.uint8)
            self._argmax_into(logits, small, channel_axis=0)
        else:
            small = values.reshape(values.shape[-2:])
            if small.dtype != np.uint8:
                converted = self._array("labels", small.shape, np.uint8)
                np.copyto(converted, small, casting="unsafe")
                small = converted
        if small.shape == (height, width):
            np.copyto(slot.labels, small)
        else:
            cv2.resize(small, (width, height), dst=slot.labels, interpolation=cv2.INTER_NEAREST)

    def _argmax_into(self, logits: np.ndarray, out: np.ndarray, channel_axis: int) -> None:
        """Class indices of `logits` (classes along `channel_axis`) into uint8 `out`; binary: logit > 0."""
        if logits.shape[channel_axis] == 1:
            np.greater(logits.take(0, axis=channel_axis), 0, out=out, casting="unsafe")
            return
        index = self._array("argmax" if channel_axis == 0 else "argmax_frame", out.shape, np.intp)
        np.argmax(logits, axis=channel_axis, out=index)
        np.copyto(out, index, casting="unsafe")

    def _resize_logits_into(self, logits: np.ndarray, size: tuple[int, int]) -> np.ndarray:
        """Bilinear H x W x C logits at `size` (reused arrays; OpenCV, at most 512 classes)."""
        height, width = size
        classes = logits.shape[0]
        if classes > MAX_RESIZE_CHANNELS:
            return self._resize_logits(logits, size).transpose(1, 2, 0)
        hwc = self._array("logits_hwc", (logits.shape[1], logits.shape[2], classes), np.float32)
        np.copyto(hwc, logits.transpose(1, 2, 0))
        out = self._array("logits_frame", (height, width, classes), np.float32)
        resized = cv2.resize(hwc, (width, height), dst=out if classes > 1 else out[..., 0],
                             interpolation=cv2.INTER_LINEAR)
        return resized.reshape(height, width, classes)

    def _array(self, name: str, shape: tuple[int, ...], dtype: type) -> np.ndarray:
        found = render.buffer(self._host, name, tuple(shape), dtype)
        assert found is not None
        return found

    def colorize(self, class_map: np.ndarray) -> np.ndarray:
        """Class map -> BGR image in the model's palette."""
        return render.colorize(class_map, self._lut)

    def overlay(self, frame: np.ndarray, class_map: np.ndarray, alpha: float = 0.5,
                ignore: int | None = None) -> np.ndarray:
        """The frame with class colours blended in; class `ignore` left as it is."""
        return render.overlay(frame, class_map, self._lut, alpha, ignore)
