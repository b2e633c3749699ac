"""benchmarks/scripts/recipe_search: settings trained on held-out sequences, finished runs reused, other runs'
folders refused, and the table built from each run's last epoch."""

from __future__ import annotations

import json

import pytest

pytest.importorskip("torch")

from test_groups import _sequences

from segnet.benchmarks.scripts import recipe_search
from segnet.train import recipes

TINY = {"format": "folder", "model": "segnet_lite", "width": 0.25, "imgsz": (24, 32), "epochs": 2, "batch": 4,
        "optimizer": "adamw", "lr": 0.003, "class_weights": "median", "workers": 0, "seed": 0}


@pytest.fixture
def tiny_search(tmp_path, monkeypatch):
    monkeypatch.setitem(recipes.RECIPES, recipe_search.BASE, TINY)
    monkeypatch.setattr(recipe_search, "SCHEDULE", {})
    monkeypatch.setattr(recipe_search, "SETTINGS", {"baseline": ("the base", {}),
                                                    "smooth": ("label smoothing", {"label_smoothing": 0.2})})
    return _sequences(tmp_path / "data", {"seqA": 4, "seqB": 3}, {"seqA": 2}), tmp_path / "runs"


def test_settings_train_on_other_sequences_and_the_table_reads_their_last_epoch(tiny_search, tmp_path, capsys,
                                                                                 monkeypatch):
    data, runs = tiny_search
    argv = ["--data", str(data), "--runs", str(runs), "--folds", "seqB", "--out", str(tmp_path / "out")]
    assert recipe_search.main(argv) == 0
    rows = json.loads((tmp_path / "out" / "recipe_search.json").read_text())
    assert [r["setting"] for r in rows] == ["baseline", "smooth"] and all(r["epochs"] == 2 for r in rows)
    history = [json.loads(line) for line in (runs / "seqB" / "smooth" / "metrics.jsonl").read_text().splitlines()]
    assert rows[1]["miou"] == pytest.approx(100 * history[-1]["miou"])  # the last epoch, not the best
    assert rows[1]["iou_road"] == pytest.approx(100 * history[-1]["per_class_iou"][2])
    table = capsys.readouterr().out
    assert "| smooth | label smoothing | seqB | 24x32 |" in table and f"{rows[1]['miou'] - rows[0]['miou']:+.2f}" in table
    # a second call reuses the finished runs instead of training again, also a run saved before an option
    # existed (it takes the option's default, which reproduces the older behaviour)
    import torch

    last = runs / "seqB" / "smooth" / "last.pt"
    checkpoint = torch.load(last, weights_only=True)
    del checkpoint["config"]["aug_blur"]
    torch.save(checkpoint, last)
    monkeypatch.setattr("segnet.train.trainer.train", lambda *a, **k: pytest.fail("trained again"))
    assert recipe_search.main(argv) == 0
    assert json.loads((tmp_path / "out" / "recipe_search.json").read_text()) == rows


def test_a_folder_holding_a_run_of_other_options_is_refused_not_overwritten(tiny_search, capsys, monkeypatch):
    data, runs = tiny_search
    assert recipe_search.main(["--data", str(data), "--runs", str(runs), "--folds", "seqB",
                               "--settings", "baseline"]) == 0
    before = (runs / "seqB" / "baseline" / "last.pt").read_bytes()
    monkeypatch.setitem(recipe_search.SETTINGS, "baseline", ("changed", {"epochs": 3}))
    assert recipe_search.main(["--data", str(data), "--runs", str(runs), "--folds", "seqB",
                               "--settings", "baseline"]) == 2
    assert "holds a run of other options" in capsys.readouterr().err
    assert (runs / "seqB" / "baseline" / "last.pt").read_bytes() == before
    assert recipe_search.main(["--data", str(data), "--settings", "nope", "--list"]) == 2


def test_rotating_the_held_out_fold_adds_each_settings_mean_over_the_folds(tiny_search, tmp_path, capsys):
    data, runs = tiny_search
    argv = ["--data", str(data), "--runs", str(runs), "--folds", "seqA,seqB", "--out", str(tmp_path / "out")]
    assert recipe_search.main(argv) == 0
    rows = json.loads((tmp_path / "out" / "recipe_search.json").read_text())
    assert [(r["setting"], r["fold"]) for r in rows] == [("baseline", "seqA"), ("smooth", "seqA"),
                                                          ("baseline", "seqB"), ("smooth", "seqB")]
    mean = {s: (rows[i]["miou"] + rows[i + 2]["miou"]) / 2 for i, s in enumerate(["baseline", "smooth"])}
    out = capsys.readouterr().out
    assert "| setting | seqA held out | seqB held out | mean | vs baseline |" in out
    assert (f"| smooth | {rows[1]['miou']:.2f} | {rows[3]['miou']:.2f} | {mean['smooth']:.2f} | "
            f"{mean['smooth'] - mean['baseline']:+.2f} |") in out
    # a setting missing a fold gets no mean rather than one over fewer folds
    partial = recipe_search.rotation(rows[:3])
    assert "| smooth | " + f"{rows[1]['miou']:.2f} | - | - | - |" in partial


def test_the_adopted_recipe_is_the_setting_that_won():
    """docs/training.md says camvid-cpu is the search's ema995 setting: the rows measured at SCHEDULE (30 epochs,
    no weight average) stay reproducible after the recipe moved on."""
    assert recipe_search.setting_options("ema995") == recipes.recipe(recipe_search.BASE)
    base = recipes.recipe(recipe_search.BASE)
    assert recipe_search.setting_options("baseline") == {**base, "epochs": 30, "ema": 0.0}
    assert recipe_search.setting_options("epochs60_seed1") == {**base, "ema": 0.0, "seed": 1}
