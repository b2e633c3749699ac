"""`segnet train --recipe`: a named recipe's options are the starting point, flags given on the command line win."""

from __future__ import annotations

import pytest

pytest.importorskip("torch")

from segnet.cli import build_parser, main
from segnet.cli.commands import train as train_command
from segnet.train.config import TrainConfig
from segnet.train.recipes import RECIPES, as_arguments, recipe


def _config(argv: list[str], monkeypatch) -> TrainConfig:
    """The TrainConfig `segnet train ARGV` would start (training itself replaced by capturing it)."""
    seen = []
    monkeypatch.setattr("segnet.train.trainer.train", lambda config, resume=None: seen.append(config))
    assert main(["train", *argv]) == 0
    return seen[0]


@pytest.mark.parametrize("name", sorted(RECIPES))
def test_recipe_options_become_the_config_and_flags_win(name, monkeypatch, tmp_path):
    config = _config(["--recipe", name, "--data", "d", "--out", str(tmp_path / "a")], monkeypatch)
    for key, value in recipe(name).items():
        assert getattr(config, key) == (tuple(value) if isinstance(value, list) else value), key
    changed = _config(["--recipe", name, "--data", "d", "--out", str(tmp_path / "b"), "--epochs", "3",
                       "--imgsz", "64", "96"], monkeypatch)
    assert changed.epochs == 3 and changed.imgsz == (64, 96) and changed.model == config.model


@pytest.mark.parametrize("name", sorted(RECIPES))
def test_recipe_spelled_as_flags_gives_the_same_config(name):
    """as_arguments is what docs and reports print: those flags must mean the recipe."""
    args = build_parser().parse_args(["train", "--data", "d", *as_arguments(recipe(name))])
    assert TrainConfig(**train_command._given(args)) == TrainConfig(data="d", **recipe(name))


def test_recipe_mistakes_are_one_line_errors(capsys, tmp_path):
    with pytest.raises(SystemExit):
        main(["train", "--recipe", "imagenet-gpu", "--data", "d"])
    assert "invalid choice: 'imagenet-gpu'" in capsys.readouterr().err
    assert main(["train", "--recipe", "camvid-cpu", "--resume", str(tmp_path / "last.pt")]) == 2
    assert "--recipe starts a run" in capsys.readouterr().err
