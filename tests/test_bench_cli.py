"""`segnet bench` end to end on tiny models: rows, skip reasons, files, mIoU, exit codes, torch-free import."""

from __future__ import annotations

import csv
import importlib.util
import json
import subprocess
import sys

import numpy as np
import pytest

from segnet.benchmarks.tiny_onnx import build_tiny_onnx, tiny_spec
from segnet.cli import main

FAST = ["--warmup", "1", "--iterations", "3", "--min-time", "0", "--peak-time", "0", "--threads", "1"]


@pytest.fixture
def tiny_onnx(tmp_path):
    return build_tiny_onnx(tmp_path / "export" / "model.onnx", tiny_spec(num_classes=4, input_size=(32, 48)),
                           outputs=("logits",), sidecar=True)


def read_rows(folder):
    return {row["format"]: row for row in csv.DictReader((folder / "results.csv").open())}


def test_onnx_model_rows_files_and_reasons(tiny_onnx, tmp_path, capsys):
    out = tmp_path / "bench"
    code = main(["bench", str(tiny_onnx), "--formats", "pytorch,onnx,onnx-int8,engine", "--out", str(out), *FAST])
    assert code == 0
    printed = capsys.readouterr().out
    assert printed.startswith("| format | status |") and str(out / "results.json") in printed
    rows = read_rows(out)
    assert list(rows) == ["pytorch", "onnx", "onnx-int8", "engine"]
    assert rows["onnx"]["status"] == "ok" and float(rows["onnx"]["p50_ms"]) > 0
    assert rows["pytorch"]["status"].startswith("skipped: needs a training checkpoint")
    assert rows["onnx-int8"]["status"].startswith("skipped: INT8 needs calibration images")
    assert rows["engine"]["status"].startswith("skipped:") and "tensorrt" in rows["engine"]["status"].lower()
    doc = json.loads((out / "results.json").read_text())
    # 32x48 tiny net: conv 3->8 k3 at 32x48, conv 8->8 k3 at 16x24, 1x1 8->4 at 32x48
    assert doc["flops"]["macs"] == 8 * 32 * 48 * 27 + 8 * 16 * 24 * 72 + 4 * 32 * 48 * 8
    assert doc["machine"]["logical_cpus"] >= 1
    assert (out / "table.md").is_file()
    if importlib.util.find_spec("matplotlib") is not None:  # the chart needs it (not in a Jetson's runtime install)
        assert (out / "chart.png").read_bytes()[:4] == b"\x89PNG"
    else:
        assert not (out / "chart.png").exists()


def tiny_dataset(cv2, data, splits):
    """A 4-class folder dataset of random 40x60 images and masks, 3 per split."""
    rng = np.random.default_rng(0)
    for split in splits:
        (data / split / "images").mkdir(parents=True)
        (data / split / "masks").mkdir(parents=True)
        for i in range(3):
            cv2.imwrite(str(data / split / "images" / f"{i}.png"), rng.integers(0, 256, (40, 60, 3), np.uint8))
            cv2.imwrite(str(data / split / "masks" / f"{i}.png"), rng.integers(0, 4, (40, 60), np.uint8))
    (data / "classes.json").write_text(json.dumps({"names": ["a", "b", "c", "d"]}))
    return data


