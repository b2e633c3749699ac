"""Honest validation: whole groups (sequences) held out of training, and the warnings when val images
share groups with, or nearly duplicate, training images."""

from __future__ import annotations

import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest

from segnet.data import groups, open_dataset
from segnet.data.synthetic import generate_dataset
from segnet.errors import DataError


def _sequences(root: Path, train: dict[str, int], val: dict[str, int]) -> Path:
    """A folder dataset whose files are named SEQ_NNNN like CamVid's, from synthetic scenes."""
    generate_dataset(root / "src", sum(train.values()), sum(val.values()), 0, size=(24, 32), seed=3)
    for split, seqs in (("train", train), ("val", val)):
        names = iter(sorted((root / "src" / split / "images").iterdir()))
        for folder in ("images", "masks"):
            (root / split / folder).mkdir(parents=True, exist_ok=True)
        for seq, count in seqs.items():
            for i in range(count):
                src = next(names)
                for folder in ("images", "masks"):
                    shutil.copy(root / "src" / split / folder / src.name, root / split / folder / f"{seq}_{i:04d}.png")
    shutil.copy(root / "src" / "classes.json", root / "classes.json")
    shutil.rmtree(root / "src")
    return root


def test_group_rules():
    assert groups.group_of(Path("camvid/train/0001TP_006690.png")) == "0001TP"
    assert groups.group_of(Path("frames/00012.png")) == ""  # no '_': no group
    assert groups.group_of(Path("drive_a/00012.png"), "folder") == "drive_a"
    with pytest.raises(DataError, match="unknown group rule 'date'"):
        groups.group_of(Path("a_b.png"), "date")


def test_hold_out_takes_whole_groups_of_train_and_val(tmp_path):
    root = _sequences(tmp_path, {"seqA": 3, "seqB": 2}, {"seqB": 2})
    pool = groups.concat(open_dataset(root, "train"), open_dataset(root, "val"))
    train, val = groups.hold_out(pool, ["seqB"])
    assert {groups.group_of(p) for p in val.image_paths} == {"seqB"} and len(val) == 4
    assert {groups.group_of(p) for p in train.image_paths} == {"seqA"} and len(train) == 3
    assert train[0][1].shape == (24, 32)  # still a dataset: masks read as before
    with pytest.raises(DataError, match=r"no images of group seqC.*seqA \(3\), seqB \(4\)"):
        groups.hold_out(pool, ["seqC"])
    with pytest.raises(DataError, match="leaves nothing to train on"):
        groups.hold_out(pool, ["seqA", "seqB"])


def test_shared_groups_are_warned_about_and_disjoint_ones_are_not(tmp_path):
    shared = _sequences(tmp_path / "shared", {"seqA": 3, "seqB": 2}, {"seqB": 2})
    (warning,) = groups.leakage_warnings(open_dataset(shared, "train"), open_dataset(shared, "val"))
    assert "seqB: 2 train / 2 val" in warning and "--val-groups" in warning
    disjoint = _sequences(tmp_path / "disjoint", {"seqA": 3, "seqB": 2}, {"seqC": 2})
    assert groups.leakage_warnings(open_dataset(disjoint, "train"), open_dataset(disjoint, "val")) == []


def test_near_duplicate_frames_are_counted(tmp_path):
    root = _sequences(tmp_path, {"a": 4}, {"b": 3})
    train, val = open_dataset(root, "train"), open_dataset(root, "val")
    assert groups.near_duplicates(train, val) == 0  # different scenes
    # a val frame that is a training frame with sensor noise and a brightness change: a near-duplicate
    image = cv2.imread(str(train.image_paths[1])).astype(np.int16)
    noisy = np.clip(image * 0.8 + 20 + np.random.default_rng(0).integers(-3, 4, image.shape), 0, 255)
    cv2.imwrite(str(val.image_paths[0]), noisy.astype(np.uint8))
    assert groups.near_duplicates(train, val) == 1
    assert any("1 val images are near-duplicates" in w for w in groups.leakage_warnings(train, val))


def test_camvid_val_shares_its_sequence_with_train(camvid_root):
    train, val = open_dataset(camvid_root, "train"), open_dataset(camvid_root, "val")
    assert groups.group_counts(train) == {"0001TP": 62, "0006R0": 101, "0016E5": 204}
    assert groups.group_counts(val) == {"0016E5": 101}
    warnings = groups.leakage_warnings(train, val)
    assert len(warnings) == 1 and "0016E5: 204 train / 101 val" in warnings[0]
    held_train, held_val = groups.hold_out(groups.concat(train, val), ["0006R0"])
    assert len(held_val) == 101 and len(held_train) == 367 + 101 - 101


def test_select_keeps_only_the_named_groups(tmp_path):
    root = _sequences(tmp_path, {"seqA": 3, "seqB": 2}, {"seqC": 2})
    train = open_dataset(root, "train")
    only_b = groups.select(train, ["seqB"])
    assert [groups.group_of(p) for p in only_b.image_paths] == ["seqB", "seqB"] and only_b.split == "train:seqB"
    assert only_b[1][0].shape[:2] == (24, 32)
    with pytest.raises(DataError, match=r"no images of group seqC \(by prefix\) in train"):
        groups.select(train, ["seqC"])


def test_evaluate_scores_one_held_out_group(tmp_path, capsys):
    """`segnet evaluate --groups`: the scored images are that sequence's, and the report says so."""
    import json

    from segnet.cli import main

    pytest.importorskip("torch")
    root = _sequences(tmp_path / "data", {"seqA": 4, "seqB": 3}, {"seqA": 2})
    out = tmp_path / "run"
    assert main(["train", "--data", str(root), "--val-groups", "seqB", "--imgsz", "24", "32", "--epochs", "1",
                 "--batch", "4", "--workers", "0", "--out", str(out)]) == 0
    capsys.readouterr()
    assert main(["evaluate", str(out / "best.pt"), "--data", str(root), "--split", "train", "--groups", "seqB",
                 "--json", "-"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["split"] == "train:seqB" and report["images"] == 3
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert report["miou"] == pytest.approx(rows[-1]["miou"], abs=1e-12)  # the run's own held-out score
    assert main(["evaluate", str(out / "best.pt"), "--data", str(root), "--groups", "seqZ"]) == 2
    err = capsys.readouterr().err
    assert "no images of group seqZ" in err and "seqA (2)" in err
