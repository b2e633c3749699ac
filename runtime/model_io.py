"""What a model file takes and gives: its spec, input (layout, size, dtype) and which outputs to use.

The spec comes from the sidecar JSON (segnet.spec.read_sidecar) or the metadata the backend read (the ONNX's,
or a Triton server's model config);
a foreign model (no spec anywhere) gets one built from its tensors plus the user's mean/std/classes, and
the assumptions made are listed in `notes` so they can be shown once.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Union

import numpy as np

from segnet.errors import SegnetError
from segnet.runtime.backends.base import Backend, TensorInfo
from segnet.spec import (
    ARTIFACT_KEY,
    IMAGENET_MEAN,
    IMAGENET_STD,
    SPEC_KEY,
    Artifact,
    FramePath,
    ModelSpec,
    read_sidecar,
)

ClassesOption = Union[None, str, "Sequence[str]"]  # run-time alias: `X | Y` needs 3.10, abc generics 3.9


@dataclass
class ModelIO:
    """The resolved contract between the Segmenter and one backend."""

    spec: ModelSpec
    input_name: str
    input_size: tuple[int, int]  # (height, width) of the network input
    embedded_preprocess: bool  # uint8 NHWC BGR in; else normalised float NCHW
    input_dtype: np.dtype
    batch: int | None  # fixed batch size, None when dynamic
    labels_name: str | None  # class map output (argmax inside the graph)
    logits_name: str | None  # per-class logits output
    foreign: bool = False
    notes: list[str] = field(default_factory=list)
    frame: FramePath | None = None  # the frame path is in the graph: frames in, outputs at the frame's size
    alpha_name: str | None = None  # the per-class overlay weights input of a frame-path model
    output_names: list[str] = field(default_factory=list)
    input_layout: str = "NCHW"  # of a float input (embedded-preprocessing models take NHWC uint8)
    logits_layout: str = "NCHW"  # of the logits output: N x C x H x W, or N x H x W x C (tf2onnx, Keras)


LAYOUTS = ("NCHW", "NHWC")
# --input-range: what the network expects a pixel to become, as (mean, std) of `(pixel / 255 - mean) / std`
INPUT_RANGES = {"0-1": (0.0, 1.0), "0-255": (0.0, 1.0 / 255.0), "-1-1": (0.5, 0.5)}


def load_classes(option: ClassesOption) -> tuple[list[str], list[tuple[int, int, int]]]:
    """Class names (and a palette when the file has one) from names 'a,b,c', a list, a text file (one name
    a line) or a JSON file (a list of names, or an object with class_names/names/classes and palette)."""
    if option is None:
        return [], []
    if not isinstance(option, str):
        return [str(n) for n in option], []
    path = Path(option)
    if not path.is_file():
        if "," not in option and (path.suffix or "/" in option):
            raise SegnetError(f"{option}: classes file not found (give a file or comma-separated names)")
        return [n.strip() for n in option.split(",") if n.strip()], []
    text = path.read_text(encoding="utf-8")
    if path.suffix.lower() != ".json":
        return [line.strip() for line in text.splitlines() if line.strip()], []
    try:
        data: Any = json.loads(text)
    except ValueError as exc:
        raise SegnetError(f"{path}: not valid JSON ({exc})") from None
    if isinstance(data, dict):
        names = data.get("class_names") or data.get("names") or data.get("classes") or []
        palette = [tuple(int(c) for c in rgb) for rgb in data.get("palette", [])]
    else:
        names, palette = data, []
    if not isinstance(names, list) or not names:
        raise SegnetError(f"{path}: expected a list of class names (or an object with 'class_names')")
    return [str(n) for n in names], palette  # type: ignore[return-value]


def _static(info: TensorInfo) -> TensorInfo:
    """The same tensor with every dynamic dimension (None, or -1 as engines report it) as None."""
    return TensorInfo(info.name, tuple(d if isinstance(d, int) and d > 0 else None for d in info.shape), info.dtype)


def _spec_from_metadata(metadata: dict[str, str]) -> tuple[ModelSpec | None, Artifact | None]:
    spec = ModelSpec.from_json(metadata[SPEC_KEY]) if SPEC_KEY in metadata else None
    artifact = Artifact.from_dict(json.loads(metadata[ARTIFACT_KEY])) if ARTIFACT_KEY in metadata else None
    return spec, artifact


def _pick_outputs(outputs: list[TensorInfo]) -> tuple[str | None, str | None]:
    """(labels, logits) output names: by name ("labels", "logits"), else by rank and dtype."""
    by_name = {o.name: o for o in outputs}
    labels = "labels" if "labels" in by_name else None
    logits = "logits" if "logits" in by_name else None
    if labels or logits:
        return labels, logits
    for o in outputs:
        if np.issubdtype(o.dtype, np.integer) and len(o.shape) in (3, 4) and labels is None:
            labels = o.name
        elif np.issubdtype(o.dtype, np.floating) and len(o.shape) == 4 and logits is None:
            logits = o.name
    return labels, logits


def range_normalization(option: str, channels: int) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """(mean, std) per channel that make `(pixel / 255 - mean) / std` span the range `option` names."""
    if option not in INPUT_RANGES:
        raise SegnetError(f"input range must be one of {', '.join(INPUT_RANGES)} (or give --mean/--std), "
                          f"got {option!r}")
    mean, std = INPUT_RANGES[option]
    return (mean,) * channels, (std,) * channels


def _layout(option: str | None) -> str | None:
    if option is None:
        return None
    if option.upper() not in LAYOUTS:
        raise SegnetError(f"layout must be NCHW or NHWC, got {option!r}")
    return option.upper()


def _input_layout(shape: tuple[int | None, ...]) -> str:
    """NHWC when the last axis holds 1 or 3 channels and the second does not; else NCHW."""
    return "NHWC" if shape[3] in (1, 3) and shape[1] not in (1, 3) else "NCHW"


def _logits_layout(shape: tuple[int | None, ...], hw: tuple[int | None, ...], input_layout: str) -> str:
    """NCHW when the last two axes are the input's H x W, NHWC when axes 1-2 are; else the input's layout."""
    if None not in hw and tuple(shape[2:4]) == tuple(hw):
        return "NCHW"
    if None not in hw and tuple(shape[1:3]) == tuple(hw):
        return "NHWC"
    return input_layout


def resolve(model_path: str | Path, backend: Backend, mean: Sequence[float] | None = None,
            std: Sequence[float] | None = None, classes: ClassesOption = None,
            color_order: str | None = None, input_size: tuple[int, int] | None = None,
            layout: str | None = None, input_range: str | None = None) -> ModelIO:
    """Work out the ModelIO of an activated backend's model; explicit options override the spec. `layout`
    (NCHW/NHWC) overrides what the graph's shapes say for the float input and the logits; `input_range`
    (0-1, 0-255, -1-1) sets mean/std for it."""
    inputs, outputs = backend.inputs, backend.outputs
    forced_layout = _layout(layout)
    if input_range is not None and (mean is not None or std is not None):
        raise SegnetError(f"{model_path}: give either an input range or --mean/--std, not both")
    found = None if backend.remote else read_sidecar(model_path)
    spec, artifact = found if found else (None, None)
    meta_spec, meta_artifact = _spec_from_metadata(getattr(backend, "metadata", {}) or {})
    spec, artifact = spec or meta_spec, artifact or meta_artifact
    frame = artifact.frame_path if artifact is not None else None
    if frame is not None and spec is not None:
        return _frame_io(model_path, spec, frame, inputs, outputs, mean, std, input_size)
    if len(inputs) != 1:
        raise SegnetError(f"{model_path}: expected one input tensor, the model has {len(inputs)} "
                          f"({', '.join(i.name for i in inputs)})")
    tensor = _static(inputs[0])
    if len(tensor.shape) != 4:
        raise SegnetError(f"{model_path}: input {tensor.name!r} has shape {tensor.shape}; expected 4-D NCHW/NHWC")
    notes: list[str] = []
    embedded = artifact.embedded_preprocess if artifact else (
        tensor.dtype == np.uint8 and tensor.shape[-1] in (1, 3))
    foreign = spec is None
    detected = _input_layout(tensor.shape) if foreign else "NCHW"  # the project's own float inputs are NCHW
    in_layout = "NHWC" if embedded else (forced_layout or detected)
    hw = tensor.shape[1:3] if in_layout == "NHWC" else tensor.shape[2:4]
    channels = tensor.shape[3] if in_layout == "NHWC" else tensor.shape[1]
    if input_range is not None:
        if embedded:
            raise SegnetError(f"{model_path}: preprocessing is embedded in the model; an input range does not apply")
        mean, std = range_normalization(input_range, int(channels or 3))
    labels_name, logits_name = _pick_outputs(outputs)
    logits_layout = "NCHW"
    if logits_name is not None:
        logits_shape = _static({o.name: o for o in outputs}[logits_name]).shape
        logits_layout = forced_layout or (_logits_layout(logits_shape, tuple(input_size or hw), in_layout)
                                          if foreign else "NCHW")
    if labels_name is None and logits_name is None:
        raise SegnetError(f"{model_path}: no usable output: need a class map (N x H x W integers, e.g. 'labels') "
                          "or per-class logits (N x C x H x W floats)")
    names, palette = load_classes(classes)
    if foreign:
        spec = _foreign_spec(model_path, outputs, logits_name, channels, hw, input_size, names, palette,
                             mean, std, color_order, notes, logits_layout)
        if in_layout == "NHWC" or logits_layout == "NHWC":
            notes.append(f"layout: input {in_layout}, logits {logits_layout} (read from the graph's shapes; "
                         "--layout overrides)" if forced_layout is None else f"layout: {forced_layout} (--layout)")
    else:
        assert spec is not None
        if embedded and (mean is not None or std is not None):
            raise SegnetError(f"{model_path}: preprocessing is embedded in the model; --mean/--std do not apply")
        _override(spec, names, palette, mean, std, color_order, model_path)
    if input_size:
        size = (int(input_size[0]), int(input_size[1]))
    elif all(isinstance(d, int) for d in hw):
        size = (int(hw[0]), int(hw[1]))  # type: ignore[arg-type]
    else:
        size = spec.input_size
    return ModelIO(spec=spec, input_name=tensor.name, input_size=size, embedded_preprocess=bool(embedded),
                   input_dtype=tensor.dtype, batch=tensor.shape[0], labels_name=labels_name,
                   logits_name=logits_name, foreign=foreign, notes=notes, output_names=[o.name for o in outputs],
                   input_layout=in_layout, logits_layout=logits_layout)


def _frame_io(model_path: str | Path, spec: ModelSpec, frame: FramePath, inputs: list[TensorInfo],
              outputs: list[TensorInfo], mean: Sequence[float] | None, std: Sequence[float] | None,
              input_size: tuple[int, int] | None) -> ModelIO:
    """The ModelIO of a model with the frame path in its graph (checked against the backend's tensors)."""
    if mean is not None or std is not None or input_size is not None:
        raise SegnetError(f"{model_path}: the frame path (resize and normalisation) is inside this model; "
                          "--mean/--std/--imgsz do not apply")
    names = {i.name: _static(i) for i in inputs}
    wanted = {"frame"} | ({"alpha"} if "overlay" in frame.outputs else set())
    if set(names) != wanted or not {o.name for o in outputs} >= set(frame.outputs):
        raise SegnetError(f"{model_path}: its tensors ({', '.join(names)} -> {', '.join(o.name for o in outputs)}) "
                          f"do not match its frame-path description ({', '.join(frame.outputs)}); re-export it")
    tensor = names["frame"]
    return ModelIO(spec=spec, input_name="frame", input_size=spec.input_size, embedded_preprocess=True,
                   input_dtype=tensor.dtype, batch=tensor.shape[0],
                   labels_name="labels" if "labels" in frame.outputs else None,
                   logits_name="logits" if "logits" in frame.outputs else None, frame=frame,
                   alpha_name="alpha" if "alpha" in names else None, output_names=list(frame.outputs))


def _override(spec: ModelSpec, names: list[str], palette: list[tuple[int, int, int]],
              mean: Sequence[float] | None, std: Sequence[float] | None, color_order: str | None,
              model_path: str | Path) -> None:
    """Apply the user's explicit options to a model's own spec."""
    if names:
        if len(names) != spec.num_labels:
            raise SegnetError(f"{model_path}: the model has {spec.num_labels} classes, --classes gave {len(names)}")
        spec.class_names = names
    if palette:
        spec.palette = palette
    if mean is not None:
        spec.mean = tuple(float(v) for v in mean)
    if std is not None:
        spec.std = tuple(float(v) for v in std)
    if color_order:
        spec.color_order = color_order
    spec.__post_init__()  # re-validate


def _foreign_spec(model_path: str | Path, outputs: list[TensorInfo], logits_name: str | None,
                  channels: int | None, hw: tuple[int | None, ...], input_size: tuple[int, int] | None,
                  names: list[str], palette: list[tuple[int, int, int]], mean: Sequence[float] | None,
                  std: Sequence[float] | None, color_order: str | None, notes: list[str],
                  logits_layout: str = "NCHW") -> ModelSpec:
    """A spec for a model that carries none, from its tensors and the user's options, noting assumptions."""
    by_name = {o.name: _static(o) for o in outputs}
    num_classes = by_name[logits_name].shape[3 if logits_layout == "NHWC" else 1] if logits_name else None
    if num_classes is None:
        if not names:
            raise SegnetError(f"{model_path}: cannot tell the number of classes: pass --classes (names or a file)")
        num_classes = 1 if len(names) == 2 and logits_name else len(names)
    if channels not in (1, 3):
        raise SegnetError(f"{model_path}: input has {channels} channels; the runtime feeds 1 or 3 (if the input "
                          "is NHWC or NCHW the other way round, pass --layout)")
    height, width = input_size or hw[:2]
    if height is None or width is None:
        raise SegnetError(f"{model_path}: the input size is dynamic; pass --imgsz H W")
    if names and len(names) != (2 if num_classes == 1 else num_classes):
        raise SegnetError(f"{model_path}: the model outputs {num_classes} classes, --classes gave {len(names)}")
    notes.append(f"{Path(model_path).name} carries no segnet spec: treating it as a foreign model with "
                 f"input {height}x{width}, {num_classes} classes")
    if mean is None or std is None:
        notes.append(f"no --mean/--std or --input-range given: assuming ImageNet normalisation mean={IMAGENET_MEAN} "
                     f"std={IMAGENET_STD}")
    if not color_order:
        notes.append("assuming the network expects RGB channel order (pass --color-order BGR otherwise)")
    if not names:
        notes.append("no --classes given: classes are named class0..classN with a default palette")
    default_mean, default_std = (IMAGENET_MEAN, IMAGENET_STD) if channels == 3 else ((0.5,), (0.5,))
    return ModelSpec(arch="foreign", num_classes=int(num_classes), in_channels=int(channels),
                     class_names=names, palette=palette, input_size=(int(height), int(width)),
                     mean=tuple(mean) if mean is not None else default_mean,
                     std=tuple(std) if std is not None else default_std,
                     color_order=color_order or "RGB", ignore_index=None,
                     provenance={"source": str(model_path), "foreign": True})
