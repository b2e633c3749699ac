"""The model spec: everything downstream needs to know about a model, written once and carried along.

A `ModelSpec` describes the network (architecture, classes, input, normalisation); an `Artifact`
describes one file made from it (ONNX, INT8 ONNX, engine: precision, tensors, build facts). Both are plain
data with a JSON round trip and no torch. They travel:
- in the checkpoint (`spec` entry),
- in every ONNX file's `metadata_props` (keys `segnet.spec` and `segnet.artifact`),
- in `<stem>.json` beside the artifacts, one per model: `{"spec": ..., "artifacts": {"model.onnx": ...}}`
  (`model.onnx`, `model.int8.onnx`, `model.fp16.engine` all share `model.json`; segnet.artifacts names them).
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from segnet import atomic
from segnet.artifacts import SIDECAR_SUFFIX, stem_path
from segnet.errors import SegnetError

SPEC_KEY = "segnet.spec"
ARTIFACT_KEY = "segnet.artifact"
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def default_palette(num_colors: int) -> list[tuple[int, int, int]]:
    """Distinct RGB colours for `num_colors` classes (the Pascal VOC bit-interleaving colour map)."""
    palette = []
    for index in range(num_colors):
        r = g = b = 0
        c = index
        for shift in range(7, -1, -1):
            r |= ((c >> 0) & 1) << shift
            g |= ((c >> 1) & 1) << shift
            b |= ((c >> 2) & 1) << shift
            c >>= 3
        palette.append((r, g, b))
    return palette


@dataclass
class ModelSpec:
    """What a model is and what it expects. Normalisation is `(pixel / 255 - mean) / std` per channel,
    channels in `color_order`. `num_classes == 1` means binary segmentation with a sigmoid output."""

    arch: str
    num_classes: int
    in_channels: int = 3
    arch_args: dict[str, Any] = field(default_factory=dict)
    class_names: list[str] = field(default_factory=list)
    palette: list[tuple[int, int, int]] = field(default_factory=list)
    input_size: tuple[int, int] = (360, 480)  # (height, width) the network is trained and exported for
    mean: tuple[float, ...] = IMAGENET_MEAN
    std: tuple[float, ...] = IMAGENET_STD
    color_order: str = "RGB"  # channel order of the network's input tensor (frames from OpenCV are BGR)
    ignore_index: int | None = 255
    provenance: dict[str, Any] = field(default_factory=dict)  # dataset, epochs, metrics, toolkit version

    def __post_init__(self) -> None:
        self.input_size = (int(self.input_size[0]), int(self.input_size[1]))
        self.mean = tuple(float(v) for v in self.mean)
        self.std = tuple(float(v) for v in self.std)
        self.palette = [tuple(int(c) for c in rgb) for rgb in self.palette]  # type: ignore[misc]
        if self.num_classes < 1:
            raise SegnetError(f"num_classes must be at least 1 (1 = binary), got {self.num_classes}")
        if self.in_channels not in (1, 3):
            raise SegnetError(f"in_channels must be 1 or 3, got {self.in_channels}")
        if len(self.mean) != self.in_channels or len(self.std) != self.in_channels:
            if len(self.mean) == 3 and self.in_channels == 1:
                self.mean, self.std = (sum(self.mean) / 3,), (sum(self.std) / 3,)
            else:
                raise SegnetError(
                    f"mean/std need {self.in_channels} value(s) for {self.in_channels}-channel input, "
                    f"got mean={self.mean} std={self.std}"
                )
        if not self.class_names:
            count = 2 if self.num_classes == 1 else self.num_classes
            self.class_names = ["background", "foreground"] if self.num_classes == 1 else [
                f"class{i}" for i in range(count)
            ]
        if not self.palette:
            self.palette = default_palette(len(self.class_names))

    @property
    def num_labels(self) -> int:
        """Number of values a class map can hold (2 for binary models)."""
        return 2 if self.num_classes == 1 else self.num_classes

    def to_dict(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["palette"] = [list(rgb) for rgb in self.palette]
        data["input_size"] = list(self.input_size)
        data["mean"], data["std"] = list(self.mean), list(self.std)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ModelSpec:
        known = {f.name for f in dataclasses.fields(cls)}
        missing = {"arch", "num_classes"} - set(data)
        if missing:
            raise SegnetError(f"model spec lacks {sorted(missing)}: is this a segnet checkpoint or export?")
        return cls(**{k: v for k, v in data.items() if k in known})

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> ModelSpec:
        return cls.from_dict(json.loads(text))


FRAME_CHANNELS = ("bgr", "rgb", "gray")  # pixel formats a frame input takes (OpenCV gives BGR)
FRAME_RESIZES = ("linear", "area")  # frame -> network: bilinear, or OpenCV's INTER_AREA when shrinking
FRAME_UPSAMPLES = ("nearest", "linear")  # class map -> frame: nearest labels, or bilinear logits then ArgMax
FRAME_OUTPUTS = ("overlay", "labels", "mask", "logits", "probs")
LABEL_SIZES = ("frame", "network")


@dataclass
class FramePath:
    """The per-pixel frame path inside an exported graph: input "frame" (uint8 N x H x W x C camera frames
    in `channels` order, at `size`, or any size from `min_size` to `max_size` when `size` is None), and
    "alpha" (float32, one overlay weight per class, 0 = leave the pixel as it is) when "overlay" is output.
    Outputs: overlay / mask (uint8 N x H x W x 3, BGR unless channels is rgb), labels (uint8 N x H x W at
    `labels_size`), logits / probs (float32 N x K x h x w at the network size)."""

    channels: str = "bgr"
    size: tuple[int, int] | None = None
    min_size: tuple[int, int] | None = None
    max_size: tuple[int, int] | None = None
    resize: str = "linear"
    upsample: str = "nearest"
    outputs: list[str] = field(default_factory=lambda: ["overlay", "labels"])
    labels_size: str = "frame"

    def __post_init__(self) -> None:
        for name in ("size", "min_size", "max_size"):
            value = getattr(self, name)
            if value is not None:
                setattr(self, name, (int(value[0]), int(value[1])))
        self.outputs = list(self.outputs)

    @property
    def dynamic(self) -> bool:
        return self.size is None

    def to_dict(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        for name in ("size", "min_size", "max_size"):
            data[name] = list(data[name]) if data[name] is not None else None
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> FramePath:
        known = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})


@dataclass
class Artifact:
    """One file made from a model: its format, precision and tensors, plus format-specific facts in
    `details` (ONNX opset and target; TensorRT version, GPU, compute capability, build options)."""

    file: str  # file name, relative to the sidecar JSON
    format: str  # "onnx" | "engine" | "triton" (a model `segnet serve` hosts, as its clients see it)
    precision: str = "fp32"  # "fp32" | "fp16" | "int8"
    input_name: str = "input"
    input_layout: str = "NCHW"  # "NCHW" float, normalised; "NHWC" uint8 BGR when preprocessing is embedded
    input_dtype: str = "float32"
    embedded_preprocess: bool = False
    output_names: list[str] = field(default_factory=lambda: ["logits"])  # "labels" = class map (argmax)
    batch: int | None = 1  # None: dynamic batch
    details: dict[str, Any] = field(default_factory=dict)
    frame: dict[str, Any] | None = None  # FramePath.to_dict() when the frame path is in the graph

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @property
    def frame_path(self) -> FramePath | None:
        """The in-graph frame path, for models exported with one (`segnet export --frame-size`)."""
        return FramePath.from_dict(self.frame) if self.frame else None

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Artifact:
        known = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})


def sidecar_path(model_path: str | Path) -> Path:
    """`<folder>/<stem>.json`, shared by all of a model's files (segnet.artifacts.stem): model.int8.onnx,
    model.fp16.engine -> model.json; dots inside the stem stay (lite_w0.25.onnx -> lite_w0.25.json)."""
    return stem_path(model_path, SIDECAR_SUFFIX)


def write_sidecar(model_path: str | Path, spec: ModelSpec, artifact: Artifact) -> Path:
    """Record `artifact` of `spec` in the model's sidecar JSON (atomically). A sidecar describing a
    different spec is replaced, so stale artifact entries never survive a re-export."""
    path = sidecar_path(model_path)
    artifacts: dict[str, Any] = {}
    if path.exists():
        try:
            old = json.loads(path.read_text(encoding="utf-8"))
            if old.get("spec") == spec.to_dict():
                artifacts = dict(old.get("artifacts", {}))
        except (OSError, ValueError):
            pass
    artifacts[artifact.file] = artifact.to_dict()
    doc = {"spec": spec.to_dict(), "artifacts": artifacts}
    atomic.write_text(path, json.dumps(doc, indent=2, sort_keys=True) + "\n")
    return path


def read_sidecar(model_path: str | Path) -> tuple[ModelSpec, Artifact | None] | None:
    """The spec and this file's artifact entry from the sidecar JSON, or None when there is none."""
    path = sidecar_path(model_path)
    if not path.exists():
        return None
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
        spec = ModelSpec.from_dict(doc["spec"])
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise SegnetError(f"{path}: not a valid model description ({exc}); re-export the model") from None
    entry = doc.get("artifacts", {}).get(Path(model_path).name)
    return spec, (Artifact.from_dict(entry) if entry else None)
