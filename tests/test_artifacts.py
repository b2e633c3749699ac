"""Model file naming (segnet.artifacts) and the helpers that name files with it, on dotted stems too."""

from __future__ import annotations

from pathlib import Path

import pytest

from segnet import artifacts
from segnet.benchmarks import suite
from segnet.export import onnx_export, tensorrt_build
from segnet.nvidia import engine_cache
from segnet.nvidia.build_options import BuildOptions
from segnet.spec import sidecar_path

STEMS = ["model", "lite_w0.25", "lite_w0.25_360x480", "net.v2"]


@pytest.mark.parametrize("stem", STEMS)
@pytest.mark.parametrize("kind", artifacts.KINDS, ids=lambda kind: kind.name)
def test_every_kind_reads_back_to_its_stem_and_shares_the_sidecar(tmp_path, stem, kind):
    path = artifacts.artifact_path(tmp_path, stem, kind.name)
    assert path.parent == tmp_path and path.name.startswith(stem) and path.suffix == kind.suffix
    assert artifacts.stem(path) == stem
    assert artifacts.model_format(path) == kind.format
    assert sidecar_path(path) == tmp_path / f"{stem}.json"
    found = artifacts.kind_of(kind.format, kind.precision)
    assert (found.format, found.precision) == (kind.format, kind.precision)


def test_file_names_of_the_table():
    assert {kind.name: kind.file_name("m") for kind in artifacts.KINDS} == {
        "onnx": "m.onnx", "onnx-int8": "m.int8.onnx", "onnx-int8-trt": "m.int8-trt.onnx", "onnx-fp16": "m.fp16.onnx",
        "engine": "m.engine", "engine-fp16": "m.fp16.engine", "engine-int8": "m.int8.engine"}
    assert artifacts.kind_of("onnx", "int8").name == "onnx-int8"  # what `segnet export --int8` writes
    with pytest.raises(ValueError, match="no fp64 onnx kind"):
        artifacts.kind_of("onnx", "fp64")


@pytest.mark.parametrize(("name", "stem"), [
    ("lite_w0.25.pt", "lite_w0.25"), ("best.pth", "best"), ("run.best.ckpt", "run.best"),
    ("model.PLAN", "model"), ("model.trt", "model"), ("model.fp32.onnx", "model"),
    ("lite_w0.25.fp16.trt10.3.0.26.orin.1a2b3c4d5e6f.engine", "lite_w0.25"),
    ("model.int8.trt10.13.0.35.nvidia-geforce-rtx-4090.0123456789ab.plan", "model"),
    # only the last precision tag, only an engine's cache part, and never all of a name
    ("model.int8.fp16.onnx", "model.int8"), ("model.trt10.3.0.orin.1a2b3c4d5e6f.onnx", "model.trt10.3.0.orin.1a2b3c4d5e6f"),
    (".onnx", ".onnx"), ("notes.txt", "notes.txt"),
])
def test_stem(name, stem):
    assert artifacts.stem(Path("some/folder") / name) == stem


def test_model_format():
    assert [artifacts.model_format(n) for n in ("a.pt", "a.ckpt", "a.ONNX", "a.engine", "a.plan", "a.trt", "a.json")] \
        == ["checkpoint", "checkpoint", "onnx", "engine", "engine", "engine", None]


def test_export_names_keep_dots_in_the_stem():
    assert onnx_export.default_output("runs/lite_w0.25.pt") == Path("runs/lite_w0.25.onnx")
    assert onnx_export.default_output("runs/best.pt") == Path("runs/best.onnx")
    assert onnx_export.variant_path("out/lite_w0.25.onnx", "int8") == Path("out/lite_w0.25.int8.onnx")
    assert onnx_export.variant_path("out/model.onnx", "fp16") == Path("out/model.fp16.onnx")


@pytest.mark.parametrize(("options", "engine"), [
    ({}, "lite_w0.25.engine"), ({"fp16": True}, "lite_w0.25.fp16.engine"), ({"int8": True}, "lite_w0.25.int8.engine"),
])
def test_build_names_keep_dots_in_the_stem(options, engine):
    assert tensorrt_build.default_engine_path(Path("out/lite_w0.25.onnx"), BuildOptions(**options)) == \
        Path("out") / engine
    assert tensorrt_build.default_engine_path(Path("out/model.onnx"), BuildOptions(**options)) == \
        Path("out") / engine.replace("lite_w0.25", "model")


def test_engine_cache_name_keeps_dots_in_the_stem_and_reads_back():
    name = engine_cache.engine_name(Path("lite_w0.25.onnx"), "fp32", "10.3.0.26", "NVIDIA Orin (nvgpu)", "ab" * 32)
    assert name == "lite_w0.25.fp32.trt10.3.0.26.nvidia-orin-nvgpu.abababababab.engine"
    assert artifacts.stem(name) == "lite_w0.25"


def test_bench_names_its_variants_from_the_table(tmp_path):
    assert [suite.variant_path(tmp_path, "lite_w0.25", f).name for f in suite.FORMATS if f != "pytorch"] == [
        "lite_w0.25.onnx", "lite_w0.25.int8.onnx", "lite_w0.25.int8-trt.onnx", "lite_w0.25.fp16.onnx",
        "lite_w0.25.engine"]
