"""`segnet train` / `segnet evaluate` end to end on tiny synthetic road scenes: learning, exact resume,
Ctrl+C, outputs, evaluation JSON, and the torch-free evaluation loop."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
import torch

from segnet.cli import main
from segnet.data import open_dataset
from segnet.data.synthetic import generate_dataset
from segnet.train.trainer import Trainer

TINY = ["--imgsz", "32", "48", "--width", "0.125", "--batch", "4", "--optimizer", "adamw", "--lr", "0.01"]


@pytest.fixture(scope="module")
def tiny_data(tmp_path_factory):
    root = tmp_path_factory.mktemp("synth_tiny")
    generate_dataset(root, 12, 4, 0, size=(32, 48), seed=1)
    return root


@pytest.fixture(scope="module")
def straight_run(tiny_data, tmp_path_factory):
    """Two uninterrupted epochs: the reference the resumed runs must reproduce bit for bit."""
    out = tmp_path_factory.mktemp("straight")
    assert main(["train", "--data", str(tiny_data), *TINY, "--epochs", "2", "--workers", "0", "--out", str(out)]) == 0
    return out


def _history(path):
    return [{k: v for k, v in row.items() if k != "epoch_time_s"}
            for row in torch.load(path, weights_only=True)["metrics"]["history"]]


def _assert_same_training_state(a_path, b_path):
    a, b = torch.load(a_path, weights_only=True), torch.load(b_path, weights_only=True)
    assert a["epoch"] == b["epoch"] == 2
    assert a["model"].keys() == b["model"].keys()
    for key in a["model"]:
        assert torch.equal(a["model"][key], b["model"][key]), key
    for index, state in a["optimizer"]["state"].items():
        for name, value in state.items():
            assert torch.equal(torch.as_tensor(value), torch.as_tensor(b["optimizer"]["state"][index][name])), name
    assert a["scheduler"]["last_epoch"] == b["scheduler"]["last_epoch"]
    assert _history(a_path) == _history(b_path)


def test_run_writes_checkpoints_logs_and_plots(straight_run):
    for name in ("best.pt", "last.pt", "metrics.jsonl", "metrics.csv", "curves.png", "predictions.png"):
        assert (straight_run / name).stat().st_size > 0, name
    rows = [json.loads(line) for line in (straight_run / "metrics.jsonl").read_text().splitlines()]
    assert [row["epoch"] for row in rows] == [1, 2]
    assert {"train_loss", "lr", "global_acc", "class_avg_acc", "miou", "per_class_iou"} <= set(rows[0])
    csv_lines = (straight_run / "metrics.csv").read_text().splitlines()
    assert csv_lines[0].startswith("epoch,train_loss,lr,global_acc") and len(csv_lines) == 3
    spec = torch.load(straight_run / "best.pt", weights_only=True)["spec"]
    assert spec["arch"] == "segnet_lite" and spec["arch_args"]["width"] == 0.125
    assert spec["input_size"] == [32, 48] and spec["class_names"][:2] == ["sky", "building"]
    assert spec["provenance"]["epochs"] >= 1 and "miou" in spec["provenance"]["val_metrics"]


def test_resume_can_extend_a_finished_run(tiny_data, tmp_path, capsys):
    out = tmp_path / "extended"
    assert main(["train", "--data", str(tiny_data), *TINY, "--epochs", "1", "--workers", "0", "--out", str(out)]) == 0
    assert main(["train", "--resume", str(out / "last.pt"), "--epochs", "2"]) == 0
    assert "resume: epochs: 1 -> 2" in capsys.readouterr().out
    last = torch.load(out / "last.pt", weights_only=True)
    assert last["epoch"] == 2 and last["config"]["epochs"] == 2 and len(last["metrics"]["history"]) == 2
    assert [json.loads(line)["epoch"] for line in (out / "metrics.jsonl").read_text().splitlines()] == [1, 2]


def _interrupt_second_epoch(monkeypatch):
    """Make Trainer.train_epoch raise KeyboardInterrupt at epoch index 1; returns the real method."""
    real_epoch = Trainer.train_epoch

    def interrupt_second_epoch(self, *args, **kwargs):
        if args[-1] == 1:  # the epoch index
            raise KeyboardInterrupt
        return real_epoch(self, *args, **kwargs)

    monkeypatch.setattr(Trainer, "train_epoch", interrupt_second_epoch)
    return real_epoch


def test_interrupted_and_resumed_run_equals_uninterrupted_bit_for_bit(tiny_data, straight_run, tmp_path,
                                                                           monkeypatch, capsys):
    out = tmp_path / "interrupted"
    real_epoch = _interrupt_second_epoch(monkeypatch)
    assert main(["train", "--data", str(tiny_data), *TINY, "--epochs", "2", "--workers", "0", "--out", str(out)]) == 130
    assert f"segnet train --resume {out / 'last.pt'}" in capsys.readouterr().err
    assert torch.load(out / "last.pt", weights_only=True)["epoch"] == 1
    monkeypatch.setattr(Trainer, "train_epoch", real_epoch)
    # --resume without a value means OUT/last.pt; a data-loading worker now: batches must not depend on it
    assert main(["train", "--resume", "--out", str(out), "--workers", "1"]) == 0
    _assert_same_training_state(straight_run / "last.pt", out / "last.pt")


def test_user_mistakes_are_one_line_errors(tiny_data, straight_run, tmp_path, capsys):
    assert main(["train", "--data", str(tiny_data), "--out", str(straight_run)]) == 2
    assert "already holds a training run" in capsys.readouterr().err
    assert main(["train", "--resume", str(straight_run / "last.pt"), "--lr", "0.5"]) == 2
    assert "--lr 0.5 differs" in capsys.readouterr().err
    assert main(["train", "--resume", str(straight_run / "best.pt")]) == 2
    assert "resume from last.pt" in capsys.readouterr().err
    assert main(["train", "--data", str(tmp_path / "nowhere"), "--out", str(tmp_path / "o")]) == 2
    assert "nowhere" in capsys.readouterr().err
    garbage = tmp_path / "garbage.pt"
    garbage.write_text("not a checkpoint\n")
    assert main(["evaluate", str(garbage), "--data", str(tiny_data)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "garbage.pt: not a segnet checkpoint" in err


def test_evaluate_cli_json_matches_training_validation(tiny_data, straight_run, tmp_path, capsys):
    out = tmp_path / "eval.json"
    assert main(["evaluate", str(straight_run / "best.pt"), "--data", str(tiny_data), "--split", "val",
                 "--json", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "mIoU" in printed and "road" in printed
    report = json.loads(out.read_text())
    assert report["split"] == "val" and report["images"] == 4 and report["input_size"] == [32, 48]
    rows = [json.loads(line) for line in (straight_run / "metrics.jsonl").read_text().splitlines()]
    best = max(rows, key=lambda row: row["miou"])
    assert report["miou"] == pytest.approx(best["miou"], abs=1e-12)
    assert report["global_acc"] == pytest.approx(best["global_acc"], abs=1e-12)
    assert main(["evaluate", str(straight_run / "best.pt"), "--data", str(tiny_data), "--json", "-"]) == 0
    assert json.loads(capsys.readouterr().out)["miou"] == report["miou"]


def test_evaluate_writes_its_json_file_before_printing(tiny_data, straight_run, tmp_path, monkeypatch):
    """`segnet evaluate ... --json F | head -1`: the reader closing stdout early must not cost the file."""
    import io

    class ClosedPipe(io.StringIO):
        def write(self, text: str) -> int:
            raise BrokenPipeError

    out = tmp_path / "eval.json"
    monkeypatch.setattr("sys.stdout", ClosedPipe())
    with pytest.raises(BrokenPipeError):
        main(["evaluate", str(straight_run / "best.pt"), "--data", str(tiny_data), "--json", str(out)])
    assert json.loads(out.read_text())["images"] == 4


def test_exported_onnx_scores_like_its_checkpoint(tiny_data, straight_run, tmp_path, capsys):
    """The same evaluation code through the torch-free runtime: an ONNX export must score like the .pt."""
    pytest.importorskip("onnxruntime")
    from segnet.export.onnx_export import export_onnx

    onnx_path = export_onnx(straight_run / "best.pt", tmp_path / "model.onnx")
    scores = []
    for model in (straight_run / "best.pt", onnx_path):
        assert main(["evaluate", str(model), "--data", str(tiny_data), "--json", "-"]) == 0
        scores.append(json.loads(capsys.readouterr().out))
    assert scores[0]["pixels"] == scores[1]["pixels"] > 0
    assert scores[1]["global_acc"] == pytest.approx(scores[0]["global_acc"], abs=1e-3)
    assert scores[1]["miou"] == pytest.approx(scores[0]["miou"], abs=1e-3)


def _chance_miou(dataset) -> float:
    """Expected mIoU of guessing every label uniformly at random, from the labels' pixel shares."""
    counts = np.zeros(dataset.num_classes)
    for i in range(len(dataset)):
        counts += np.bincount(dataset.load_mask(i).ravel(), minlength=dataset.num_classes)[:dataset.num_classes]
    share, k = counts / counts.sum(), dataset.num_classes
    return float(np.mean((share / k) / (share + 1 / k - share / k)))


