"""Foreign NHWC models in the runtime: a tf2onnx SegNet runs in Segmenter, `segnet run` and `segnet bench` as it
is and after rewrite-unpool, with its layout read from the graph (or --layout) and its input range as an option.

The reference is ONNX Runtime fed by hand: the frame resized as segnet.preprocess does, BGR -> RGB, scaled to
the range, NHWC; the class map is the argmax over the last axis, scaled to the frame by nearest neighbour.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

ort = pytest.importorskip("onnxruntime")

from segnet import preprocess
from segnet.errors import SegnetError
from segnet.runtime.segmenter import Segmenter

KERAS = Path(__file__).parent / "fixtures" / "keras"
MODEL = KERAS / "scatter_nd_bxyf.onnx"  # dynamic batch, NHWC float image in, NHWC logits out
RANGES = {"0-1": lambda x: x / 255.0, "0-255": lambda x: x, "-1-1": lambda x: x / 127.5 - 1.0}


def _expected(path: Path, frame: np.ndarray, scale) -> np.ndarray:
    small = preprocess.resize(frame, (16, 16))[..., ::-1].astype(np.float32)
    logits = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).run(
        None, {"image": scale(small)[None].astype(np.float32)})[0][0]
    return cv2.resize(logits.argmax(-1).astype(np.uint8), frame.shape[1::-1], interpolation=cv2.INTER_NEAREST)


@pytest.fixture(scope="module")
def rewritten(tmp_path_factory):
    pytest.importorskip("onnx_graphsurgeon")
    from segnet.export.rewrite_unpool import rewrite_unpool

    out = tmp_path_factory.mktemp("layout") / "keras.trt.onnx"
    rewrite_unpool(MODEL, out)
    return out


@pytest.mark.parametrize("input_range", sorted(RANGES))
@pytest.mark.parametrize("which", ["original", "rewritten"])
def test_segmenter_reads_nhwc_from_the_graph(rewritten, input_range, which):
    path = MODEL if which == "original" else rewritten
    frame = np.random.default_rng(1).integers(0, 256, (37, 53, 3), dtype=np.uint8)
    with Segmenter(path, input_range=input_range, log=None, threads=1) as segmenter:
        assert (segmenter.io.input_layout, segmenter.io.logits_layout) == ("NHWC", "NHWC")
        assert segmenter.spec.num_classes == 3 and segmenter.input_size == (16, 16)
        got = segmenter.predict(frame)
        streamed = segmenter.segment(segmenter.load(None, frame)).labels  # the streaming path's reused buffers
    want = _expected(path, frame, RANGES[input_range])
    assert np.array_equal(got, want) and np.array_equal(streamed, want)


def test_mean_std_still_apply_to_nhwc():
    frame = np.random.default_rng(2).integers(0, 256, (16, 16, 3), dtype=np.uint8)
    mean, std = (0.4, 0.5, 0.6), (0.2, 0.25, 0.3)
    with Segmenter(MODEL, mean=mean, std=std, log=None, threads=1) as segmenter:
        got = segmenter.predict(frame)
    want = _expected(MODEL, frame, lambda x: (x / 255.0 - np.array(mean)) / np.array(std))
    assert np.array_equal(got, want)


def test_forcing_the_wrong_layout_is_a_clear_error():
    with pytest.raises(SegnetError, match=r"scatter_nd_bxyf.onnx: input has 16 channels.*--layout"):
        Segmenter(MODEL, layout="nchw", log=None)


@pytest.mark.parametrize("kwargs, message", [
    ({"input_range": "0-1", "mean": (0.5,) * 3, "std": (0.5,) * 3}, "either an input range or --mean/--std"),
    ({"input_range": "0-100"}, "input range must be one of"),
    ({"layout": "NWHC"}, "layout must be NCHW or NHWC"),
])
def test_bad_options_are_one_line_errors(kwargs, message):
    with pytest.raises(SegnetError, match=message):
        Segmenter(MODEL, log=None, **kwargs)


def _segnet(*args: object) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "segnet", *map(str, args)], check=False, capture_output=True,
                          text=True, timeout=300)


@pytest.mark.parametrize("which", ["original", "rewritten"])
def test_segnet_run_and_bench_take_the_tf2onnx_model(rewritten, tmp_path, which):
    path = MODEL if which == "original" else rewritten
    run = _segnet("run", path, "--source", "synthetic://?frames=4&size=48x64", "--output", tmp_path / "out" / "",
                  "--visualize", "mask", "--input-range", "0-1", "-q", "--threads", "1")
    assert run.returncode == 0, run.stderr
    assert "layout: input NHWC, logits NHWC" in run.stderr
    assert len(list((tmp_path / "out").glob("*.png"))) >= 4
    bench = _segnet("bench", path, "--formats", "onnx", "--input-range", "0-1", "--out", tmp_path / "bench",
                    "--warmup", "1", "--iterations", "3", "--min-time", "0", "--peak-time", "0", "--threads", "1")
    assert bench.returncode == 0, bench.stderr + bench.stdout
    assert "Traceback" not in bench.stderr