def test_an_int8_sibling_of_the_other_flavour_is_not_benchmarked_as_this_one(tiny_onnx, tmp_path, capsys):
    """`segnet export --int8` writes the TensorRT flavour as model.int8.onnx; the onnx-int8 row is the CPU one."""
    cv2 = pytest.importorskip("cv2")
    from segnet.export.quantize import quantize_int8
    from segnet.spec import read_sidecar

    data = tiny_dataset(cv2, tmp_path / "data", ("train", "val"))
    quantize_int8(tiny_onnx, None, data, num_images=2, target="tensorrt")
    out = tmp_path / "bench"
    assert main(["bench", str(tiny_onnx), "--formats", "onnx,onnx-int8", "--calib", str(data), "--out", str(out),
                 *FAST]) == 0
    assert "model.int8.onnx is the tensorrt INT8 flavour, not onnx-int8's" in capsys.readouterr().err
    assert read_sidecar(out / "model.int8.onnx")[1].details["int8"]["flavour"] == "cpu"
    assert read_rows(out)["onnx-int8"]["status"] == "ok"
    # and the TensorRT-flavour row uses that file as it is (no --calib: quantizing would be skipped)
    assert main(["bench", str(tiny_onnx), "--formats", "onnx-int8-trt", "--out", str(tmp_path / "trt"), *FAST]) == 0
    row = json.loads((tmp_path / "trt" / "results.json").read_text())["formats"][0]
    assert row["status"] == "ok"
    assert row["size_mb"] == pytest.approx(tiny_onnx.with_name("model.int8.onnx").stat().st_size / 1e6)


def test_siblings_are_used_and_miou_measured_on_data(tiny_onnx, tmp_path):
    """A model.fp16.onnx beside model.onnx is benchmarked as is; --data adds mIoU to each row."""
    cv2 = pytest.importorskip("cv2")
    build_tiny_onnx(tiny_onnx.with_name("model.fp16.onnx"), tiny_spec(num_classes=4, input_size=(32, 48)),
                    outputs=("labels",), embed_preprocess=True, seed=3)
    data = tiny_dataset(cv2, tmp_path / "data", ("val",))
    out = tmp_path / "bench"
    code = main(["bench", str(tiny_onnx), "--formats", "onnx,onnx-fp16", "--data", str(data), "--out", str(out),
                 *FAST])
    assert code == 0
    rows = read_rows(out)
    assert rows["onnx-fp16"]["status"] == "ok"
    assert all(0.0 <= float(rows[f]["miou"]) <= 1.0 for f in ("onnx", "onnx-fp16"))
    doc = json.loads((out / "results.json").read_text())
    assert doc["formats"][1]["size_mb"] == pytest.approx(tiny_onnx.with_name("model.fp16.onnx").stat().st_size / 1e6)


def test_siblings_of_a_dotted_model_name_are_found(tmp_path):
    """lite_w0.25.onnx's FP16 sibling is lite_w0.25.fp16.onnx (not lite_w0.fp16.onnx, nor a fresh conversion)."""
    spec = tiny_spec(num_classes=4, input_size=(32, 48))
    model = build_tiny_onnx(tmp_path / "export" / "lite_w0.25.onnx", spec, outputs=("logits",), sidecar=True)
    build_tiny_onnx(model.with_name("lite_w0.25.fp16.onnx"), spec, outputs=("labels",), embed_preprocess=True, seed=3)
    out = tmp_path / "bench"
    assert main(["bench", str(model), "--formats", "onnx,onnx-fp16", "--out", str(out), *FAST]) == 0
    row = json.loads((out / "results.json").read_text())["formats"][1]
    assert row["status"] == "ok"
    assert row["size_mb"] == pytest.approx(model.with_name("lite_w0.25.fp16.onnx").stat().st_size / 1e6)
    assert not list(out.glob("*.onnx"))  # nothing converted


def test_the_tensorrt_flavour_int8_file_shares_the_model_sidecar(tiny_onnx, tmp_path):
    """The bench writes model.int8-trt.onnx beside model.int8.onnx; like every variant it shares model.json."""
    cv2 = pytest.importorskip("cv2")
    pytest.importorskip("onnxruntime.quantization")
    from segnet.spec import read_sidecar

    data = tiny_dataset(cv2, tmp_path / "data", ("train",))
    out = tmp_path / "bench"
    assert main(["bench", str(tiny_onnx), "--formats", "onnx-int8,onnx-int8-trt", "--calib", str(data),
                 "--calib-images", "2", "--out", str(out), *FAST]) == 0
    assert sorted(p.name for p in out.glob("model*")) == ["model.int8-trt.onnx", "model.int8.onnx", "model.json"]
    assert set(json.loads((out / "model.json").read_text())["artifacts"]) == {"model.int8.onnx",
                                                                              "model.int8-trt.onnx"}
    assert read_sidecar(out / "model.int8-trt.onnx")[1].details["int8"]["flavour"] == "tensorrt"
    assert read_sidecar(out / "model.int8.onnx")[1].details["int8"]["flavour"] == "cpu"