def test_training_from_the_cli_learns_synthetic_scenes(tmp_path):
    data = tmp_path / "synth"
    generate_dataset(data, 32, 8, 0, size=(48, 64), seed=0)
    out = tmp_path / "run"
    assert main(["train", "--data", str(data), "--imgsz", "48", "64", "--width", "0.25", "--batch", "8",
                 "--optimizer", "adamw", "--lr", "0.005", "--epochs", "8", "--workers", "0", "--out", str(out)]) == 0
    chance = _chance_miou(open_dataset(data, "val"))
    best = torch.load(out / "best.pt", weights_only=True)["spec"]["provenance"]["val_metrics"]["miou"]
    # measured here (same seed): chance 0.053, best val mIoU 0.302 after 8 epochs (5.7x chance)
    assert best > 3 * chance, (best, chance)


BLOCK_TORCH = (
    "import sys, importlib.abc\n"
    "class Block(importlib.abc.MetaPathFinder):\n"
    "    def find_spec(self, name, path, target=None):\n"
    "        if name == 'torch' or name.startswith('torch.'):\n"
    "            raise ImportError('torch is blocked')\n"
    "sys.meta_path.insert(0, Block())\n"
)

EVALUATE_WITHOUT_TORCH = """
import json, numpy as np
from segnet.data import open_dataset
from segnet.evaluate import evaluate_predictor
from segnet.spec import ModelSpec
ds = open_dataset(sys.argv[1], 'val')
spec = ModelSpec(arch='any', num_classes=ds.num_classes, input_size=(16, 24), ignore_index=ds.ignore_index)
road = ds.class_names.index('road')
m = evaluate_predictor(lambda images: np.full(images.shape[:3], road, np.uint8), ds, spec, batch_size=3)
masks = np.concatenate([ds.load_mask(i).ravel() for i in range(len(ds))])
print(json.dumps({'acc': m['global_acc'], 'expected': float(np.mean(masks == road)), 'miou': m['miou'],
                  'iou_road': m['per_class_iou'][road], 'torch': 'torch' in sys.modules}))
"""


