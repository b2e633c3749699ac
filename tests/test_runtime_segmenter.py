"""Segmenter and the ONNX Runtime backend on tiny real ONNX models (built with onnx.helper)."""

from __future__ import annotations

import json

import cv2
import numpy as np
import onnxruntime as ort
import pytest
from runtime_helpers import scene

from segnet.benchmarks.tiny_onnx import build_tiny_onnx, tiny_spec
from segnet.errors import MissingDependencyError, SegnetError
from segnet.runtime import Segmenter
from segnet.runtime.backends import Backend, TensorInfo, open_backend
from segnet.runtime.backends.onnxruntime import OnnxRuntimeBackend
from segnet.spec import ModelSpec, sidecar_path, write_sidecar


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    root = tmp_path_factory.mktemp("models")
    return {
        "plain": build_tiny_onnx(root / "plain.onnx", outputs=("logits",)),
        "embedded": build_tiny_onnx(root / "embedded.onnx", embed_preprocess=True, outputs=("labels", "logits"),
                                    batch=None),
        "labels_only": build_tiny_onnx(root / "labels.onnx", outputs=("labels",)),
        "foreign": build_tiny_onnx(root / "foreign.onnx", outputs=("logits",), metadata=False),
        "binary": build_tiny_onnx(root / "binary.onnx", tiny_spec(num_classes=1), outputs=("logits",)),
        "gray": build_tiny_onnx(root / "gray.onnx", tiny_spec(in_channels=1), outputs=("logits",)),
    }


FRAME = scene(3, 64, 96)  # twice the 32x48 network input


def test_class_map_is_uint8_at_the_frame_size(models):
    with Segmenter(models["plain"]) as seg:
        for shape in ((64, 96), (20, 30), (33, 47)):
            frame = cv2.resize(FRAME, shape[::-1])
            class_map = seg.predict(frame)
            assert class_map.shape == shape and class_map.dtype == np.uint8
            assert class_map.max() < seg.spec.num_classes
        assert len(np.unique(seg.predict(FRAME))) > 1, "the random model should not predict one class only"
        assert set(seg.last_timing) >= {"pre", "infer", "post", "compute"}
        assert seg.spec.arch == "tiny_onnx" and seg.input_size == (32, 48)


def test_embedded_and_plain_preprocessing_agree(models):
    with Segmenter(models["plain"]) as plain, Segmenter(models["embedded"]) as embedded:
        assert embedded.io.embedded_preprocess and not plain.io.embedded_preprocess
        for i in range(3):
            frame = scene(i, 64, 96)
            agree = (plain.predict(frame) == embedded.predict(frame)).mean()
            assert agree > 0.995, f"plain and embedded preprocessing disagree on {1 - agree:.1%} of pixels"
        logits_plain = plain.predict_logits(FRAME)
        logits_embedded = embedded.predict_logits(FRAME)
        np.testing.assert_allclose(logits_plain, logits_embedded, atol=1e-3)


def test_labels_output_matches_argmax_of_logits(models):
    with Segmenter(models["labels_only"]) as labels, Segmenter(models["plain"]) as plain:
        assert labels.io.logits_name is None and labels.io.labels_name == "labels"
        np.testing.assert_array_equal(labels.predict(FRAME), plain.predict(FRAME))


def test_plain_preprocessing_normalises_in_the_spec_colour_order(models):
    """Check the exact tensor fed to the network against a hand computation."""
    with Segmenter(models["plain"]) as seg:
        tensor = seg.preprocess([FRAME])
        spec = seg.spec
        small = cv2.resize(FRAME, (48, 32), interpolation=cv2.INTER_AREA)[..., ::-1].astype(np.float32) / 255
        expected = ((small - np.array(spec.mean)) / np.array(spec.std)).transpose(2, 0, 1)[None]
        assert tensor.shape == (1, 3, 32, 48) and tensor.dtype == np.float32
        np.testing.assert_allclose(tensor, expected, atol=1e-5)


def test_colorize_and_overlay(models):
    with Segmenter(models["plain"]) as seg:
        class_map = seg.predict(FRAME)
        color = seg.colorize(class_map)
        for label in np.unique(class_map):
            r, g, b = seg.spec.palette[label]
            assert (color[class_map == label] == (b, g, r)).all()
        np.testing.assert_array_equal(seg.overlay(FRAME, class_map, alpha=0.0), FRAME)
        np.testing.assert_array_equal(seg.overlay(FRAME, class_map, alpha=1.0), color)
        ignore = int(class_map[0, 0])
        half = seg.overlay(FRAME, class_map, alpha=0.5, ignore=ignore)
        np.testing.assert_array_equal(half[class_map == ignore], FRAME[class_map == ignore])
        changed = half[class_map != ignore] != FRAME[class_map != ignore]
        assert changed.any()


