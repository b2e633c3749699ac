"""The README benchmark scripts at toy sizes (slow: each exports real presets with torch)."""

from __future__ import annotations

import json

import pytest

pytestmark = pytest.mark.slow


def test_formats_script_writes_its_table(tmp_path, capsys):
    pytest.importorskip("torch")
    from segnet.benchmarks import formats

    out = tmp_path / "formats"
    assert formats.main(["--presets", "segnet_lite:0.125", "--sizes", "32x48", "--formats", "pytorch,onnx",
                         "--min-time", "0", "--iterations", "3", "--warmup", "1", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "| segnet_lite x0.125 | 32x48 |" in printed and "command: `python -m segnet.benchmarks.formats" in printed
    rows = json.loads((out / "formats.json").read_text())
    assert [r["format"] for r in rows] == ["pytorch", "onnx"] and all(r["status"] == "ok" for r in rows)


def test_pooling_forms_are_equal_and_timed(tmp_path, capsys):
    pytest.importorskip("torch")
    from segnet.benchmarks import pooling

    assert pooling.main(["--presets", "segnet_lite:0.125", "--sizes", "32x48", "--maps", "4x16x24",
                         "--min-time", "0", "--iterations", "3", "--warmup", "1", "--out", str(tmp_path)]) == 0
    rows = json.loads((tmp_path / "pooling.json").read_text())
    assert rows[0]["kind"] == "whole model" and set(rows[0]["p50_ms"]) == {"switch", "scatter"}
    assert rows[1]["kind"] == "pair" and all(v is not None for v in rows[1]["p50_ms"].values())


def test_orin_estimate_is_labelled_and_sourced(tmp_path, capsys):
    pytest.importorskip("torch")
    from segnet.benchmarks import orin_estimate

    assert orin_estimate.main(["--presets", "segnet_lite:0.125", "--size", "32x48", "--out", str(tmp_path)]) == 0
    printed = capsys.readouterr().out
    assert printed.startswith("**ESTIMATE, not measured**") and "Technical Brief" in printed
    rows = json.loads((tmp_path / "orin_estimate.json").read_text())
    assert len(rows) == 4 * 2 and all(r["latency_ms"] > 0 for r in rows)


def test_export_report_judges_trained_weights_and_shows_every_int8_placement(tmp_path, capsys, camvid_root):
    pytest.importorskip("torch")
    from segnet.benchmarks import export_report
    from segnet.benchmarks.checkpoints import trained_checkpoint

    checkpoint = trained_checkpoint(tmp_path, "segnet_lite", 0.125, (32, 48), camvid_root)
    out = tmp_path / "report"
    assert export_report.main(["--presets", "segnet_lite:0.125", "--sizes", "32x48", "--data", str(camvid_root),
                               "--ckpt", str(checkpoint), "--methods", "minmax", "--calib-images", "8",
                               "--min-time", "0", "--iterations", "3", "--warmup", "1", "--out", str(out)]) == 0
    report = json.loads((out / "export_report.json").read_text())
    row = report["presets"][0]
    assert row["trt_problems"] == [] and row["agreement_gate"] == "trained, real: vs PyTorch"
    assert {"random: vs PyTorch", "trained, random: vs PyTorch", "trained, real: vs PyTorch"} <= set(row["comparisons"])
    variants = {r["variant"]: r for r in report["int8"]["rows"]}
    assert set(variants) == {"fp32", "int8-tensorrt-minmax-keep", "int8-tensorrt-minmax-all",
                             "int8-tensorrt-minmax-keep-switch-int8", "int8-tensorrt-minmax-keep-ort-as-is",
                             "int8-cpu-minmax-keep", "int8-cpu-minmax-all", "int8-cpu-minmax-keep-switch-fp32",
                             "int8-cpu-minmax-keep-ort-as-is"}
    assert variants["int8-cpu-minmax-keep-ort-as-is"]["switches"].endswith("(onnxruntime as is)")
    assert all(r["miou"] is not None for r in variants.values())
    assert "judged on: trained, real: vs PyTorch" in capsys.readouterr().out
