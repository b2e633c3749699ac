"""One preprocessing rule (segnet/preprocess.py) for training, evaluation, export, calibration and the runtime."""

from __future__ import annotations

import re
from pathlib import Path

import cv2
import numpy as np
import pytest
from runtime_helpers import scene

from segnet import evaluate, preprocess
from segnet.benchmarks.tiny_onnx import build_tiny_onnx
from segnet.data.transforms import resize_pair
from segnet.export import inputs
from segnet.runtime import Segmenter
from segnet.spec import ModelSpec

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize(("source", "target", "flag"), [
    ((360, 480), (120, 160), cv2.INTER_AREA), ((120, 160), (120, 160), cv2.INTER_AREA),
    ((100, 480), (120, 160), cv2.INTER_LINEAR), ((360, 100), (120, 160), cv2.INTER_LINEAR),
    ((60, 80), (120, 160), cv2.INTER_LINEAR),
])
def test_area_only_when_shrinking_both_ways(source, target, flag):
    assert preprocess.interpolation(source, target) == flag


def test_normalization_is_pixel_over_255_minus_mean_over_std():
    spec = ModelSpec(arch="x", num_classes=3, mean=(0.4, 0.5, 0.6), std=(0.2, 0.25, 0.3))
    scale, shift = preprocess.normalization(spec)
    pixels = np.arange(256, dtype=np.float32)[:, None]
    expected = (pixels / 255.0 - np.asarray(spec.mean)) / np.asarray(spec.std)
    np.testing.assert_allclose(pixels * scale + shift, expected, atol=1e-6)
    assert scale.dtype == shift.dtype == np.float32


def test_runtime_export_evaluation_and_training_prepare_frames_alike(tmp_path):
    """The same frame becomes the same network input in the Segmenter, in export verification/calibration
    (export/inputs.py), in evaluation and in the training transform."""
    spec_file = build_tiny_onnx(tmp_path / "tiny.onnx", outputs=("logits",))
    frame = scene(4, 100, 150)  # BGR, shrinks to the tiny model's 32x48
    with Segmenter(spec_file, log=None) as seg:
        spec = seg.spec
        runtime = seg.preprocess([frame])
    rgb = np.ascontiguousarray(frame[..., ::-1])
    exported = inputs.normalize(inputs.to_model_image(rgb, spec.input_size, 3)[None], spec)
    evaluated = evaluate.normalize(evaluate.resize_image(rgb, spec.input_size)[None], spec)
    trained, _ = resize_pair(rgb, np.zeros(rgb.shape[:2], np.uint8), spec.input_size)
    np.testing.assert_allclose(runtime, exported, atol=1e-6)
    np.testing.assert_allclose(runtime, evaluated, atol=1e-6)
    np.testing.assert_array_equal(trained, evaluate.resize_image(rgb, spec.input_size))


def test_one_home_for_the_rule():
    """No module but segnet/preprocess.py writes the normalisation or the resize rule again."""
    patterns = [re.compile(r"255(\.0)?\s*\*\s*std"), re.compile(r"INTER_AREA\s+if\b")]
    found = []
    for folder in ("segnet", "export", "runtime", "benchmarks"):
        for path in (ROOT / folder).rglob("*.py"):
            if path.name == "preprocess.py" and path.parent.name == "segnet":
                continue
            text = path.read_text(encoding="utf-8")
            found += [f"{path.relative_to(ROOT)}: {p.pattern}" for p in patterns if p.search(text)]
    assert not found, found
