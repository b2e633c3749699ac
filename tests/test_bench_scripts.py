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
    assert "| segnet_lite x0.125 | 32x48 |" in printed and "command: `python -m segnet.benchmarks.scripts.formats" in printed
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
    from segnet.benchmarks.scripts.checkpoints import trained_checkpoint

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


def test_frame_accuracy_scores_six_variants_and_area_follows_the_host(tmp_path, capsys):
    pytest.importorskip("torch")
    from segnet.benchmarks import frame_accuracy
    from segnet.benchmarks.scripts.checkpoints import trained_checkpoint
    from segnet.data.synthetic import generate_dataset

    data = tmp_path / "data"
    generate_dataset(data, 8, 4, 0, size=(96, 144), seed=0)  # frames 3x the network size, as CamVid's
    checkpoint = trained_checkpoint(tmp_path, "segnet_lite", 0.125, (32, 48), data, epochs=2)
    assert frame_accuracy.main(["--ckpt", str(checkpoint), "--data", str(data), "--threads", "1"]) == 0
    printed = capsys.readouterr().out
    table = {cells[0]: cells for cells in ([c.strip() for c in line.strip("|").split("|")]
                                           for line in printed.splitlines() if line.startswith(("| host", "| graph")))}
    assert list(table) == ["host + nearest", "host + linear", "graph linear + nearest", "graph linear + linear",
                           "graph area + nearest", "graph area + linear"]
    assert all(0 <= float(cells[3]) <= 100 for cells in table.values())
    assert float(table["graph area + nearest"][6]) >= 99.0  # the host's own resize, in float
    for variant in ("graph linear + nearest", "graph area + nearest", "graph area + linear"):
        assert float(table[variant][7]) >= 99.9, variant  # the host path with the graph's resize: the same maps
    assert "command: `python -m segnet.benchmarks.scripts.frame_accuracy" in printed and "0 (in graph)" in printed


def test_frame_bench_compares_both_paths_and_sources_and_the_ceiling(tmp_path, capsys):
    pytest.importorskip("onnx")
    from segnet.benchmarks.scripts import frame_bench

    out = tmp_path / "frame_bench"
    assert frame_bench.main(["--tiny", "--sizes", "72x128", "--network", "36x48", "--frames", "12", "--rounds", "2",
                             "--ceiling-frames", "200", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert ("| 128x72 frames, median of 2 rounds | file -> video: host | file -> video: in-graph | in-graph / host | "
            "live -> null: host | live -> null: in-graph | in-graph / host |") in printed
    for row in ("| **host work outside the backend**", "| **backend call**", "| **end-to-end FPS**",
                "| CPU ms per frame, all pipeline threads |", "| 128x72 | ", "| target (from the issue) |",
                "command: `python -m segnet.benchmarks.scripts.frame_bench --tiny", "machine: "):
        assert row in printed
    assert (out / "frame_bench.md").read_text() == printed
    doc = json.loads((out / "frame_bench.json").read_text())
    size, = doc["sizes"]
    assert size["size"] == [72, 128] and size["rounds"][1]["order"] == size["rounds"][0]["order"][::-1]
    assert set(size["variants"]) == {"file/host", "file/graph", "live/host", "live/graph"}
    for r in size["rounds"]:
        assert r["file/host"]["frames_out"] == r["file/graph"]["frames_out"] == 12
        assert all(r[f"live/{p}"]["frames_out"] + r[f"live/{p}"]["dropped"] == 12 for p in ("host", "graph"))
        assert all(r[v]["fps"] > 0 and r[v]["cpu_ms"]["total"] > 0 for v in size["variants"])
    for source in ("file", "live"):  # medians of p50s: the host's per-pixel work is gone on the in-graph path
        host, graph = size["variants"][f"{source}/host"], size["variants"][f"{source}/graph"]
        assert graph["host_p50_ms"] < host["host_p50_ms"] and graph["p50:render"] < host["p50:render"]
    ceiling, = doc["ceiling"]
    assert ceiling["frames"] == 200 and all(ceiling["paths"][p]["fps"] > 0 for p in ("host", "graph"))
    assert ceiling["paths"]["graph"]["host_p50_ms"] < ceiling["paths"]["host"]["host_p50_ms"]
    assert [t["met"] for t in doc["targets"]] == [None, None]  # no 1280x720 frames at this size
