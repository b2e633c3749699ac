"""docs/paper-recipe.md's commands stay valid: every `segnet` line parses, and the training ones make a
TrainConfig with the paper's optimiser, schedule and class weights (running them needs a GPU and hours)."""

from __future__ import annotations

import shlex
from pathlib import Path

from segnet.cli import build_parser
from segnet.cli.commands.train import _given
from segnet.data.camvid import CLASS_WEIGHTS
from segnet.train.config import TrainConfig

DOC = Path(__file__).resolve().parents[1] / "docs" / "paper-recipe.md"


def commands() -> list[list[str]]:
    block = DOC.read_text(encoding="utf-8").split("```bash", 1)[1].split("```", 1)[0]
    lines = block.replace("\\\n", " ").splitlines()
    return [shlex.split(line)[1:] for line in lines if line.startswith("segnet ")]


def test_the_recipe_commands_parse_into_the_papers_setting():
    parsed = [build_parser().parse_args(argv) for argv in commands()]
    assert [a.command for a in parsed] == ["train", "train", "evaluate"]
    basic, vgg = (TrainConfig(**_given(a)) for a in parsed[:2])
    for config, model, lr in ((basic, "segnet_basic", 0.1), (vgg, "segnet_vgg16", 0.001)):
        assert (config.model, config.lr, config.optimizer, config.schedule) == (model, lr, "sgd", "none")
        assert (config.imgsz, config.momentum, config.weight_decay, config.batch) == ((360, 480), 0.9, 5e-4, 4)
        assert [float(w) for w in config.class_weights.split(",")] == list(CLASS_WEIGHTS) and not config.augment
    assert basic.epochs == round(10000 * 4 / 367)  # the solvers count iterations at batch 4
    assert vgg.epochs == round(40000 * 4 / 367) and vgg.vgg16_weights
