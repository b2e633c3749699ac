"""tf2onnx SegNets (tests/fixtures/keras, made by tests/fixtures/make_keras_segnets.py) through rewrite-unpool.

The fixtures are committed because TensorFlow is too heavy for the default run; the slow test makes them
again with TensorFlow 2.21 / tf2onnx 1.17 (an interpreter named by $SEGNET_TF_PYTHON, else .venv-tf/bin/python)
and runs the same checks on the fresh files.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import onnx
import pytest

pytest.importorskip("onnx_graphsurgeon")
ort = pytest.importorskip("onnxruntime")

from segnet.export.rewrite_unpool import rewrite_unpool
from segnet.export.trt_lint import check_onnx

FIXTURES = Path(__file__).parent / "fixtures" / "keras"
SCRIPT = FIXTURES.parent / "make_keras_segnets.py"
NAMES = sorted(p.stem for p in FIXTURES.glob("*.onnx"))


def _run(path: Path, x: np.ndarray) -> np.ndarray:
    options = ort.SessionOptions()
    options.log_severity_level = 3
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"]).run(None, {"image": x})[0]


def _batches(model: onnx.ModelProto) -> list[int]:
    dim = model.graph.input[0].type.tensor_type.shape.dim[0]
    return [dim.dim_value] if dim.HasField("dim_value") else [1, 3]


def check_rewrite(src: Path, out: Path, fast: bool = True):
    """Rewrite `src` (`fast=False`: the general path only); the result equals the original under ONNX Runtime, has no MaxPool Indices and passes
    `segnet check` for TensorRT 8.6/10/11 (10/11 above opset 17). Returns the summary."""
    model = onnx.load(str(src))
    assert any(n.op_type == "MaxPool" and len(n.output) == 2 for n in model.graph.node)  # what tf2onnx emits
    assert any(n.op_type == "ScatterND" for n in model.graph.node)
    summary = rewrite_unpool(src, out, fast=fast)
    rewritten = onnx.load(str(out))
    assert all(n.op_type != "MaxPool" or len(n.output) == 1 for n in rewritten.graph.node)
    assert all(n.op_type != "MaxUnpool" for n in rewritten.graph.node)
    for batch in _batches(model):
        rng = np.random.default_rng(batch)
        for x in (rng.standard_normal((batch, 16, 16, 3)).astype(np.float32),
                  rng.integers(0, 3, (batch, 16, 16, 3)).astype(np.float32)):  # ties after the first conv
            before, after = _run(src, x), _run(out, x)
            assert before.shape == after.shape == (batch, 16, 16, 3)  # NHWC logits, as TensorFlow gives
            assert np.abs(before - after).max() <= 1e-5
    opset = rewritten.opset_import[0].version
    report = check_onnx(out, ("8.6", "10", "11") if opset <= 17 else ("10", "11"), run_parser=False)
    assert report.ok, report.format()
    return summary


def test_fixtures_are_there():
    assert {"scatter_nd_bxyf", "tensor_scatter_nd_update", "unravel_index", "scatter_nd_flat"} <= set(NAMES)
    assert all((FIXTURES / f"{n}.onnx").stat().st_size < 32_000 for n in NAMES)


@pytest.mark.parametrize("name", NAMES)
def test_tf2onnx_segnet_is_rewritten_exactly(tmp_path, name):
    summary = check_rewrite(FIXTURES / f"{name}.onnx", tmp_path / f"{name}.trt.onnx")
    assert len(summary.switch) == 2 and not summary.indices  # both unpoolings folded: the fast path
    assert "ScatterND" not in {n.op_type for n in onnx.load(str(tmp_path / f"{name}.trt.onnx")).graph.node}


@pytest.mark.parametrize("name", NAMES)
def test_tf2onnx_segnet_general_path_is_exact_too(tmp_path, name):
    summary = check_rewrite(FIXTURES / f"{name}.onnx", tmp_path / f"{name}.general.onnx", fast=False)
    assert len(summary.indices) == 2 and not summary.switch  # the index arithmetic and ScatterND stay


def _tf_python() -> str | None:
    candidates = [os.environ.get("SEGNET_TF_PYTHON"), str(Path(__file__).parents[1] / ".venv-tf" / "bin" / "python")]
    return next((c for c in candidates if c and Path(c).is_file()), None)


@pytest.mark.slow
def test_generator_script_makes_the_same_kind_of_models(tmp_path):
    python = _tf_python()
    if python is None:
        pytest.skip("no TensorFlow interpreter: set SEGNET_TF_PYTHON or make .venv-tf (see the script's docstring)")
    done = subprocess.run([python, str(SCRIPT), str(tmp_path)], capture_output=True, text=True, timeout=900, check=False,
                          env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
    assert done.returncode == 0, done.stdout + done.stderr[-3000:]
    fresh = sorted(p.stem for p in tmp_path.glob("*.onnx"))
    assert fresh == NAMES
    for name in fresh:
        ops = sorted(n.op_type for n in onnx.load(str(tmp_path / f"{name}.onnx")).graph.node)
        assert ops == sorted(n.op_type for n in onnx.load(str(FIXTURES / f"{name}.onnx")).graph.node), name
        check_rewrite(tmp_path / f"{name}.onnx", tmp_path / f"{name}.trt.onnx")
    print(done.stdout, file=sys.stderr)