def test_engine_only_without_tensorrt_is_one_clear_error(tiny_onnx, tmp_path, capsys):
    code = main(["bench", str(tiny_onnx), "--formats", "engine", "--out", str(tmp_path / "b"), *FAST])
    assert code != 0
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("segnet bench: error: engine:")
    assert "python3-libnvinfer" in err[0]  # says how to get TensorRT
    assert not (tmp_path / "b" / "results.json").exists()  # nothing slow ran first


def test_user_mistakes_are_one_line_errors(tiny_onnx, tmp_path, capsys):
    assert main(["bench", str(tiny_onnx), "--formats", "onnx,tflite", *FAST]) == 2
    assert "unknown format(s) tflite" in capsys.readouterr().err
    assert main(["bench", str(tmp_path / "missing.onnx"), *FAST]) == 2
    assert "no such model file" in capsys.readouterr().err
    assert main(["bench", str(tiny_onnx), "--iterations", "0"]) == 2


BLOCK_TORCH = ("import sys, importlib.abc\n"
               "class Block(importlib.abc.MetaPathFinder):\n"
               "    def find_spec(self, name, path, target=None):\n"
               "        if name == 'torch' or name.startswith('torch.'):\n"
               "            raise ImportError('torch is blocked')\n"
               "sys.meta_path.insert(0, Block())\n")


def test_bench_of_an_onnx_model_runs_without_torch(tiny_onnx, tmp_path):
    """On a Jetson without torch: the ONNX row is measured, the PyTorch row says why it is missing."""
    code = BLOCK_TORCH + (
        "import segnet.benchmarks.harness, segnet.benchmarks.report, segnet.benchmarks.runners\n"
        "import segnet.benchmarks.suite, segnet.benchmarks.flops, segnet.benchmarks.peak, segnet.benchmarks.orin\n"
        "from segnet.cli import main\n"
        f"sys.exit(main(['bench', {str(tiny_onnx)!r}, '--formats', 'pytorch,onnx', '--out', {str(tmp_path)!r},"
        f" {', '.join(repr(a) for a in FAST)}]))\n")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr
    rows = read_rows(tmp_path)
    assert rows["onnx"]["status"] == "ok"
    assert rows["pytorch"]["status"].startswith("skipped: needs a training checkpoint")


def test_checkpoint_is_exported_and_compared_with_pytorch(tmp_path):
    """Given a checkpoint: the ONNX is exported into --out by segnet.export, PyTorch is the baseline row."""
    torch = pytest.importorskip("torch")
    from segnet.models import create_model
    from segnet.spec import ModelSpec
    from segnet.train.checkpoint import save_checkpoint

    torch.manual_seed(0)
    spec = ModelSpec(arch="segnet_lite", num_classes=3, arch_args={"width": 0.125}, input_size=(32, 48))
    ckpt = save_checkpoint(tmp_path / "best.pt", spec=spec, model=create_model("segnet_lite", 3, width=0.125),
                           epoch=1)
    out = tmp_path / "bench"
    assert main(["bench", str(ckpt), "--formats", "pytorch,onnx", "--out", str(out), *FAST]) == 0
    rows = read_rows(out)
    assert rows["pytorch"]["status"] == "ok" and rows["onnx"]["status"] == "ok"
    assert float(rows["pytorch"]["speedup_vs_pytorch"]) == pytest.approx(1.0)
    assert float(rows["onnx"]["speedup_vs_pytorch"]) > 0
    assert (out / "model.onnx").is_file() and (out / "model.json").is_file()
    doc = json.loads((out / "results.json").read_text())
    assert doc["flops"]["macs"] > 0 and doc["flops"]["uncounted"] == []
