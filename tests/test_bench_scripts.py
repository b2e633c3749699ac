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