def test_binary_model_thresholds_its_logit(models):
    with Segmenter(models["binary"]) as seg:
        assert seg.spec.num_labels == 2
        class_map = seg.predict(FRAME)
        session = ort.InferenceSession(str(models["binary"]), providers=["CPUExecutionProvider"])
        logit = session.run(None, {"input": seg.preprocess([FRAME])})[0][0, 0]
        expected = cv2.resize((logit > 0).astype(np.uint8), (96, 64), interpolation=cv2.INTER_NEAREST)
        np.testing.assert_array_equal(class_map, expected)
        assert set(np.unique(class_map)) <= {0, 1}


def test_grayscale_model_takes_bgr_frames(models):
    with Segmenter(models["gray"]) as seg:
        assert seg.preprocess([FRAME]).shape == (1, 1, 32, 48)
        assert seg.predict(FRAME).shape == (64, 96)


def test_foreign_model_uses_given_mean_std_and_classes(models, tmp_path):
    spec = tiny_spec()
    notes = []
    names = tmp_path / "names.txt"
    names.write_text("road\ncar\nperson\nsky\n")
    with Segmenter(models["foreign"], mean=spec.mean, std=spec.std, classes=str(names), log=notes.append) as foreign, \
            Segmenter(models["plain"]) as ours:
        assert foreign.io.foreign and foreign.spec.class_names == ["road", "car", "person", "sky"]
        np.testing.assert_array_equal(foreign.predict(FRAME), ours.predict(FRAME))
    assert any("RGB" in note for note in notes), notes
    assert not any("ImageNet" in note for note in notes), "mean/std were given, no assumption to report"
    with Segmenter(models["foreign"], mean=(0.0, 0.0, 0.0), std=(1.0, 1.0, 1.0), log=notes.append) as other:
        tensor = other.preprocess([FRAME])
        assert 0.0 <= tensor.min() and tensor.max() <= 1.0  # (x/255 - 0) / 1
    with pytest.raises(SegnetError, match="4 classes, --classes gave 2"):
        Segmenter(models["foreign"], classes="a,b", log=None)


def test_foreign_model_default_assumptions_are_reported(models):
    notes = []
    with Segmenter(models["foreign"], log=notes.append) as seg:
        assert seg.spec.num_classes == 4 and seg.input_size == (32, 48)
    text = " ".join(notes)
    assert "foreign" in text and "ImageNet" in text and "RGB" in text and "class0" in text


def test_filter_mode_linear_smooths_upsampled_edges(models):
    with Segmenter(models["plain"], filter_mode="linear") as linear, Segmenter(models["plain"]) as point:
        smooth, blocky = linear.predict(FRAME), point.predict(FRAME)
        # nearest-neighbour upsampling by 2 makes every 2x2 block one class; bilinear logits do not
        blocks = blocky.reshape(32, 2, 48, 2)
        assert (blocks == blocks[:, :1, :, :1]).all()
        smooth_blocks = smooth.reshape(32, 2, 48, 2)
        assert not (smooth_blocks == smooth_blocks[:, :1, :, :1]).all()
        assert (smooth == blocky).mean() > 0.8
        np.testing.assert_array_equal(smooth, linear.predict_logits(FRAME).argmax(0))


def test_labels_only_model_refuses_logits_and_linear_filtering(models):
    with Segmenter(models["labels_only"]) as seg, pytest.raises(SegnetError, match="no logits output"):
            seg.predict_logits(FRAME)
    with pytest.raises(SegnetError, match="needs a logits output"):
        Segmenter(models["labels_only"], filter_mode="linear")


def test_predict_batch_matches_single_frames(models):
    frames = [scene(i, 64, 96) for i in range(3)] + [scene(9, 40, 50)]
    for name in ("plain", "embedded"):  # fixed batch 1 (run one by one) and dynamic batch (one call)
        with Segmenter(models[name]) as seg:
            batch = seg.predict_batch(frames)
            for frame, class_map in zip(frames, batch):
                np.testing.assert_array_equal(class_map, seg.predict(frame))
            assert seg.predict_batch([]) == []


