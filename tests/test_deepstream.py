"""`segnet deploy deepstream`: nvinfer's probabilities model (checked numerically) and configs (checked
against nvinfer's and deepstream-app's keys and value rules; DeepStream itself cannot run here)."""

from __future__ import annotations

import dataclasses

import cv2
import numpy as np
import onnxruntime as ort
import pytest
from runtime_helpers import scene

from segnet.benchmarks.tiny_onnx import build_tiny_onnx, tiny_spec
from segnet.cli import main
from segnet.errors import SegnetError
from segnet.export import deepstream_rules
from segnet.export.deepstream import write_deepstream
from segnet.runtime import Segmenter


def nvinfer_input(frame_bgr: np.ndarray, props: dict[str, str]) -> np.ndarray:
    """What nvinfer feeds the network (Gst-nvinfer documentation): net-scale-factor * (pixel - offsets), NCHW,
    in model-color-format order (0 RGB, 1 BGR, 2 GRAY), the frame already scaled to infer-dims."""
    fmt = int(props["model-color-format"])
    image = {0: cv2.cvtColor(frame_bgr, cv2.COLOR_BGR2RGB), 1: frame_bgr,
             2: cv2.cvtColor(frame_bgr, cv2.COLOR_BGR2GRAY)[..., None]}[fmt].astype(np.float32)
    offsets = np.array([float(v) for v in props["offsets"].split(";")], np.float32)
    x = float(props["net-scale-factor"]) * (image - offsets)
    return np.ascontiguousarray(x.transpose(2, 0, 1)[None])


def nvinfer_class_map(probs: np.ndarray, threshold: float) -> np.ndarray:
    """nvinfer's segmentation output parsing: per pixel the first class whose value is the largest and above
    the threshold, -1 where none is."""
    best = probs.argmax(axis=0)
    return np.where(probs.max(axis=0) > threshold, best, -1)


def properties(path) -> dict[str, str]:
    groups, problems = deepstream_rules.parse_key_file(path.read_text())
    assert not problems
    return groups["property"]


SPECS = {
    "imagenet_rgb": tiny_spec(),  # per-channel std: 1/std goes into the graph
    "equal_std_bgr": dataclasses.replace(tiny_spec(color_order="BGR"), mean=(0.5, 0.4, 0.3), std=(0.25, 0.25, 0.25)),
    "binary": tiny_spec(num_classes=1),
    "gray": tiny_spec(in_channels=1),
}


@pytest.mark.parametrize("name", SPECS)
def test_probabilities_model_argmax_is_the_class_map(tmp_path, name):
    spec = SPECS[name]
    model = build_tiny_onnx(tmp_path / "m.onnx", spec, outputs=("logits", "labels"), batch=None, sidecar=True)
    files = write_deepstream(model, tmp_path / "ds", batch_size=2)
    props = properties(files["nvinfer"])
    assert props["num-detected-classes"] == str(spec.num_labels) == str(len(files["labels"].read_text().split()))
    assert props["infer-dims"] == f"{spec.in_channels};32;48"
    std_in_graph = len(set(spec.std)) > 1
    assert float(props["net-scale-factor"]) == pytest.approx(1 / 255 if std_in_graph else 1 / (255 * spec.std[0]))
    assert [float(v) for v in props["offsets"].split(";")] == pytest.approx([255 * m for m in spec.mean])
    session = ort.InferenceSession(str(files["model"]), providers=["CPUExecutionProvider"])
    assert [o.name for o in session.get_outputs()] == ["probs"]
    with Segmenter(model, log=None) as seg:
        frames = [cv2.resize(scene(i, 64, 96), (48, 32), interpolation=cv2.INTER_AREA) for i in range(4)]
        batch = np.concatenate([nvinfer_input(f, props) for f in frames])
        probs = session.run(None, {"input": batch})[0]
        assert probs.shape == (4, spec.num_labels, 32, 48)
        np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-5)
        for frame, p in zip(frames, probs):
            np.testing.assert_array_equal(nvinfer_class_map(p, float(props["segmentation-threshold"])),
                                          seg.predict(frame))


