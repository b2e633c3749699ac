import json

import pytest

from segnet.errors import SegnetError
from segnet.spec import Artifact, ModelSpec, default_palette, read_sidecar, sidecar_path, write_sidecar


def make_spec(**kw):
    args = {"arch": "segnet_lite", "num_classes": 3, "class_names": ["a", "b", "c"], "input_size": (64, 96)}
    args.update(kw)
    return ModelSpec(**args)


def test_json_round_trip_keeps_every_field():
    spec = make_spec(arch_args={"width": 0.5}, provenance={"epochs": 3}, ignore_index=None)
    again = ModelSpec.from_json(spec.to_json())
    assert again == spec
    assert again.input_size == (64, 96) and again.palette == spec.palette


def test_defaults_fill_names_and_palette_for_binary_and_grey():
    spec = ModelSpec(arch="segnet_basic", num_classes=1, in_channels=1)
    assert spec.class_names == ["background", "foreground"] and spec.num_labels == 2
    assert len(spec.palette) == 2 and len(spec.mean) == 1


def test_bad_values_are_refused_with_the_value_named():
    with pytest.raises(SegnetError, match="in_channels must be 1 or 3, got 4"):
        make_spec(in_channels=4)
    with pytest.raises(SegnetError, match="lacks"):
        ModelSpec.from_dict({"arch": "x"})


def test_palette_colours_are_distinct():
    assert len(set(default_palette(256))) == 256


def test_sidecar_collects_artifacts_of_one_spec_and_resets_on_new_spec(tmp_path):
    spec = make_spec()
    write_sidecar(tmp_path / "model.onnx", spec, Artifact(file="model.onnx", format="onnx"))
    write_sidecar(tmp_path / "model.int8.onnx", spec, Artifact(file="model.int8.onnx", format="onnx", precision="int8"))
    assert sidecar_path(tmp_path / "model.int8.onnx") == tmp_path / "model.json"
    doc = json.loads((tmp_path / "model.json").read_text())
    assert set(doc["artifacts"]) == {"model.onnx", "model.int8.onnx"}
    got_spec, art = read_sidecar(tmp_path / "model.int8.onnx")
    assert got_spec == spec and art.precision == "int8"
    write_sidecar(tmp_path / "model.onnx", make_spec(num_classes=2, class_names=["x", "y"]),
                  Artifact(file="model.onnx", format="onnx"))
    doc = json.loads((tmp_path / "model.json").read_text())
    assert set(doc["artifacts"]) == {"model.onnx"}


def test_corrupt_sidecar_is_a_clear_error(tmp_path):
    (tmp_path / "model.json").write_text("{not json")
    with pytest.raises(SegnetError, match="model.json: not a valid model description"):
        read_sidecar(tmp_path / "model.onnx")


@pytest.mark.parametrize("name, sidecar", [
    ("model.onnx", "model.json"), ("model.int8.onnx", "model.json"), ("model.fp16.engine", "model.json"),
    ("lite_w0.25_360x480.onnx", "lite_w0.25_360x480.json"), ("net.v2.int8.onnx", "net.v2.json"),
    # `segnet bench`'s TensorRT-flavour INT8 file shares model.json like the other variants
    ("model.int8-trt.onnx", "model.json"), ("lite_w0.25.int8-trt.onnx", "lite_w0.25.json"),
    # the engine cache's engines share their model's sidecar
    ("model.fp16.trt10.3.0.26.orin.1a2b3c4d5e6f.engine", "model.json"),
    ("lite_w0.25.fp32.trt8.6.1.6.xavier-nx.0123456789ab.engine", "lite_w0.25.json"),
])
def test_sidecar_name_drops_only_extension_and_precision_tag(tmp_path, name, sidecar):
    assert sidecar_path(tmp_path / name) == tmp_path / sidecar