def test_sidecar_spec_wins_over_metadata(models, tmp_path):
    path = build_tiny_onnx(tmp_path / "m.onnx", outputs=("logits",))
    spec = ModelSpec.from_dict({**tiny_spec().to_dict(), "class_names": ["road", "car", "person", "sky"]})
    from segnet.spec import Artifact

    write_sidecar(path, spec, Artifact(file="m.onnx", format="onnx"))
    assert sidecar_path(path).exists()
    with Segmenter(path) as seg:
        assert seg.spec.class_names == ["road", "car", "person", "sky"]


def test_bad_inputs_give_clear_errors(models, tmp_path):
    with pytest.raises(SegnetError, match="not found"):
        Segmenter(tmp_path / "missing.onnx")
    garbage = tmp_path / "garbage.onnx"
    garbage.write_bytes(b"this is not a model")
    with pytest.raises(SegnetError, match="ONNX Runtime cannot load"):
        Segmenter(garbage)
    with pytest.raises(SegnetError, match="unknown model format"):
        open_backend(json.__file__)
    with Segmenter(models["plain"]) as seg, pytest.raises(SegnetError, match="uint8"):
            seg.predict(FRAME.astype(np.float32))
    with pytest.raises(SegnetError, match="embedded"):
        Segmenter(models["embedded"], mean=(0.5, 0.5, 0.5))


class _CountingBackend(Backend):
    """A backend with only the _impl members: the base class does the bookkeeping."""

    def __init__(self) -> None:
        super().__init__()
        self.calls: list[str] = []

    def _activate_impl(self) -> None:
        self.calls.append("activate")

    def _infer_impl(self, feed, outputs):
        self.calls.append("infer")
        return {"out": feed["x"] * 2}

    def _deactivate_impl(self) -> None:
        self.calls.append("deactivate")

    @property
    def inputs(self):
        return [TensorInfo("x", (1,), np.dtype(np.float32))]

    @property
    def outputs(self):
        return [TensorInfo("out", (1,), np.dtype(np.float32))]


def test_backend_base_does_the_bookkeeping():
    backend = _CountingBackend()
    x = np.ones(1, np.float32)
    with pytest.raises(SegnetError, match=r"backend is not active: call activate\(\)"):
        backend.infer({"x": x})
    with pytest.raises(SegnetError, match="backend is not active"):
        backend.infer_async({"x": x})
    backend.deactivate()  # inactive: a no-op
    backend.activate()
    backend.activate()
    assert backend.is_active and backend.calls == ["activate"]
    with pytest.raises(SegnetError, match=r"expected inputs \['x'\], got \[\]"):
        backend.infer({})
    with pytest.raises(SegnetError, match=r"expected inputs \['x'\], got \['x', 'y'\]"):
        backend.infer({"x": x, "y": x})
    np.testing.assert_array_equal(backend.infer_async({"x": x}).result()["out"], 2 * x)  # a finished Pending
    backend.deactivate()
    assert not backend.is_active and backend.calls == ["activate", "infer", "deactivate"]
    with _CountingBackend() as managed:
        assert managed.is_active and managed.infer({"x": x})["out"][0] == 2
    assert not managed.is_active and managed.calls == ["activate", "infer", "deactivate"]


def test_open_backend_says_which_options_tensorrt_ignores(tmp_path, capsys):
    engine = tmp_path / "model.engine"
    engine.write_bytes(b"plan")
    try:
        open_backend(engine, threads=2, optimization=None, spinning=False)
    except SegnetError:
        pass  # no TensorRT here: the notes come first
    err = capsys.readouterr().err.splitlines()
    assert err == ["segnet: note: --threads does not apply to the TensorRT backend (ignored)",
                   "segnet: note: --no-spinning does not apply to the TensorRT backend (ignored)"]


def test_open_backend_choices(models, tmp_path):
    backend = open_backend(models["plain"], threads=1, optimization="basic", spinning=False)
    assert isinstance(backend, OnnxRuntimeBackend)
    with backend:
        out = backend.infer({"input": np.zeros((1, 3, 32, 48), np.float32)})
        assert out["logits"].shape == (1, 4, 32, 48) and backend.last_timing["compute"] > 0
        assert backend.inputs[0].shape == (1, 3, 32, 48) and backend.outputs[0].name == "logits"
    engine = tmp_path / "model.engine"
    engine.write_bytes(b"plan")
    with pytest.raises(SegnetError, match="only with --backend tensorrt"):
        open_backend(engine, backend="onnxruntime")
    with pytest.raises(SegnetError, match="unknown backend"):
        open_backend(models["plain"], backend="openvino")
    with pytest.raises(MissingDependencyError):  # no TensorRT on this machine: one clear error
        backend = open_backend(engine)
        backend.activate()