def test_generated_configs_follow_nvinfer_and_deepstream_app_rules(tmp_path):
    model = build_tiny_onnx(tmp_path / "road.onnx", outputs=("logits",))
    assert main(["deploy", "deepstream", str(model), "--out", str(tmp_path), "--network-mode", "fp16",
                 "--sink", "display", "--source", "file:///data/road.mp4"]) == 0
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == ["road.deepstream-app.txt", "road.ds.onnx", "road.gst-launch.txt", "road.labels.txt",
                     "road.nvinfer.txt", "road.onnx"]  # beside the model, none of its files touched
    config = (tmp_path / "road.nvinfer.txt").read_text()
    labels = (tmp_path / "road.labels.txt").read_text().split()
    files = {"road.ds.onnx": True, "road.labels.txt": True}
    assert deepstream_rules.nvinfer_problems(config, files, labels) == []
    props = properties(tmp_path / "road.nvinfer.txt")
    assert (props["network-type"], props["network-mode"], props["output-blob-names"]) == ("2", "2", "probs")
    assert props["model-engine-file"] == "road.ds.onnx_b1_gpu0_fp16.engine"
    app = (tmp_path / "road.deepstream-app.txt").read_text()
    assert deepstream_rules.app_problems(app) == []
    groups, _ = deepstream_rules.parse_key_file(app)
    assert groups["primary-gie"]["config-file"] == "road.nvinfer.txt" and groups["sink0"]["type"] == "2"
    assert groups["source0"]["uri"] == "file:///data/road.mp4" and groups["segvisual"]["enable"] == "1"
    line = (tmp_path / "road.gst-launch.txt").read_text().splitlines()[0]
    for element in ("nvstreammux", "nvinfer config-file-path=road.nvinfer.txt", "nvsegvisual", "nveglglessink"):
        assert element in line


@pytest.mark.parametrize(("edit", "problem"), [
    (("network-type=2", "network-type=5"), "network-type=5 is not one of"),
    (("network-type=2", "network-typ=2"), "unknown key 'network-typ'"),
    (("batch-size=1", "batch-size=one"), "batch-size='one' is not a valid uint"),
    (("offsets=", "offsets=1;"), "offsets has 1 values for 3-channel input"),
    (("num-detected-classes=4", "num-detected-classes=5"), "the labels file has 4 lines for 5 classes"),
    (("onnx-file=road.ds.onnx", "onnx-file=other.onnx"), "onnx-file other.onnx is not there"),
    (("segmentation-threshold=0.0", "segmentation-threshold=1.5"), "segmentation-threshold must be in [0, 1)"),
    (("[property]", "[properties]"), "expected one [property] group"),
])
def test_the_nvinfer_rules_catch_mistakes(tmp_path, edit, problem):
    model = build_tiny_onnx(tmp_path / "road.onnx", outputs=("logits",))
    files = write_deepstream(model, tmp_path)
    text = files["nvinfer"].read_text()
    old, new = edit
    if old == "offsets=":
        text = "\n".join(new if line.startswith("offsets=") else line for line in text.splitlines())
    else:
        assert old in text
        text = text.replace(old, new)
    problems = deepstream_rules.nvinfer_problems(text, {"road.ds.onnx": True, "road.labels.txt": True},
                                                 ["a", "b", "c", "d"])
    assert any(problem in p for p in problems), problems


def test_the_app_rules_catch_mistakes(tmp_path):
    model = build_tiny_onnx(tmp_path / "road.onnx", outputs=("logits",))
    text = write_deepstream(model, tmp_path)["app"].read_text()
    assert "unknown group [sorce0]" in deepstream_rules.app_problems(text.replace("[source0]", "[sorce0]"))
    assert "[sink0] type=9 is not one of [1, 2, 3, 4]" in deepstream_rules.app_problems(
        text.replace("type=3\ncontainer", "type=9\ncontainer"))
    assert "[streammux] unknown key 'widht'" in deepstream_rules.app_problems(text.replace("width=48\nheight=32\nlive",
                                                                                           "widht=48\nheight=32\nlive"))


def test_models_nvinfer_cannot_take_are_refused_in_one_line(tmp_path, capsys):
    embedded = build_tiny_onnx(tmp_path / "e.onnx", embed_preprocess=True, outputs=("labels", "logits"))
    labels = build_tiny_onnx(tmp_path / "l.onnx", outputs=("labels",))
    for model in (embedded, labels):
        assert main(["deploy", "deepstream", str(model), "--out", str(tmp_path / "ds")]) == 2
        err = capsys.readouterr().err
        assert "export the plain network" in err and len(err.strip().splitlines()) == 1
    fixed = build_tiny_onnx(tmp_path / "f.onnx", outputs=("logits",))
    with pytest.raises(SegnetError, match="fixed batch of 1; export it with --dynamic-batch"):
        write_deepstream(fixed, tmp_path / "ds", batch_size=4)
    assert not (tmp_path / "ds").exists()
