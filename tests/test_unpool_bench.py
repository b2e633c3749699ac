"""benchmarks/scripts/unpool_rewrite.py at toy settings: one run gives node counts, max |diff| and the three latencies."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

pytest.importorskip("onnx_graphsurgeon")
pytest.importorskip("onnxruntime")

KERAS = Path(__file__).parent / "fixtures" / "keras"


def test_original_general_and_fast_in_one_table(tmp_path, capsys):
    from segnet.benchmarks.scripts import unpool_rewrite

    models = [str(KERAS / "scatter_nd_flat.onnx"), str(KERAS / "unravel_index.onnx")]
    assert unpool_rewrite.main([*models, "--warmup", "1", "--iterations", "3", "--min-time", "0",
                                "--out", str(tmp_path)]) == 0
    printed = capsys.readouterr().out
    assert "| scatter_nd_flat.onnx | 43 / 63 / 61 | 2 switch, 0 general |" in printed
    rows = json.loads((tmp_path / "unpool_rewrite.json").read_text())
    assert [r["model"] for r in rows] == ["scatter_nd_flat.onnx", "unravel_index.onnx"]
    for row in rows:
        assert all(v == 0.0 for v in row["max_diff"].values())
        assert all(isinstance(row["p50_ms"][f], float) for f in ("original", "general", "fast"))


def test_a_missing_model_is_a_clear_error(tmp_path):
    from segnet.benchmarks.scripts import unpool_rewrite
    from segnet.errors import SegnetError

    with pytest.raises(SegnetError, match="nowhere.onnx: no such file"):
        unpool_rewrite.main([str(tmp_path / "nowhere.onnx"), "--out", str(tmp_path)])
