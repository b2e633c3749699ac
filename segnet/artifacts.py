"""Model file naming in one table: the kinds of file made from a model, and the stem they share.

All files of one model live in one folder under one stem: `<stem>.onnx`, `<stem>.int8.onnx`,
`<stem>.fp16.engine`, the engine cache's `<stem>.fp16.trt10.3.0.orin.1a2b3c4d5e6f.engine`, the sidecar
`<stem>.json` (segnet.spec) and the build log `<stem>.build.log`. `stem(path)` recovers the stem from any of
them (dots inside it stay: lite_w0.25.int8.onnx -> lite_w0.25); `artifact_path(folder, stem, kind)` names a
kind's file. Torch-free and free of export/runtime imports: every part may use it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

CHECKPOINT_SUFFIXES = (".pt", ".pth", ".ckpt")
ONNX_SUFFIXES = (".onnx",)
ENGINE_SUFFIXES = (".engine", ".plan", ".trt")  # TensorRT plans: trtexec and other tools name them either way
MODEL_SUFFIXES = ONNX_SUFFIXES + ENGINE_SUFFIXES
SIDECAR_SUFFIX = ".json"
BUILD_LOG_SUFFIX = ".build.log"


@dataclass(frozen=True)
class ArtifactKind:
    """One kind of model file: `<stem><tag><suffix>`, in `format` ("onnx" | "engine") at `precision`."""

    name: str  # as `segnet bench --formats` spells it
    format: str
    precision: str  # what the file name denotes ("fp32" | "fp16" | "int8")
    tag: str  # precision tag between stem and suffix ("" for the FP32 file)
    suffix: str

    def file_name(self, stem: str) -> str:
        return f"{stem}{self.tag}{self.suffix}"


# The table. Both INT8 ONNX flavours exist side by side in `segnet bench`'s folder: "onnx-int8" is the CPU
# flavour there, while `segnet export --int8` writes either flavour as <stem>.int8.onnx.
KINDS = (
    ArtifactKind("onnx", "onnx", "fp32", "", ".onnx"),
    ArtifactKind("onnx-int8", "onnx", "int8", ".int8", ".onnx"),
    ArtifactKind("onnx-int8-trt", "onnx", "int8", ".int8-trt", ".onnx"),
    ArtifactKind("onnx-fp16", "onnx", "fp16", ".fp16", ".onnx"),
    ArtifactKind("engine", "engine", "fp32", "", ".engine"),
    ArtifactKind("engine-fp16", "engine", "fp16", ".fp16", ".engine"),
    ArtifactKind("engine-int8", "engine", "int8", ".int8", ".engine"),
)
ARTIFACT_KINDS: dict[str, ArtifactKind] = {kind.name: kind for kind in KINDS}
# the precision tags stem() drops: the table's, and an explicit ".fp32" (model.fp32.onnx)
PRECISION_TAGS = tuple(sorted({kind.tag for kind in KINDS if kind.tag} | {".fp32"}))
# the engine cache's build part: .trt<TensorRT version>.<GPU slug>.<first 12 hex digits of the ONNX sha256>
_CACHED_ENGINE = re.compile(r"(?P<head>.+)\.trt[0-9][0-9A-Za-z.+_-]*\.[a-z0-9-]+\.[0-9a-f]{12}")


def model_format(path: str | Path) -> str | None:
    """The file's format from its suffix (any case): "checkpoint", "onnx", "engine", or None for others."""
    suffix = Path(path).suffix.lower()
    for fmt, suffixes in (("checkpoint", CHECKPOINT_SUFFIXES), ("onnx", ONNX_SUFFIXES), ("engine", ENGINE_SUFFIXES)):
        if suffix in suffixes:
            return fmt
    return None


def _drop(name: str, suffixes: tuple[str, ...]) -> tuple[str, bool]:
    for suffix in suffixes:
        if name.lower().endswith(suffix) and len(name) > len(suffix):
            return name[: -len(suffix)], True
    return name, False


def stem(path: str | Path) -> str:
    """The model's stem: the file name without its checkpoint or model suffix, the engine cache's build part
    and one precision tag. model.int8.onnx, model.fp16.trt10.3.0.orin.1a2b3c4d5e6f.engine -> model."""
    name, is_engine = _drop(Path(path).name, ENGINE_SUFFIXES)
    if is_engine:
        cached = _CACHED_ENGINE.fullmatch(name)
        name = cached.group("head") if cached else name
    else:
        name, _ = _drop(name, CHECKPOINT_SUFFIXES + ONNX_SUFFIXES)
    return _drop(name, PRECISION_TAGS)[0]


def kind_of(fmt: str, precision: str = "fp32") -> ArtifactKind:
    """The kind that names a `fmt` file at `precision` (INT8 ONNX: "onnx-int8", what `segnet export` writes)."""
    for kind in KINDS:
        if (kind.format, kind.precision) == (fmt, precision):
            return kind
    raise ValueError(f"no {precision} {fmt} kind of model file: the kinds are {', '.join(ARTIFACT_KINDS)}")


def artifact_path(folder: str | Path, stem: str, kind: str | ArtifactKind) -> Path:
    """`<folder>/<stem><tag><suffix>` of `kind` (an ArtifactKind or its name)."""
    entry = ARTIFACT_KINDS[kind] if isinstance(kind, str) else kind
    return Path(folder) / entry.file_name(stem)


def sibling(model_path: str | Path, kind: str | ArtifactKind) -> Path:
    """The path of `kind` beside `model_path`, of its stem: (model.onnx, "onnx-int8") -> model.int8.onnx."""
    path = Path(model_path)
    return artifact_path(path.parent, stem(path), kind)


def stem_path(model_path: str | Path, suffix: str) -> Path:
    """`<folder>/<stem><suffix>` beside `model_path`: the files all kinds share (SIDECAR_SUFFIX, BUILD_LOG_SUFFIX)."""
    path = Path(model_path)
    return path.with_name(stem(path) + suffix)


def cached_engine_name(stem: str, precision: str, trt_version: str, gpu_slug: str, onnx_sha256: str) -> str:
    """The engine cache's file name, which stem() reads back: `<stem>.<precision>.trt<version>.<gpu>.<hash12>.engine`."""
    return f"{stem}.{precision}.trt{trt_version}.{gpu_slug}.{onnx_sha256[:12]}.engine"