def test_evaluation_loop_is_torch_free_and_exact(tiny_data):
    result = subprocess.run([sys.executable, "-c", BLOCK_TORCH + EVALUATE_WITHOUT_TORCH, str(tiny_data)],
                            capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert not report["torch"]
    # predicting "road" everywhere: global accuracy = road's pixel share, IoU(road) = that share too
    assert report["acc"] == pytest.approx(report["expected"]) and report["iou_road"] == pytest.approx(report["expected"])
    assert 0 < report["acc"] < 1


def test_val_groups_hold_whole_sequences_out_and_the_default_split_warns(tmp_path, capsys):
    from tests.test_groups import _sequences

    root = _sequences(tmp_path / "data", {"seqA": 4, "seqB": 4}, {"seqB": 2})
    assert main(["train", "--data", str(root), *TINY, "--epochs", "1", "--workers", "0", "--out",
                 str(tmp_path / "plain")]) == 0
    assert "val images share prefix groups with the training images (seqB: 4 train / 2 val)" in capsys.readouterr().out
    assert main(["train", "--data", str(root), *TINY, "--epochs", "1", "--workers", "0", "--val-groups", "seqB",
                 "--out", str(tmp_path / "held")]) == 0
    out = capsys.readouterr().out
    assert "val: groups seqB held out (6 images; 4 train images" in out and "warning" not in out
    saved = torch.load(tmp_path / "held" / "best.pt", weights_only=True)
    assert saved["config"]["val_groups"] == "seqB"


def test_ema_is_a_side_average_that_is_scored_saved_and_resumed(tiny_data, straight_run, tmp_path, monkeypatch,
                                                                 capsys):
    ema = ["--data", str(tiny_data), *TINY, "--epochs", "2", "--workers", "0", "--ema", "0.9"]
    straight = tmp_path / "ema"
    assert main(["train", *ema, "--out", str(straight)]) == 0
    plain, last = (torch.load(p / "last.pt", weights_only=True) for p in (straight_run, straight))
    # the average never feeds back: training itself is the plain run's, bit for bit
    assert all(torch.equal(plain["model"][k], last["train_model"][k]) for k in plain["model"])
    assert [r["train_loss"] for r in _history(straight_run / "last.pt")] == [
        r["train_loss"] for r in _history(straight / "last.pt")]
    assert not torch.equal(last["model"]["head.weight"], last["train_model"]["head.weight"])
    steps = plain["scheduler"]["last_epoch"]
    assert last["ema_updates"] == steps and last["spec"]["provenance"]["recipe"]["ema"] == 0.9
    # the checkpoint's model is the average, and it is what the val metrics were measured on
    report = tmp_path / "eval.json"
    assert main(["evaluate", str(straight / "last.pt"), "--data", str(tiny_data), "--split", "val",
                 "--json", str(report)]) == 0
    assert json.loads(report.read_text())["miou"] == pytest.approx(_history(straight / "last.pt")[-1]["miou"],
                                                                    abs=1e-12)
    # interrupted after epoch 1 and resumed: the same average, weights and counts as the straight run
    resumed = tmp_path / "ema_resumed"
    real_epoch = _interrupt_second_epoch(monkeypatch)
    assert main(["train", *ema, "--out", str(resumed)]) == 130
    monkeypatch.setattr(Trainer, "train_epoch", real_epoch)
    assert main(["train", "--resume", str(resumed / "last.pt")]) == 0
    again = torch.load(resumed / "last.pt", weights_only=True)
    for part in ("model", "train_model"):
        assert all(torch.equal(last[part][k], again[part][k]) for k in last[part]), part
    assert again["ema_updates"] == steps and _history(straight / "last.pt") == _history(resumed / "last.pt")
