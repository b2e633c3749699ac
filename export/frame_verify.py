"""The host path a frame-path export is verified against: the network's own ONNX under ONNX Runtime, with
the per-pixel steps done on the host the way the runtime does them (OpenCV resize, normalisation, argmax,
INTER_NEAREST or bilinear logits to the frame, palette, blend), the resize in float so both sides see the
same network input. numpy/OpenCV only.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any, Callable, Dict

import cv2
import numpy as np

from segnet import preprocess
from segnet.errors import SegnetError
from segnet.export import inputs
from segnet.spec import FramePath, ModelSpec

Runner = Callable[[Any], Dict[str, np.ndarray]]  # typing generics: evaluated at import on 3.8
GRAY_BGR = np.array([0.114, 0.587, 0.299], np.float32)
MIN_AGREEMENT = 0.999  # class maps: the two resizes round differently, which moves near-tie pixels
MAX_OVERLAY_DIFF = 1  # grey levels per channel, where the class maps agree


def network_input(frame: np.ndarray, spec: ModelSpec, path: FramePath) -> np.ndarray:
    """uint8 H x W x C frame -> normalised float32 C x h x w, resized in float (INTER_AREA when shrinking
    with resize "area", else INTER_LINEAR)."""
    x = frame.astype(np.float32)
    if spec.in_channels == 1 and x.shape[2] == 3:
        weights = GRAY_BGR if path.channels == "bgr" else GRAY_BGR[::-1]
        x = (x * weights).sum(axis=2, keepdims=True)
    elif spec.in_channels == 3 and x.shape[2] == 1:
        x = np.repeat(x, 3, axis=2)
    elif spec.in_channels == 3 and path.channels.upper() != spec.color_order:
        x = x[..., ::-1]
    height, width = spec.input_size
    x = np.ascontiguousarray(x)
    if path.resize == "area":
        x = preprocess.resize(x, (height, width))
    else:
        x = cv2.resize(x, (width, height), interpolation=cv2.INTER_LINEAR)
    scale, shift = preprocess.normalization(spec)
    x = x.reshape(height, width, -1) * scale + shift
    return np.ascontiguousarray(x.transpose(2, 0, 1))


def frame_labels(logits: np.ndarray, size: tuple[int, int], upsample: str, num_classes: int) -> np.ndarray:
    """K x h x w logits -> uint8 H x W class map (INTER_NEAREST on the labels, or bilinear logits first)."""
    height, width = size
    if upsample == "linear":
        hwc = cv2.resize(np.ascontiguousarray(logits.transpose(1, 2, 0)), (width, height),
                         interpolation=cv2.INTER_LINEAR).reshape(height, width, -1)
        return (hwc[..., 0] > 0 if num_classes == 1 else hwc.argmax(axis=2)).astype(np.uint8)
    labels = (logits[0] > 0 if num_classes == 1 else logits.argmax(axis=0)).astype(np.uint8)
    return cv2.resize(labels, (width, height), interpolation=cv2.INTER_NEAREST)


def host_outputs(frames: np.ndarray, alpha: np.ndarray, spec: ModelSpec, path: FramePath,
                 network: Runner) -> dict[str, np.ndarray]:
    """What the host path makes of a batch of frames, keyed like the frame graph's outputs."""
    batch = np.stack([network_input(f, spec, path) for f in frames])
    logits = network(batch)["logits"]
    size = frames.shape[1:3]
    labels = np.stack([frame_labels(lg, size, path.upsample, spec.num_classes) for lg in logits])
    palette = np.asarray(spec.palette[:spec.num_labels], np.float32)
    if path.channels != "rgb":
        palette = palette[:, ::-1]
    colors = palette[labels]
    base = frames.astype(np.float32) if frames.shape[3] == 3 else np.repeat(frames, 3, axis=3).astype(np.float32)
    overlay = np.round(base + (colors - base) * alpha[labels][..., None])
    net_labels = (logits[:, 0] > 0 if spec.num_classes == 1 else logits.argmax(axis=1)).astype(np.uint8)
    return {"labels": labels if path.labels_size == "frame" else net_labels, "net_labels": net_labels,
            "frame_labels": labels, "mask": np.round(colors).astype(np.uint8),
            "overlay": overlay.astype(np.uint8), "logits": logits}


