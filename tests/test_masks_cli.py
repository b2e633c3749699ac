"""Colour and one-hot masks through the commands: segnet train, evaluate, export --calib, bench --data score
the same as with the index masks they were converted from."""

from __future__ import annotations

import json

import pytest
from mask_helpers import convert_dataset

from segnet.cli import main
from segnet.data.synthetic import CLASS_NAMES, PALETTE, generate_dataset

TINY = ["--imgsz", "32", "48", "--width", "0.125", "--batch", "4", "--optimizer", "adamw", "--lr", "0.01",
        "--workers", "0"]
FAST = ["--warmup", "1", "--iterations", "3", "--min-time", "0", "--peak-time", "0", "--threads", "1"]


@pytest.fixture(scope="module")
def datasets(tmp_path_factory):
    """The same synthetic scenes with index masks, colour masks and one-hot .npy masks."""
    root = tmp_path_factory.mktemp("mask_forms")
    generate_dataset(root / "index", 8, 4, 0, size=(32, 48), seed=3)
    forms = {"index": root / "index"}
    for form in ("color", "npy"):
        forms[form] = convert_dataset(root / "index", root / form, form, CLASS_NAMES, PALETTE)
    return forms


@pytest.fixture(scope="module", autouse=True)
def cache_home(tmp_path_factory):
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("SEGNET_CACHE", str(tmp_path_factory.mktemp("cache")))
        yield


@pytest.fixture(scope="module")
def colour_run(datasets, tmp_path_factory):
    out = tmp_path_factory.mktemp("colour_run")
    assert main(["train", "--data", str(datasets["color"]), *TINY, "--epochs", "1", "--out", str(out)]) == 0
    return out


def evaluate_json(capsys, model, data, *extra) -> dict:
    capsys.readouterr()
    assert main(["evaluate", str(model), "--data", str(data), "--json", "-", *extra]) == 0
    return json.loads(capsys.readouterr().out)


def test_train_on_colour_masks_and_evaluate_every_form_alike(colour_run, datasets, capsys):
    checkpoint = colour_run / "best.pt"
    scores = {form: evaluate_json(capsys, checkpoint, root) for form, root in datasets.items()}
    for form in ("color", "npy"):
        for key in ("miou", "global_acc", "class_avg_acc", "per_class_iou", "pixels"):
            assert scores[form][key] == scores["index"][key], (form, key)
    assert scores["index"]["class_names"] == CLASS_NAMES


def test_train_resume_keeps_the_mask_options(datasets, tmp_path):
    out = tmp_path / "run"
    assert main(["train", "--data", str(datasets["npy"]), *TINY, "--epochs", "1", "--mask-overlap", "first",
                 "--out", str(out)]) == 0
    assert main(["train", "--resume", str(out / "last.pt"), "--epochs", "2", "--mask-overlap", "error"]) == 2
    assert main(["train", "--resume", str(out / "last.pt"), "--epochs", "2",
                 "--mask-cache", str(tmp_path / "cache")]) == 0
    assert list((tmp_path / "cache").rglob("*.npy"))


def test_export_calibrates_and_reports_on_colour_masks(colour_run, datasets, tmp_path, capsys):
    out = tmp_path / "m.onnx"
    assert main(["export", str(colour_run / "best.pt"), "-o", str(out), "--int8", "--calib", str(datasets["color"]),
                 "--calib-images", "2", "--eval-images", "2", "--skip-rewrite-check"]) == 0
    printed = capsys.readouterr().out
    assert "INT8 vs FP32 on" in printed and "not measured" not in printed, printed


def test_bench_scores_colour_masks_like_index_masks(colour_run, datasets, tmp_path, capsys):
    assert main(["export", str(colour_run / "best.pt"), "-o", str(tmp_path / "m.onnx"), "--skip-rewrite-check"]) == 0
    miou = {}
    for form in ("index", "color"):  # (one-hot reads like colour: the evaluate test above compares all three)
        root, out = datasets[form], tmp_path / f"bench_{form}"
        assert main(["bench", str(tmp_path / "m.onnx"), "--formats", "onnx", "--data", str(root), "--out", str(out),
                     *FAST]) == 0
        miou[form] = json.loads((out / "results.json").read_text())["formats"][0]["miou"]
    assert miou["index"] is not None and miou["color"] == miou["index"]