@dataclass
class FrameComparison:
    """How the frame graph's outputs follow the host path's on `images` frames of `size`."""

    images: int
    size: list[int]
    agreement: float  # class maps at the frame's size
    overlay_max_diff: int | None  # grey levels, where the class maps agree
    logits_max_diff: float | None
    passed: bool

    def to_dict(self) -> dict[str, object]:
        return asdict(self)

    def describe(self) -> str:
        parts = [f"{self.images} frames of {self.size[0]}x{self.size[1]}",
                 f"class agreement {100 * self.agreement:.4f}%"]
        if self.overlay_max_diff is not None:
            parts.append(f"overlay max diff {self.overlay_max_diff} grey level(s)")
        if self.logits_max_diff is not None:
            parts.append(f"max |logit diff| {self.logits_max_diff:.2e}")
        return ", ".join(parts)


def compare(graph: Runner, network: Runner, frames: Sequence[np.ndarray], alpha: np.ndarray, spec: ModelSpec,
            path: FramePath) -> FrameComparison:
    """Run the frame graph (`graph`: {"frame", "alpha"} feed -> outputs) and the host path on every frame.
    Agreement: of the class maps where the graph outputs one, else of overlay/mask pixels within
    MAX_OVERLAY_DIFF; the overlay's max difference is taken where the frame-size class maps agree."""
    agree = pixels = 0
    overlay_diff: int | None = None
    logits_diff: float | None = None
    for frame in frames:
        batch = frame[None]
        feed = {"frame": batch, **({"alpha": alpha} if "overlay" in path.outputs else {})}
        got = graph(feed)  # type: ignore[arg-type]
        want = host_outputs(batch, alpha, spec, path, network)
        same = None
        if "labels" in got:
            reference = want["frame_labels" if path.labels_size == "frame" else "net_labels"]
            if got["labels"].shape != reference.shape:
                raise SegnetError(f"the frame graph's labels have shape {got['labels'].shape}, the host "
                                  f"path's {reference.shape}")
            equal = got["labels"] == reference
            agree, pixels = agree + int(equal.sum()), pixels + equal.size
            same = equal if path.labels_size == "frame" else None
        for name in ("overlay", "mask"):
            if name not in got:
                continue
            diff = np.abs(got[name].astype(np.int16) - want[name].astype(np.int16)).max(axis=3)
            if same is None:
                within = diff <= MAX_OVERLAY_DIFF
                agree, pixels = agree + int(within.sum()), pixels + within.size
            elif same.any():
                overlay_diff = max(overlay_diff or 0, int(diff[same].max()))
        if "logits" in got:
            logits_diff = max(logits_diff or 0.0, float(np.abs(got["logits"] - want["logits"]).max()))
    agreement = agree / pixels if pixels else 1.0
    passed = agreement >= MIN_AGREEMENT and (overlay_diff is None or overlay_diff <= MAX_OVERLAY_DIFF)
    return FrameComparison(images=len(frames), size=list(frames[0].shape[:2]), agreement=agreement,
                           overlay_max_diff=overlay_diff, logits_max_diff=logits_diff, passed=passed)


def test_frames(spec: ModelSpec, path: FramePath, size: tuple[int, int], data: object = None,
                count: int = 2) -> list[np.ndarray]:
    """Frames in the frame input's format at `size`: random and blurred noise, plus dataset images
    scaled to the frame size when `data` is given."""
    channels = 1 if path.channels == "gray" else 3
    frames = inputs.random_images(count, size, channels, seed=3)
    if data is not None:
        for image in inputs.dataset_images(data, size, spec, count):  # type: ignore[arg-type]
            if channels == 1 and image.shape[2] == 3:
                image = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)[..., None]
            elif channels == 3 and image.shape[2] == 1:
                image = np.repeat(image, 3, axis=2)
            if path.channels == "rgb":
                image = image[..., ::-1]
            frames.append(np.ascontiguousarray(image))
    return frames
